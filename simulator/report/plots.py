"""PNG plots: a per-rank timeline and per-link-kind utilisation (matplotlib, Agg canvas).

The figures are drawn with matplotlib's object API (:class:`matplotlib.figure.Figure` on a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`), not pyplot: no global figure
manager, no backend selection, and the same pixels. Both plots read the result's columns
(``StepResult.op_columns``, ``StepResult.link_columns``), so drawing them neither imports
pandas nor builds a table (issue 18: ``run --out`` cost).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import TightLayoutEngine
from matplotlib.patches import Rectangle

from simulator.engine import StepResult
from simulator.report.bars import SnappedBars

if TYPE_CHECKING:
    import pandas as pd

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


def _groups(
    rank: np.ndarray, cats: list[str], is_compute: np.ndarray, keep: np.ndarray
) -> list[tuple[tuple[int, str, bool], np.ndarray]]:
    """The rows in ``keep`` grouped by ``(rank, category, is_compute)``: the groups in sorted
    key order, the rows of each in table order (what ``DataFrame.groupby(..., sort=True)``
    gives)."""
    rows = np.flatnonzero(keep)
    names = sorted(set(cats))
    code_of = {c: i for i, c in enumerate(names)}
    code = np.array([code_of[cats[i]] for i in rows.tolist()], dtype=np.int64)
    order = np.lexsort((is_compute[rows], code, rank[rows]))  # stable: table order kept
    rows, code = rows[order], code[order]
    key = np.stack([rank[rows], code, is_compute[rows].astype(np.int64)])
    cut = np.flatnonzero((key[:, 1:] != key[:, :-1]).any(axis=0)) + 1
    return [
        ((int(rank[g[0]]), names[int(code[a])], bool(is_compute[g[0]])), g)
        for a, g in zip([0, *cut.tolist()], np.split(rows, cut), strict=True)
        if len(g)
    ]


#: Resolution of the PNGs (dots per inch).
DPI = 110


def _layout(fig: Figure) -> None:
    """``fig.tight_layout()``, leaving the figure without a layout engine.

    ``Figure.tight_layout`` runs :class:`~matplotlib.layout_engine.TightLayoutEngine` once and
    then leaves a placeholder engine on the figure; ``savefig`` sees an engine and draws the
    whole figure once more, with drawing switched off, before the real draw (on the timeline:
    thousands of bar paths built twice). The same engine run directly sets the same subplot
    parameters and leaves no engine, so :func:`_save` draws once."""
    # tight_layout()'s own arguments: rect None (the stubs say a tuple; a tuple lays out twice)
    TightLayoutEngine(pad=1.08, rect=cast(Any, None)).execute(fig)


def _save(fig: Figure, path: str | Path) -> Path:
    """``fig.savefig(path, dpi=DPI, bbox_inches="tight")`` (the tight box keeps outside
    legends and long labels), with the box measured once: savefig's own "tight" first draws
    the whole figure with drawing switched off only to place its texts, which
    ``Figure.get_tightbbox`` places by itself."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    dpi = fig.dpi
    fig.dpi = DPI  # as savefig(dpi=DPI) measures and draws it
    try:
        box = fig.get_tightbbox(canvas.get_renderer())
    finally:
        fig.dpi = dpi
    pad = float(matplotlib.rcParams["savefig.pad_inches"])
    fig.savefig(out, dpi=DPI, bbox_inches=box.padded(pad))
    return out


def timeline_title(result: StepResult, shown: int, steps: int | None = None) -> str:
    """The timeline's title: the step time, or, when the drawn run holds several training
    steps (``steps``, default ``result.steps_per_program``: a replay of N measured steps, local
    SGD's period), their number, the whole run and the time per step, so that the title
    matches the time axis; and how many of the simulated ranks are drawn (``shown``)."""
    n = steps if steps is not None else result.steps_per_program
    factor, unit = _scale(result.makespan_s)
    if n > 1:
        per_step = result.makespan_s / n * factor
        title = (
            f"timeline: {n} steps, {result.makespan_s * factor:.4g} {unit}"
            f" ({per_step:.4g} {unit} per step)"
        )
    else:
        title = f"timeline: step {result.step_time_s * factor:.4g} {unit}"
    if shown < len(result.simulated_ranks):
        title += f" ({shown} of {len(result.simulated_ranks)} simulated ranks shown)"
    return title


def plot_timeline(
    result: StepResult,
    path: str | Path,
    *,
    max_ranks: int = MAX_TIMELINE_RANKS,
    steps: int | None = None,
) -> Path:
    """Ranks on the y axis; per rank, compute ops in the upper half of its row and
    communication ops in the lower half, coloured by category. Above ``max_ranks`` simulated
    ranks an even sample is drawn (the title says so). ``steps``: training steps the run
    holds, when ``result.steps_per_program`` does not say (see :func:`timeline_title`)."""
    ops = result.op_columns
    ranks = sample_ranks(result.simulated_ranks, result.critical_rank, max_ranks)
    factor, unit = _scale(result.makespan_s)
    kind = list(ops["kind"])
    cat_of = _categories(list(ops["category"]), kind)
    cats = sorted(set(cat_of))
    cmap = colormaps["tab20"]
    colour = {c: cmap(i % 20) for i, c in enumerate(cats)}
    height = max(2.5, min(0.28 * len(ranks) + 1.5, 20.0))
    fig = Figure(figsize=(12, height))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    row = {r: i for i, r in enumerate(ranks)}
    rank = np.asarray(ops["rank"], dtype=np.int64)
    is_compute = np.array([k == "compute" for k in kind], dtype=bool)
    start_s = np.asarray(ops["start_s"], dtype=np.float64)
    end_s = np.asarray(ops["end_s"], dtype=np.float64)
    for (r, cat, compute), rows in _groups(rank, cat_of, is_compute, np.isin(rank, ranks)):
        start = start_s[rows] * factor
        width = (end_s[rows] - start_s[rows]) * factor
        y = row[r] + (0.0 if compute else 0.42)
        _bars(ax, start, start + width, y, y + 0.4, colour[cat])
    ax.set_yticks([i + 0.4 for i in range(len(ranks))])
    ax.set_yticklabels([str(r) for r in ranks], fontsize=7 if len(ranks) > 32 else 9)
    ax.set_ylim(len(ranks) + 0.1, -0.1)
    ax.set_xlim(0, result.makespan_s * factor)
    ax.set_xlabel(f"time ({unit})")
    # three short lines: one long line ran past a short figure's axes (few ranks)
    ax.set_ylabel("rank\n(upper half: compute,\nlower half: communication)", fontsize=8)
    ax.set_title(timeline_title(result, len(ranks), steps))
    handles = [Rectangle((0, 0), 1, 1, color=colour[c]) for c in cats]
    ax.legend(handles, cats, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    _layout(fig)
    return _save(fig, path)


def link_kind_rows(result: StepResult) -> list[dict[str, Any]]:
    """Per link kind, sorted by kind: ``kind``, ``links`` (count), ``used`` (links with
    traffic), ``mean_util`` over used links, ``max_util``, ``bytes_per_step_B`` (sum)."""
    cols = result.link_columns
    kinds = np.array([str(k) for k in cols["kind"]], dtype=object)
    carried = np.asarray(cols["bytes_B"], dtype=np.float64) > 0
    util = np.asarray(cols["utilisation"], dtype=np.float64)
    per_step = np.asarray(cols["bytes_per_step_B"], dtype=np.float64)
    rows = []
    for kind in sorted(set(kinds.tolist())):
        mine = kinds == kind
        used = util[mine & carried]
        known = used[~np.isnan(used)]  # pandas' mean, max and sum skip NaN
        rows.append(
            {
                "kind": kind,
                "links": int(mine.sum()),
                "used": len(used),
                "mean_util": (float(known.mean()) if len(known) else np.nan) if len(used) else 0.0,
                "max_util": float(np.fmax.reduce(util[mine])),
                "bytes_per_step_B": float(np.nansum(per_step[mine])),
            }
        )
    return rows


def link_kind_stats(result: StepResult) -> pd.DataFrame:
    """:func:`link_kind_rows` as a table (columns ``kind, links, used, mean_util, max_util,
    bytes_per_step_B``)."""
    import pandas as pd

    return pd.DataFrame(
        link_kind_rows(result),
        columns=["kind", "links", "used", "mean_util", "max_util", "bytes_per_step_B"],
    )


def plot_links(result: StepResult, path: str | Path) -> Path:
    """Bars per link kind: mean utilisation over links that carried traffic, and the busiest."""
    stats = link_kind_rows(result)
    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(stats))
    ax.bar(x - 0.2, [100 * s["mean_util"] for s in stats], width=0.4, label="mean over used links")
    ax.bar(x + 0.2, [100 * s["max_util"] for s in stats], width=0.4, label="busiest link")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{s['kind']}\n{s['used']}/{s['links']} used" for s in stats])
    ax.set_ylabel("utilisation over the step (%)")
    ax.set_ylim(0, 105)
    ax.set_title("link utilisation by kind")
    ax.legend()
    _layout(fig)
    return _save(fig, path)
