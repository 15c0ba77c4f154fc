"""Synchronous all-reduce against the asynchronous parameter server under stragglers.

Run: ``.venv/bin/python benchmarks/faults_crossover.py [--steps 24] [--seed 1] [--png F]``.
On ``scenarios/ten-node-stragglers.yaml`` (ten GPT-2-small workers on 10 GbE, rank 7 twice as
slow, log-normal jitter sigma 0.1) it simulates ``--steps`` steps of synchronous DDP (ring
all-reduce), the synchronous parameter server and the asynchronous one at staleness bounds
0..8, every step on the event engine (exact mode: the server's links are shared, so re-timing
would not be exact), with the same seeded draws for all. It prints the time per step, and for
the asynchronous server the staleness workers actually ran at (how many of their own steps the
model they started from was behind: mean and max), and draws the PNG. The same with a slow
factor of ``--heavy`` shows where a crossover appears when the straggler is slower.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import numpy as np

from simulator.build import build_workload
from simulator.config import load_scenario
from simulator.engine import simulate
from simulator.faults.compute import sample
from simulator.faults.steps import run_steps, scaled_workload
from simulator.topology import load_topology

_PULL = re.compile(r"^ps\.pull\.s(\d+)\.")
_FWD = re.compile(r"^fwd\.s(\d+)$")


def observed_staleness(ops: Any) -> list[int]:
    """Per worker and step: how many of its own steps behind the model it started from was."""
    out: list[int] = []
    for _, o in ops.groupby("rank"):
        pulls: dict[int, float] = {}
        for name, end in zip(o["name"], o["end_s"], strict=True):
            m = _PULL.match(str(name))
            if m:
                k = int(m.group(1))
                pulls[k] = max(pulls.get(k, 0.0), float(end))
        for name, start in zip(o["name"], o["start_s"], strict=True):
            m = _FWD.match(str(name))
            if not m or not pulls:
                continue
            k = int(m.group(1))
            have = [j for j, t in pulls.items() if j < k and t <= float(start) + 1e-12]
            out.append(k - 1 - max(have, default=-1))
    return out


def case(sets: list[str], steps: int, seed: int, slow: float) -> tuple[float, list[int]]:
    """Mean time per step and observed staleness of one variant (exact, every step)."""
    sc = load_scenario(
        "ten-node-stragglers",
        [*sets, f"faults.slow_ranks=[{{ranks: [7], compute_factor: {slow}}}]"],
    ).model_copy(update={"compare": []})
    topo = load_topology(sc.topology)
    b = build_workload(sc, topo)
    wl = b.workload
    if wl.steps_per_program == 1:
        r = run_steps(wl, topo, sc.faults, steps=steps, seed=seed, exact=True)
        return float(r.step_time_s.mean()), []
    draws = sample(sc.faults, wl.world_size, wl.steps_per_program, seed)
    res = simulate(scaled_workload(wl, b.compute_model, draws.factor, draws.stall_s), topo)
    return float(res.step_time_s), observed_staleness(res.ops)


def main() -> None:
    """Print the table, write the PNG."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heavy", type=float, default=8.0)
    ap.add_argument("--png", default="docs/faults-crossover.png")
    args = ap.parse_args()
    ps = ["strategy.kind=parameter_server", f"strategy.parameter_server.steps={args.steps}"]
    bounds = list(range(9))
    rows: dict[float, dict[str, Any]] = {}
    for slow in (2.0, args.heavy):
        ar, _ = case(["strategy.kind=collective"], args.steps, args.seed, slow)
        sps, _ = case([*ps, "strategy.parameter_server.mode=sync"], args.steps, args.seed, slow)
        asy = []
        for s in bounds:
            t, st = case(
                [
                    *ps,
                    "strategy.parameter_server.mode=async",
                    f"strategy.parameter_server.staleness={s}",
                ],
                args.steps,
                args.seed,
                slow,
            )
            asy.append((t, float(np.mean(st)), int(max(st))))
        rows[slow] = {"allreduce": ar, "sync_ps": sps, "async": asy}
        print(f"\nrank 7 x{slow:g} slower, jitter sigma 0.1, {args.steps} steps, seed {args.seed}")
        print(f"sync all-reduce {ar:.4f} s/step; sync PS {sps:.4f} s/step")
        print(
            "| staleness bound | async PS s/step | vs all-reduce | observed staleness mean / max |"
        )
        print("|---:|---:|---:|---:|")
        for s, (t, mean_st, max_st) in zip(bounds, asy, strict=True):
            print(f"| {s} | {t:.4f} | {100 * (t / ar - 1):+.1f} % | {mean_st:.2f} / {max_st} |")
        cross = [s for s, (t, _, _) in zip(bounds, asy, strict=True) if t < ar]
        first = cross[0] if cross else "none up to 8"
        print(f"async PS overtakes sync all-reduce at staleness bound: {first}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for slow, color in zip(rows, ("#4878a8", "#c44e52"), strict=True):
        r = rows[slow]
        ax.plot(
            bounds,
            [a[0] for a in r["async"]],
            "o-",
            color=color,
            label=f"async PS, rank 7 x{slow:g}",
        )
        ax.axhline(r["allreduce"], color=color, linestyle="--", label=f"sync all-reduce, x{slow:g}")
        ax.axhline(r["sync_ps"], color=color, linestyle=":", label=f"sync PS, x{slow:g}")
    ax.set_xlabel("staleness bound (steps)")
    ax.set_ylabel("time per step (s)")
    ax.set_title(f"ten-node-stragglers: {args.steps} steps, seed {args.seed}, jitter sigma 0.1")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
