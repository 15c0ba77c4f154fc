"""``commsim validate --published --plot FILE``: predicted against published, one panel per kind.

Left: nccl-tests bus bandwidth (GB/s), right: training throughput (the reference file's unit,
TFLOP/s per GPU); each row a
point (filled: held out, hollow: the figure set a model constant), the ``predicted =
published`` line and the rows' tolerance band around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def published_png(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Draw :func:`simulator.measure.published.validate_published` rows to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    kinds = [k for k in ("nccl_tests", "training") if any(r["kind"] == k for r in rows)]
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(5.2 * max(len(kinds), 1), 4.6))
    axes = list(axes) if len(kinds) > 1 else [axes]
    for ax, kind in zip(axes, kinds, strict=False):
        sel = [r for r in rows if r["kind"] == kind]
        unit = sel[0]["unit"]
        for held, face in ((True, None), (False, "none")):
            pts = [r for r in sel if bool(r["held_out"]) is held]
            if pts:
                ax.scatter(
                    [r["expected"] for r in pts], [r["predicted"] for r in pts],
                    facecolors=face, edgecolors="C0" if held else "C1",
                    label="held out" if held else "set a constant",
                )  # fmt: skip
        values = [v for r in sel for v in (r["expected"], r["predicted"])]
        lo, hi = min(values) * 0.8, max(values) * 1.25
        tol = max(float(r["tolerance_pct"]) for r in sel) / 100.0
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="predicted = published")
        band = ([lo * (1 - tol), hi * (1 - tol)], [lo * (1 + tol), hi * (1 + tol)])
        ax.fill_between([lo, hi], *band, color="grey", alpha=0.15, label=f"+/- {tol:.0%}")
        if hi / lo > 10:  # a wide range: log axes with plain labels, none on minor ticks
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                axis.set_major_formatter(FormatStrFormatter("%g"))
                axis.set_minor_formatter(NullFormatter())
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"published ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
        inside = sum(bool(r["within_tolerance"]) for r in sel)
        title = "nccl-tests bus bandwidth" if kind == "nccl_tests" else "training throughput"
        ax.set_title(f"{title}: {inside} of {len(sel)} inside")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("commsim validate --published")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
