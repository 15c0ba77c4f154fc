"""Many steps with stragglers: wall time of ``--steps 100`` on the 1,024-GPU flagship.

Run: ``.venv/bin/python benchmarks/bench_faults.py [--steps 100] [--sigma 0.05]``.
Times each phase of ``commsim run gpt3-175b-1024xh100 --steps N`` with log-normal jitter
(build, one exact step, reading the structure, re-timing N steps + N even steps) and prints the
step-time distribution. Figures go to benchmarks/RESULTS.md (## faults).
"""

from __future__ import annotations

import argparse
import os
import time

from simulator.build import build_workload
from simulator.config import load_scenario
from simulator.engine import simulate
from simulator.faults.compute import sample
from simulator.faults.retime import base_run, retime
from simulator.faults.steps import _per_step
from simulator.topology import load_topology


def main() -> None:
    """Time the phases and print them with the load average."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="gpt3-175b-1024xh100")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    t0 = time.perf_counter()
    sc = load_scenario(args.scenario, [f"faults.jitter.sigma={args.sigma}"])
    topo = load_topology(sc.topology)
    built = build_workload(sc, topo)
    t1 = time.perf_counter()
    res = simulate(built.workload, topo, record=False, compute_model=built.compute_model)
    t2 = time.perf_counter()
    base = base_run(built.workload, topo, res, built.compute_model)
    t3 = time.perf_counter()
    draws = sample(sc.faults, built.workload.world_size, args.steps, args.seed)
    even = draws.even()
    import numpy as np

    ends = retime(
        base,
        np.concatenate([draws.factor, even.factor]),
        np.concatenate([draws.stall_s, even.stall_s]),
    )
    t4 = time.perf_counter()
    steps = _per_step(ends[: args.steps], args.steps)
    ops = sum(len(p.ops) for p in built.workload.programs)
    print(
        f"{args.scenario}: {ops} ops in {len(built.workload.programs)} programs "
        f"x {len(base.offsets)} lanes"
    )
    print(
        f"build {t1 - t0:.1f} s, exact step {t2 - t1:.1f} s, structure {t3 - t2:.1f} s, "
        f"re-time {2 * args.steps} steps {t4 - t3:.1f} s, total {t4 - t0:.1f} s"
    )
    print(
        f"unperturbed {res.step_time_s:.4f} s; {args.steps} steps: mean {steps.mean():.4f} s, "
        f"p50 {np.percentile(steps, 50):.4f}, p99 {np.percentile(steps, 99):.4f}"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
