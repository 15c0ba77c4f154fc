"""Routing speed on the shipped 1,024-GPU topologies.

Prints, per topology: load time, and the time to route every pair of an 8-channel ring over all
GPUs (8 x 1,024 = 8,192 routes), once for rings in rank order (mostly NVLink neighbours, as
NCCL's rings) and once for rings whose neighbours are 24k+1 ranks apart (mostly inter-node,
distinct destinations: the worst case for the per-destination distance cache), under each ECMP
policy (``dmodk``, the default of these tree fabrics, and ``hash``). Fresh topology for each
measurement (cold caches). CPU time is process time, wall time is perf_counter.

    .venv/bin/python benchmarks/bench_routing.py
"""

from __future__ import annotations

import time

from simulator.topology import load_topology


def _ring_routes(name: str, stride: int, ecmp: str) -> tuple[float, float, int]:
    topo = load_topology(name)
    topo.set_ecmp(ecmp)
    n = topo.num_ranks
    w0, c0 = time.perf_counter(), time.process_time()
    count = 0
    for ch in range(8):
        step = 1 + ch * stride
        for i in range(n):
            topo.route(i, (i + step) % n, key=ch)
            count += 1
    return time.perf_counter() - w0, time.process_time() - c0, count


def main() -> None:
    for name in ("fat-tree-1024", "h100-superpod-1024", "dgx-a100-superpod"):
        w0 = time.perf_counter()
        load_topology(name)
        load_s = time.perf_counter() - w0
        print(f"{name}: load {load_s * 1e3:.0f} ms")
        for ecmp in ("dmodk", "hash"):
            for label, stride in (("ring, rank order", 0), ("ring, stride 24k+1", 24)):
                runs = [_ring_routes(name, stride, ecmp) for _ in range(3)]
                wall, cpu, count = min(runs, key=lambda r: r[1])
                print(
                    f"  {ecmp:5s} {label:20s} {count} routes: {wall * 1e3:6.0f} ms wall, "
                    f"{cpu * 1e3:6.0f} ms cpu (best of 3)"
                )


if __name__ == "__main__":
    main()
