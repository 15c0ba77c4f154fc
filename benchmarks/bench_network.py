"""Speed of the network model (max-min solver and Fabric). Prints figures; asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_network.py [--repeat N]``

Times are CPU seconds of this process (``time.process_time``), best of ``--repeat`` runs (default
3): on a shared, loaded machine the best run is the least disturbed one.

Scenarios (synthetic, seeded; capacities are round numbers, not a product's spec):

1. ``solver``: :func:`max_min_rates` on 1,024 flows over a 2,000-link two-tier fabric.
2. ``burst``: the same 1,024 flows started at one timestamp in a :class:`Fabric`, simulated to
   completion; once with equal sizes (few distinct completion times) and once with log-normal
   sizes (about one completion instant per flow: the worst case for recomputation).
3. ``groups``: 100,000 flows in disjoint groups of 8 (one ring step of an 8-GPU node), 128 nodes
   each running its groups back to back: many small independent components over time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Generator

import numpy as np
import simpy

from simulator.network import Fabric, FlowSpec, max_min_rates

N_HOSTS = 512
N_CORE = 976  # 2 * 512 host links + 976 core links = 2,000 links
HOST_BPS = 50e9  # 400 Gb/s NIC, per direction (round figure)
CORE_BPS = 100e9


def two_tier(n_flows: int, seed: int, equal_sizes: bool) -> tuple[np.ndarray, list[FlowSpec]]:
    """Host uplinks ``0..511``, downlinks ``512..1023``, core links ``1024..1999``."""
    rng = np.random.default_rng(seed)
    cap = np.concatenate([np.full(2 * N_HOSTS, HOST_BPS), np.full(N_CORE, CORE_BPS)])
    src = rng.integers(0, N_HOSTS, n_flows)
    dst = (src + rng.integers(1, N_HOSTS, n_flows)) % N_HOSTS
    core = 2 * N_HOSTS + rng.integers(0, N_CORE, n_flows)
    if equal_sizes:
        sizes = np.full(n_flows, 64e6)
    else:
        sizes = np.exp(rng.normal(np.log(64e6), 1.0, n_flows))
    flows = [
        FlowSpec(
            (int(s), int(c), N_HOSTS + int(d)), float(z), latency_s=5e-6, src=int(s), dst=int(d)
        )
        for s, d, c, z in zip(src, dst, core, sizes, strict=True)
    ]
    return cap, flows


def bench_solver() -> None:
    cap, flows = two_tier(1024, seed=1, equal_sizes=False)
    links = [f.links for f in flows]
    times = []
    for _ in range(20):
        t0 = time.process_time()
        max_min_rates(links, cap)
        times.append(time.process_time() - t0)
    print(
        f"solver: max_min_rates 1,024 flows x 3 links over 2,000 links: "
        f"cpu {min(times) * 1e3:.2f} ms/call (best of 20; median {sorted(times)[10] * 1e3:.2f} ms)"
    )


def bench_burst(equal_sizes: bool) -> str:
    cap, flows = two_tier(1024, seed=2, equal_sizes=equal_sizes)
    env = simpy.Environment()
    fabric = Fabric(env, cap, record=True)
    fabric.start_many(flows)
    env.run()
    label = "equal sizes" if equal_sizes else "log-normal sizes"
    return (
        f"burst ({label}): 1,024 flows, 2,000 links: {{cpu}}, "
        f"simulated {env.now * 1e3:.3f} ms, settles {fabric.settles}, "
        f"recomputes {fabric.recomputes}, records {len(fabric.records)}"
    )


def bench_groups(n_flows: int = 100_000, n_nodes: int = 128) -> str:
    link_Bps = 150e9  # NVLink-class per-direction figure, round number
    cap = np.full(n_nodes * 16, link_Bps)
    env = simpy.Environment()
    fabric = Fabric(env, cap, record=True)
    groups = n_flows // 8

    def node(n: int, count: int) -> Generator[simpy.Event, object, None]:
        up = [16 * n + i for i in range(8)]
        down = [16 * n + 8 + i for i in range(8)]
        yield env.timeout(n * 1e-6)  # nodes start staggered
        for _ in range(count):
            flows = [
                FlowSpec((up[i], down[(i + 1) % 8]), 8e6, latency_s=3e-6, src=i, dst=(i + 1) % 8)
                for i in range(8)
            ]
            yield fabric.start_many(flows)

    per_node = [groups // n_nodes + (1 if n < groups % n_nodes else 0) for n in range(n_nodes)]
    for n in range(n_nodes):
        env.process(node(n, per_node[n]))
    env.run()
    return (
        f"groups: {len(fabric.records):,} flows in {groups:,} groups of 8 over {n_nodes} nodes: "
        f"{{cpu}}, settles {fabric.settles:,}, recomputes {fabric.recomputes:,}, "
        f"simulated {env.now * 1e3:.3f} ms"
    )


def best_of(repeat: int, fn: Callable[[], str]) -> None:
    """Run ``fn`` (which returns a line with ``{cpu}`` for its CPU time) and print the best."""
    times, line = [], ""
    for _ in range(repeat):
        t0 = time.process_time()
        line = fn()
        times.append(time.process_time() - t0)
    print(line.format(cpu=f"cpu {min(times):.3f} s (best of {repeat}; worst {max(times):.3f} s)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bench_solver()
    best_of(args.repeat, lambda: bench_burst(equal_sizes=True))
    best_of(args.repeat, lambda: bench_burst(equal_sizes=False))
    best_of(args.repeat, bench_groups)


if __name__ == "__main__":
    main()
