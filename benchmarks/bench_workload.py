"""Workload benchmark: build and simulation time of shipped scenarios, and their step times.

Run: ``.venv/bin/python benchmarks/bench_workload.py [SCENARIO ...]`` (default: the flagship and
the 64xA100 reference). Prints one line per scenario: ops, programs, build s, simulate s, step s.
"""

from __future__ import annotations

import sys
import time

from simulator.build import build_workload
from simulator.config import load_scenario
from simulator.engine import simulate
from simulator.topology import load_topology


def main(names: list[str]) -> None:
    """Print build/simulate wall time and results for each scenario."""
    for name in names:
        sc = load_scenario(name)
        topo = load_topology(sc.topology)
        t0 = time.perf_counter()
        built = build_workload(sc, topo)
        t1 = time.perf_counter()
        res = simulate(built.workload, topo, backend=sc.backend, fidelity=sc.fidelity)
        t2 = time.perf_counter()
        ops = sum(len(p) for p in built.workload.programs)
        print(
            f"{name}: {ops} ops, {len(built.workload.programs)} programs, "
            f"build {t1 - t0:.1f} s, simulate {t2 - t1:.1f} s, step {res.step_time_s:.3f} s"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["gpt3-175b-1024xh100", "gpt3-175b-64xa100"])
