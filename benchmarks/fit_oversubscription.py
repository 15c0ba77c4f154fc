"""Fit the oversubscription law of the extrapolating gloo-rig profile; judge it on held-out rigs.

    PYTHONPATH=. .venv/bin/python benchmarks/fit_oversubscription.py            # fit + judge
    PYTHONPATH=. .venv/bin/python benchmarks/fit_oversubscription.py --write    # and ship it

The law and the fit: :mod:`simulator.rig.oversubscription`. The profile it extends is the one
of the largest rank count fitted (``gloo-rig-4rank``, its own law removed for the fit).

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

from simulator.rig.oversubscription import base_profile, errors, fit_wait, load_case

DATA = Path(__file__).parent / "data"
#: The profile the law extends (the largest rank count fitted).
BASE = Path(__file__).parents[1] / "simulator/data/calibration/gloo-rig-4rank.yaml"
#: Cores of the machine the fit set ran on (`nproc` on the rig host, 2026-12-05).
FIT_CORES = 2
#: Ops the law is fitted for. send_recv is left out: the rig's one-pair send is predicted
#: with its 2-rank group's profile (simulate_collective's group size), below the law's reach.
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
        "oversubscription:",
        "  ranks: 4",
        f"  cores: {FIT_CORES}",
        "  hop_wait:",
        *(f"    {op}: {w:.1f}us" for op, w in waits_us.items()),
        "",
    ]
    path.write_text(head + "\n" + "\n".join(lines))


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
    if args.write:
        write_law(res["waits_us"], sum(res["rows"].values()))
    if args.json:
        print(json.dumps(res, indent=1))
        return
    for op, (w, n, e) in waits.items():
        print(f"{op:15s} w = {w * 1e6:8.1f} us  ({n} rows, fit median |error| {100 * e:.1f} %)")
    for name, now in res["held_out_with_law"].items():
        was = res["held_out_without"][name]
        print(
            f"{name:24s} < 1 MiB {was['small_median_pct']:6.1f} -> {now['small_median_pct']:6.1f} %"
            f"   >= 1 MiB {was['large_median_pct']:5.1f} -> {now['large_median_pct']:5.1f} %"
        )


if __name__ == "__main__":
    main()
