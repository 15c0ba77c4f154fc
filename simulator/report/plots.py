"""PNG plots: a per-rank timeline and per-link-kind utilisation (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from simulator.engine import StepResult
from simulator.report.bars import SnappedBars

#: Most ranks drawn one row each; beyond this the timeline shows an even sample of ranks.
MAX_TIMELINE_RANKS = 64


def sample_ranks(ranks: list[int], critical: int, limit: int = MAX_TIMELINE_RANKS) -> list[int]:
    """At most ``limit`` ranks, evenly spread, always including ``critical``; sorted."""
    if len(ranks) <= limit:
        return sorted(ranks)
    idx = np.linspace(0, len(ranks) - 1, limit).round().astype(int)
    chosen = {sorted(ranks)[i] for i in idx}
    if critical in ranks and critical not in chosen:
        chosen.discard(max(chosen))
        chosen.add(critical)
    return sorted(chosen)


def _scale(span_s: float) -> tuple[float, str]:
    for factor, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "us")):
        if span_s * factor >= 1.0:
            return factor, unit
    return 1e9, "ns"


def _bars(ax: Any, x0: np.ndarray, x1: np.ndarray, y0: float, y1: float, colour: Any) -> None:
    """What ``ax.broken_barh`` draws for bars ``[x0, x1] x [y0, y1]`` (the same rectangles in
    one collection, the same pixels), without a Path for each bar no pixel shows
    (:class:`simulator.report.bars.SnappedBars`). The axes limits are set by the caller, so
    the bars do not update the data limits."""
    ax.add_collection(SnappedBars(x0, x1, y0, y1, facecolors=colour), autolim=False)


def _categories(category: list[str], kind: list[str]) -> list[str]:
    """Each op's colour key: its category, or its kind where it has none."""
    return [str(c or k) for c, k in zip(category, kind, strict=True)]


def plot_timeline(
    result: StepResult, path: str | Path, *, max_ranks: int = MAX_TIMELINE_RANKS
) -> Path:
    """Ranks on the y axis; per rank, compute ops in the upper half of its row and
    communication ops in the lower half, coloured by category. Above ``max_ranks`` simulated
    ranks an even sample is drawn (the title says so)."""
    ops = result.ops
    ranks = sample_ranks(result.simulated_ranks, result.critical_rank, max_ranks)
    factor, unit = _scale(result.makespan_s)
    cats = sorted(set(_categories(ops["category"].tolist(), ops["kind"].tolist())))
    cmap = plt.get_cmap("tab20")
    colour = {c: cmap(i % 20) for i, c in enumerate(cats)}
    height = max(2.5, min(0.28 * len(ranks) + 1.5, 20.0))
    fig, ax = plt.subplots(figsize=(12, height))
    row = {r: i for i, r in enumerate(ranks)}
    sel = ops[ops["rank"].isin(ranks)]
    cat_col = sel["category"].where(sel["category"] != "", sel["kind"])
    for (rank, cat, is_compute), grp in sel.groupby(
        [sel["rank"], cat_col, sel["kind"] == "compute"], sort=True
    ):
        start = grp["start_s"].to_numpy() * factor
        width = (grp["end_s"].to_numpy() - grp["start_s"].to_numpy()) * factor
        y = row[int(str(rank))] + (0.0 if is_compute else 0.42)
        _bars(ax, start, start + width, y, y + 0.4, colour[str(cat)])
    ax.set_yticks([i + 0.4 for i in range(len(ranks))])
    ax.set_yticklabels([str(r) for r in ranks], fontsize=7 if len(ranks) > 32 else 9)
    ax.set_ylim(len(ranks) + 0.1, -0.1)
    ax.set_xlim(0, result.makespan_s * factor)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("rank (upper: compute, lower: communication)")
    title = f"timeline: step {result.step_time_s * factor:.4g} {unit}"
    if len(ranks) < len(result.simulated_ranks):
        title += f" ({len(ranks)} of {len(result.simulated_ranks)} simulated ranks shown)"
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[c]) for c in cats]
    ax.legend(handles, cats, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")  # keeps outside legends and long labels
    plt.close(fig)
    return out


def link_kind_stats(result: StepResult) -> pd.DataFrame:
    """Per link kind: ``links`` (count), ``used`` (links with traffic), ``mean_util`` over used
    links, ``max_util``, ``bytes_per_step_B`` (sum)."""
    df = result.links
    rows = []
    for kind, grp in df.groupby("kind", sort=True):
        used = grp[grp["bytes_B"] > 0]
        rows.append(
            {
                "kind": str(kind),
                "links": len(grp),
                "used": len(used),
                "mean_util": float(used["utilisation"].mean()) if len(used) else 0.0,
                "max_util": float(grp["utilisation"].max()) if len(grp) else 0.0,
                "bytes_per_step_B": float(grp["bytes_per_step_B"].sum()),
            }
        )
    return pd.DataFrame(
        rows, columns=["kind", "links", "used", "mean_util", "max_util", "bytes_per_step_B"]
    )


def plot_links(result: StepResult, path: str | Path) -> Path:
    """Bars per link kind: mean utilisation over links that carried traffic, and the busiest."""
    stats = link_kind_stats(result)
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(stats))
    ax.bar(x - 0.2, 100 * stats["mean_util"], width=0.4, label="mean over used links")
    ax.bar(x + 0.2, 100 * stats["max_util"], width=0.4, label="busiest link")
    ax.set_xticks(x)
    ax.set_xticklabels(
        [
            f"{k}\n{u}/{n} used"
            for k, u, n in zip(stats["kind"], stats["used"], stats["links"], strict=True)
        ]
    )
    ax.set_ylabel("utilisation over the step (%)")
    ax.set_ylim(0, 105)
    ax.set_title("link utilisation by kind")
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")  # keeps outside legends and long labels
    plt.close(fig)
    return out
