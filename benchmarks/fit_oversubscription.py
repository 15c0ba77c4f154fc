"""Fit the oversubscription law of the extrapolating gloo-rig profile; judge it on held-out rigs.

    PYTHONPATH=. .venv/bin/python benchmarks/fit_oversubscription.py            # fit + judge
    PYTHONPATH=. .venv/bin/python benchmarks/fit_oversubscription.py --write    # and ship it

The law and the fit: :mod:`simulator.rig.oversubscription`. The profile it extends is the one
of the largest rank count fitted (``gloo-rig-4rank``, its own law removed for the fit).

``send_recv``'s wait is fitted on training steps, not microbenchmarks: the replayed step of
1F1B pipelines recorded on rigs of more than 4 hosts (``benchmarks/data/pp-fit-*.json``, curves
made by ``benchmarks/pp_step_curve.py``), judged on ``pp-held-*.json``. A lone pair in a
microbenchmark waits far less than a pipeline's receive while the other ranks compute.

Fit set: ``benchmarks/data/mb-fit-*-2026-12-05.json`` (flat 2..8 hosts and two-rack 6 and 8
hosts, measured on ``benchmarks/data/fit-*.yaml``; the command and the machine's load are in
each file's ``command``). Held out, never read by the fit:
``benchmarks/data/mb-held-*-2026-12-05.json`` and the previous session's
``mb-rig-5host-3tier`` / ``mb-rig-6host-flat``. Prints, per held-out rig, the median |error|
of rows < 1 MiB and >= 1 MiB without the law and with it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simulator.rig.oversubscription import (
    StepCurve,
    base_profile,
    errors,
    fit_p2p_wait,
    fit_wait,
    load_case,
    load_curve,
)

DATA = Path(__file__).parent / "data"
#: The profile the law extends (the largest rank count fitted).
BASE = Path(__file__).parents[1] / "simulator/data/calibration/gloo-rig-4rank.yaml"
#: Cores of the machine the fit set ran on (`nproc` on the rig host, 2026-12-05).
FIT_CORES = 2
#: Ops the law is fitted for on microbenchmark rows. send_recv is fitted on pipeline steps
#: (:func:`_p2p`): a microbenchmark's lone pair waits 0.56 ms a hop (fitted on the same rows as
#: these, 2026-12-06), a pipeline's receive while the other ranks compute several times that.
LAW_OPS = ("all_reduce", "all_gather", "broadcast", "reduce_scatter")


def write_law(waits_us: dict[str, float], n_rows: int, path: Path = BASE) -> None:
    """Replace (or append) the ``oversubscription`` section at the end of the profile file
    ``path`` with the fitted waits (us) and where they come from; the rest of the file is left
    as ``simulator/rig/calibrate.py`` wrote it."""
    head = path.read_text().split("\n# Oversubscription law")[0].rstrip("\n")
    lines = [
        "",
        "# Oversubscription law: written by benchmarks/fit_oversubscription.py --write from the",
        f"# fit set benchmarks/data/mb-fit-*-2026-12-05.json ({n_rows} rows with more ranks than",
        "# cores, 3..8 ranks on 2 cores); docs/rig.md, 'More ranks than cores'.",
        *(
            [
                "# send_recv from the 1F1B steps of benchmarks/data/pp-fit-*.json",
                "# (benchmarks/pp_step_curve.py; each file's command).",
            ]
            if "send_recv" in waits_us
            else []
        ),
        "oversubscription:",
        "  ranks: 4",
        f"  cores: {FIT_CORES}",
        "  hop_wait:",
        *(f"    {op}: {w:.1f}us" for op, w in waits_us.items()),
        "",
    ]
    path.write_text(head + "\n" + "\n".join(lines))


def _step_errors(curves: dict[str, StepCurve], wait_s: float) -> dict[str, float]:
    """Per recording (its curve file's stem), the replayed mean step's error % at ``wait_s``
    (0: no send_recv wait)."""
    return {
        stem: round(100 * (c.predicted_at(wait_s) / c.measured_s - 1), 1)
        for stem, c in curves.items()
    }


def _p2p(fit_paths: list[Path], held_paths: list[Path]) -> dict[str, object] | None:
    """The send_recv wait fitted on the pipeline curves, with the step errors before (no wait)
    and after, fit set and held out; None without curves."""
    if not fit_paths:
        return None
    fit = {p.stem: load_curve(p) for p in fit_paths}
    held = {p.stem: load_curve(p) for p in held_paths}
    wait, resid = fit_p2p_wait(list(fit.values()))
    return {
        "wait_us": round(wait * 1e6, 1),
        "fit_median_abs_error_pct": round(100 * resid, 1),
        "fit_before": _step_errors(fit, 0.0),
        "fit_after": _step_errors(fit, wait),
        "held_before": _step_errors(held, 0.0),
        "held_after": _step_errors(held, wait),
    }


def main() -> None:
    """Fit the waits on the fit set and print them with the held-out errors."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help=f"write the fitted law into {BASE}")
    args = ap.parse_args()
    fit = [load_case(p) for p in sorted(DATA.glob("mb-fit-*-2026-12-05.json"))]
    held = [
        load_case(p)
        for pat in ("mb-held-*-2026-12-05.json", "mb-rig-[56]host-*-2026-12-05.json")
        for p in sorted(DATA.glob(pat))
    ]
    base = base_profile(BASE)
    waits = {
        op: fit_wait(fit, op, base, FIT_CORES)
        for op in LAW_OPS
        if any(r.op == op for _, b in fit for r in b.rows)
    }
    res = {
        "waits_us": {op: round(w * 1e6, 1) for op, (w, _, _) in waits.items()},
        "rows": {op: n for op, (_, n, _) in waits.items()},
        "fit_median_abs_error_pct": {op: round(100 * e, 1) for op, (_, _, e) in waits.items()},
        "held_out_with_law": errors(held, None),
        "held_out_without": errors(held, base),
    }
    p2p = _p2p(sorted(DATA.glob("pp-fit-*.json")), sorted(DATA.glob("pp-held-*.json")))
    if p2p is not None:
        res["send_recv"] = p2p
        if p2p["wait_us"]:  # a fit of 0 gives the law no send_recv entry (3.22 ms, 2026-12-06)
            res["waits_us"]["send_recv"] = p2p["wait_us"]
    if args.write:
        write_law(res["waits_us"], sum(res["rows"].values()))
    if args.json:
        print(json.dumps(res, indent=1))
        return
    for op, (w, n, e) in waits.items():
        print(f"{op:15s} w = {w * 1e6:8.1f} us  ({n} rows, fit median |error| {100 * e:.1f} %)")
    if "send_recv" in res:
        print("send_recv (1F1B steps):", json.dumps(res["send_recv"]))
    for name, now in res["held_out_with_law"].items():
        was = res["held_out_without"][name]
        print(
            f"{name:24s} < 1 MiB {was['small_median_pct']:6.1f} -> {now['small_median_pct']:6.1f} %"
            f"   >= 1 MiB {was['large_median_pct']:5.1f} -> {now['large_median_pct']:5.1f} %"
        )


if __name__ == "__main__":
    main()
