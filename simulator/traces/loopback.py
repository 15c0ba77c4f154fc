"""Measure the loopback "network" the local recordings run on: a gloo all_reduce sweep.

``python -m simulator.traces.loopback [--world 2] [--iters 10]`` starts ``world`` local
processes (gloo over 127.0.0.1, one torch thread each) and prints one JSON object: per size the
median all_reduce time and the nccl-tests bus bandwidth ``busbw = size/t * 2(n-1)/n``, plus a
fitted per-collective latency (alpha) and bandwidth (beta) from a least-squares line
``t = alpha + size * 2(n-1)/n / bw`` over the sweep. ``topologies/loopback-*.yaml`` use it.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

from simulator.traces.record import free_port

SIZES_B = [2**k for k in range(12, 27, 2)]  # 4 KiB .. 64 MiB


def _rank_main(rank: int, world: int, port: int, iters: int, q: Any) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    rows = []
    for size in SIZES_B:
        t = torch.ones(size // 4, dtype=torch.float32)
        for _ in range(2):
            dist.all_reduce(t)
        times = []
        for _ in range(iters):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - t0)
        rows.append((size, statistics.median(times)))
    if rank == 0:
        q.put(rows)
    dist.destroy_process_group()


def measure(world: int = 2, iters: int = 10) -> dict[str, Any]:
    """Run the sweep; return sizes, times, busbw and the alpha-beta fit (SI units)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, iters, q)) for r in range(world)]
    for p in procs:
        p.start()
    rows = q.get(timeout=600)
    for p in procs:
        p.join(timeout=60)
    f = 2 * (world - 1) / world
    xs = [s * f for s, _ in rows]
    ys = [t for _, t in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return {
        "world": world,
        "iters": iters,
        "rows": [{"size_B": s, "time_s": t, "busbw_Bps": s * f / t} for s, t in rows],
        "fit_alpha_s": my - slope * mx,
        "fit_bandwidth_Bps": 1.0 / slope,
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    w = int(args[args.index("--world") + 1]) if "--world" in args else 2
    n = int(args[args.index("--iters") + 1]) if "--iters" in args else 10
    print(json.dumps(measure(w, n), indent=2))
