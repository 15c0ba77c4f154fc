"""Replay error with and without CPU contention on the rig (needs root).

    sudo .venv/bin/python benchmarks/bench_contention.py [--runs 5] [--hogs 2] [--steps 8]

The 4-host rig runs 4 training ranks (and their 8 gloo worker threads) on this machine's 2
cores, and its tier-1 replays come out 5-12 % too fast, where the 2-host rig's (one rank per
core) are within 3 %. This benchmark tests that cause directly: it records and replays DDP on
rig-2host ``--runs`` times alone and ``--runs`` times beside ``--hogs`` busy-looping processes
(alternating, so that drift hits both), each in a fresh directory, and prints every replay's
measured step, prediction and error, then the median error of each condition.

The prediction uses the calibrated 2-rank profile and the recorded compute, as tier 1 does;
nothing here is fitted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="recordings per condition")
    ap.add_argument("--hogs", type=int, default=2, help="busy-looping processes when contended")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--topology", default="rig-2host")
    args = ap.parse_args()

    from simulator.studies.rig_validation import Validator

    print(f"load average at start: {_load()}")
    errors: dict[int, list[float]] = {0: [], args.hogs: []}
    print(f"{'run':>3} {'hogs':>4} {'measured_s':>10} {'spread_%':>8} {'predicted_s':>11} "
          f"{'error_%':>7}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="commsim-contention-") as tmp:
        for i in range(args.runs):
            for hogs in (0, args.hogs):
                procs = [
                    subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(hogs)
                ]
                try:
                    v = Validator(
                        topology=args.topology,
                        strategies=["ddp"],
                        work_dir=Path(tmp) / f"{i}-{hogs}",
                        steps=args.steps,
                    )
                    c = v.replay_case("ddp")
                finally:
                    for p in procs:
                        p.kill()
                        p.wait()
                errors[hogs].append(c.error_pct)
                print(f"{i:>3} {hogs:>4} {c.measured_s:>10.4f} {c.spread_pct:>8.1f} "
                      f"{c.predicted_s:>11.4f} {c.error_pct:>+7.1f}")  # fmt: skip
    for hogs, errs in errors.items():
        print(f"{hogs} busy processes: median error {statistics.median(errs):+.1f} % "
              f"(min {min(errs):+.1f}, max {max(errs):+.1f}, {len(errs)} runs)")  # fmt: skip
    print(f"load average at end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
