"""Trace-path figures: replay fidelity per strategy, import speed, large-trace import.

Usage (from the repository root, torch installed)::

    .venv/bin/python benchmarks/bench_traces.py fidelity [--steps 5] [--strategies ddp,fsdp]
    .venv/bin/python benchmarks/bench_traces.py import-speed [--trace DIR]
    .venv/bin/python benchmarks/bench_traces.py large [--target-mb 100]

``fidelity`` runs ``commsim record --world 2 --strategy S --steps K --out D`` and
``commsim replay D --json`` for each strategy (loopback, gloo) and prints one line per
strategy: measured and predicted step, error in percent, and the worst collective row.
``import-speed`` times importing a 2-rank tiny-GPT recording (default: a fresh ddp one).
``large`` synthesises a Kineto trace of >= ``target-mb`` by replicating the measured steps of
a real rank-0 trace (timestamps shifted, step markers renumbered) and times its import.
Every figure printed is measured by this script; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMSIM = [sys.executable, "-m", "simulator"]


def _record(strategy: str, out: Path, steps: int) -> None:
    subprocess.run(
        [
            *COMMSIM,
            "record",
            "--world",
            "2",
            "--strategy",
            strategy,
            "--steps",
            str(steps),
            "--out",
            str(out),
            "--no-execution-trace",
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def fidelity(strategies: list[str], steps: int, keep: Path | None) -> None:
    base = keep or Path(tempfile.mkdtemp(prefix="bench_traces_"))
    print(
        f"# commsim record --world 2 --strategy S --steps {steps} --out D; "
        "commsim replay D --json   (loopback-2, gloo)"
    )
    print(
        f"{'strategy':<14}{'measured ms':>12}{'predicted ms':>14}{'error %':>9}  "
        "worst collective (kind size: measured -> predicted ms)"
    )
    for s in strategies:
        d = base / s
        _record(s, d, steps)
        res = subprocess.run(
            [*COMMSIM, "replay", str(d), "--json"],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        out = json.loads(res.stdout)
        worst = max(out["collectives"], key=lambda c: abs(c["error_pct"] or 0), default=None)
        w = (
            "-"
            if worst is None
            else f"{worst['kind']} {worst['size_B']:.0f} B: {worst['measured_s'] * 1e3:.2f} -> "
            f"{worst['predicted_s'] * 1e3:.2f}"
        )
        print(
            f"{s:<14}{out['measured_step_s'] * 1e3:>12.2f}{out['predicted_step_s'] * 1e3:>14.2f}"
            f"{out['error_pct']:>+9.1f}  {w}"
        )
    print(f"# recordings in {base}")


def import_speed(trace: Path | None) -> None:
    from simulator.traces.kineto import import_trace_dir

    if trace is None:
        trace = Path(tempfile.mkdtemp(prefix="bench_traces_")) / "ddp"
        _record("ddp", trace, 5)
    size = sum(p.stat().st_size for p in trace.glob("rank*.trace.json*"))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        imp = import_trace_dir(trace)
        for k in range(imp.num_steps):
            imp.workload(k)
        times.append(time.perf_counter() - t0)
    print(
        f"import {trace} ({size / 1e6:.1f} MB, {imp.world} ranks, {imp.num_steps} steps, "
        f"{imp.summary.events_total} events) -> Programs: best {min(times):.3f} s, "
        f"runs {', '.join(f'{t:.3f}' for t in times)}"
    )


def large(target_mb: float, trace: Path | None) -> None:
    from simulator.traces.kineto import import_trace_dir

    if trace is None:
        trace = Path(tempfile.mkdtemp(prefix="bench_traces_")) / "ddp"
        _record("ddp", trace, 5)
    doc = json.loads((trace / "rank0.trace.json").read_text())
    events = doc["traceEvents"]
    steps = [e for e in events if str(e.get("name", "")).startswith("commsim.step#")]
    t_lo = min(e["ts"] for e in steps)
    t_hi = max(e["ts"] + e["dur"] for e in steps)
    body = [e for e in events if "ts" in e and t_lo <= e["ts"] <= t_hi and e.get("ph") != "M"]
    meta = [e for e in events if e.get("ph") == "M"]
    one_mb = len(json.dumps(body)) / 1e6
    copies = max(1, int(target_mb / one_mb) + 1)
    span = t_hi - t_lo
    out: list[dict] = list(meta)
    n_steps = len(steps)
    for c in range(copies):
        for e in body:
            e2 = dict(e)
            e2["ts"] = e["ts"] + c * span
            name = str(e2.get("name", ""))
            if name.startswith("commsim.step#"):
                e2["name"] = f"commsim.step#{int(name.split('#')[1]) + c * n_steps}"
            out.append(e2)
    big = Path(tempfile.mkdtemp(prefix="bench_traces_large_"))
    path = big / "rank0.trace.json"
    path.write_text(json.dumps({**doc, "traceEvents": out}))
    mb = path.stat().st_size / 1e6
    t0 = time.perf_counter()
    imp = import_trace_dir(big)
    t_parse = time.perf_counter() - t0
    for k in range(imp.num_steps):
        imp.workload(k)
    t_all = time.perf_counter() - t0
    print(
        f"large trace: {mb:.1f} MB ({len(out)} events, {imp.num_steps} steps, rank-0 trace "
        f"of {trace} x {copies}) -> import {t_parse:.2f} s, + Programs of every step "
        f"{t_all:.2f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fidelity")
    f.add_argument("--steps", type=int, default=5)
    f.add_argument(
        "--strategies",
        default="ddp,ddp-fp16,ddp-powersgd,fsdp,tp,pp-gpipe,pp-1f1b,ps-sync,ps-async",
    )
    f.add_argument("--keep", type=Path, help="keep recordings under this directory")
    i = sub.add_parser("import-speed")
    i.add_argument("--trace", type=Path)
    lg = sub.add_parser("large")
    lg.add_argument("--target-mb", type=float, default=100.0)
    lg.add_argument("--trace", type=Path)
    a = ap.parse_args()
    if a.cmd == "fidelity":
        fidelity(a.strategies.split(","), a.steps, a.keep)
    elif a.cmd == "import-speed":
        import_speed(a.trace)
    else:
        large(a.target_mb, a.trace)


if __name__ == "__main__":
    main()
