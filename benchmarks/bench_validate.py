"""Full validation matrix on the rig (needs root): collectives and the three tiers.

    sudo .venv/bin/python benchmarks/bench_validate.py [--calibrate] [--out DIR] [--steps 5]

1. ``--calibrate``: measure rig-2host and rig-4host-flat microbenchmarks (the fit sets) and
   fit ``simulator/data/calibration/gloo-rig.yaml`` (2 ranks) and ``gloo-rig-4rank.yaml``
   (4 ranks) from them.
2. Microbenchmarks on rig-4host-2rack (held out), predicted with the 4-rank profile and, for
   comparison, with the 2-rank one; the fit sets' own tables beside them.
3. ``commsim validate`` on rig-2host and rig-4host-2rack with every strategy and tier, each
   predicted with the profile of its rank count.

Prints every table and a markdown summary for benchmarks/RESULTS.md; writes JSON under DIR.
Figures depend on the machine's load: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrate", action="store_true", help="refit the rig profiles first")
    ap.add_argument("--out", default="bench-validate-out", help="JSON and traces go here")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--budget", type=float, default=1.0, help="microbench s per (op, size)")
    ap.add_argument("--topologies", default="rig-2host,rig-4host-2rack")
    ap.add_argument("--skip-microbench", action="store_true")
    ap.add_argument("--device", choices=("cpu", "accel"), default="cpu", help="recorder mode")
    ap.add_argument("--tiers", default="replay,topology,strategy")
    args = ap.parse_args()

    from simulator.rig.calibrate import calibration_path, fit_profile, write_profile
    from simulator.rig.microbench import (
        ALL_OPS,
        format_table,
        load_microbench,
        predict_rows,
        run_microbench,
        summarize,
        table_rows,
    )
    from simulator.studies.rig_cases import STRATEGY_ALIASES, Tier
    from simulator.studies.rig_validation import Validator, format_cases
    from simulator.studies.rig_validation import summarize as summarize_cases
    from simulator.topology import load_topology

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    print(f"load average at start: {_load()}")
    report: dict[str, Any] = {}
    fit_sets = ("rig-2host", "rig-4host-flat")

    if args.calibrate:
        for name in fit_sets:
            bench = run_microbench(
                name, ops=ALL_OPS, budget_s=args.budget,
                command="benchmarks/bench_validate.py --calibrate",
            )  # fmt: skip
            bench.save(out / f"mb-{name}.json")
            fit = fit_profile(load_topology(name), bench)
            path = write_profile(fit, calibration_path(bench.n_ranks))
            print(f"calibrated {path} on {name}: efficiency {fit.efficiency:.4f}, base "
                  f"{fit.base_latency_s * 1e6:.1f} us, step {fit.step_latency_s * 1e6:.1f} us, "
                  f"concurrency {fit.concurrency} (measured {fit.concurrency_measured}), "
                  f"rs/ar {fit.rs_over_ar}")  # fmt: skip

    if not args.skip_microbench:
        # (topology, role, rank count of the profile that predicts it; None: its own)
        runs: list[tuple[str, str, int | None]] = [(n, "fit set", None) for n in fit_sets]
        runs += [
            ("rig-4host-2rack", "held out", None),
            ("rig-4host-2rack", "held out, 2-rank fit", 2),
        ]
        for name, role, fit_world in runs:
            path = out / f"mb-{name}.json"
            if path.is_file() and (name not in fit_sets or args.calibrate):
                bench = load_microbench(path)
            else:
                bench = run_microbench(name, budget_s=args.budget)
                bench.save(path)
            topo = load_topology(name)
            profile = str(calibration_path(fit_world or topo.num_ranks))
            recs = table_rows(bench, predict_rows(topo, bench.rows, profile))
            summ = summarize(recs)
            key = f"microbench/{name}/{role}"
            report[key] = {"role": role, "profile": profile, "summary": summ}
            print(f"\n## microbenchmarks on {name} ({role}; {Path(profile).name})\n"
                  f"{format_table(recs)}")  # fmt: skip
            print(json.dumps(summ, indent=1))

    for name in args.topologies.split(","):
        v = Validator(
            topology=name,
            strategies=[s for s in STRATEGY_ALIASES.values() if args.device == "cpu" or s != "tp"],
            work_dir=out / "traces",
            steps=args.steps,
            tiers=[Tier(t) for t in args.tiers.split(",")],
            log=lambda m: print(m, file=sys.stderr, flush=True),
            device=args.device,
        )
        try:
            cases = v.run()
        except Exception as exc:  # report and go on with the next topology
            print(f"\n## validate on {name}: FAILED: {exc}")
            report[f"validate/{name}"] = {"error": str(exc)}
            continue
        summ = {k: v.to_json() for k, v in summarize_cases(cases).items()}
        report[f"validate/{name}"] = {
            "cases": [c.to_json() for c in cases], "summary": summ,
        }  # fmt: skip
        print(f"\n## validate on {name}\n{format_cases(cases)}")
        print(json.dumps(summ, indent=1))

    all_cases = [
        c for k, v in report.items() if k.startswith("validate/") for c in v.get("cases", [])
    ]
    for tier in ("replay", "topology", "strategy"):
        errs = [abs(c["error_pct"]) for c in all_cases if c["tier"] == tier]
        if errs:
            print(f"tier {tier}: {len(errs)} cases, median |error| {statistics.median(errs):.1f}%, "
                  f"max {max(errs):.1f}%")  # fmt: skip
    print(f"load average at end: {_load()}; wall {time.perf_counter() - t_start:.0f} s")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
