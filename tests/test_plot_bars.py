"""The timeline PNG's bars: built with numpy, the same rectangles ``broken_barh`` draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from simulator.report.bars import snapped_empty
from simulator.report.plots import _bars


def test_bars_are_the_rectangles_broken_barh_draws() -> None:
    rng = np.random.default_rng(3)
    start = rng.uniform(0, 10, 50) * 1e3
    width = (rng.uniform(0, 1, 50) * 1e-3) * 1e3
    fig, ax = plt.subplots()
    want = ax.broken_barh(list(zip(start, width, strict=True)), (2.42, 0.4), facecolors="red")
    _bars(ax, start, start + width, 2.42, 2.42 + 0.4, "red")
    got = ax.collections[-1]
    assert got is not want
    for p, q in zip(got.get_paths(), want.get_paths(), strict=True):
        assert np.array_equal(p.vertices, q.vertices)
        assert p.codes is not None and q.codes is not None
        assert np.array_equal(p.codes, q.codes)
    assert np.array_equal(got.get_facecolor(), want.get_facecolor())
    plt.close(fig)


def _png(draw: Any, tmp_path: Path, name: str) -> bytes:
    fig, ax = plt.subplots(figsize=(12, 4))
    draw(ax)
    ax.set_xlim(0, 1000.0)
    ax.set_ylim(3.1, -0.1)
    fig.tight_layout()
    path = tmp_path / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path.read_bytes()


def _same_png_as_broken_barh(
    start: np.ndarray, width: np.ndarray, rows: list[tuple[float, str]], tmp_path: Path
) -> int:
    """Draw ``start``/``width`` split evenly over ``rows`` (``(y, colour)``) with ``_bars`` and
    with ``broken_barh``; assert the PNGs are the same bytes; return how many paths ours drew."""
    parts = np.array_split(np.arange(len(start)), len(rows))

    def ours(ax: Any) -> None:
        for (y, c), idx in zip(rows, parts, strict=True):
            _bars(ax, start[idx], start[idx] + width[idx], y, y + 0.4, c)

    def theirs(ax: Any) -> None:
        for (y, c), idx in zip(rows, parts, strict=True):
            ax.broken_barh(list(zip(start[idx], width[idx], strict=True)), (y, 0.4), facecolors=c)

    assert _png(ours, tmp_path, "ours.png") == _png(theirs, tmp_path, "theirs.png")
    fig, ax = plt.subplots(figsize=(12, 4))
    ours(ax)
    ax.set_xlim(0, 1000.0)
    fig.canvas.draw()
    drawn = sum(len(c.get_paths()) for c in ax.collections)
    plt.close(fig)
    return drawn


def test_bars_draw_the_pixels_broken_barh_draws(tmp_path: Path) -> None:
    """Sub-pixel bars (most of a long step's ops), bars on pixel boundaries, wide and empty
    bars, overlapping colours: the PNG is byte-identical to broken_barh's, and most of the
    sub-pixel bars were never built."""
    rng = np.random.default_rng(9)
    n = 4000
    start = np.sort(rng.uniform(0, 1000, n))
    width = rng.choice([0.0, 1e-4, 1e-2, 0.3, 2.0, 40.0], n, p=[0.05, 0.4, 0.3, 0.15, 0.08, 0.02])
    start[:50] = np.round(start[:50])  # edges exactly on data integers
    rows = [(0.0, "tab:blue"), (0.42, "tab:orange"), (1.0, "tab:green"), (1.0, "tab:red")]
    assert _same_png_as_broken_barh(start, width, rows, tmp_path) < n / 2


def test_snapped_empty_keeps_bars_near_a_boundary() -> None:
    px0 = np.array([10.2, 10.2, 10.4999999999, 10.2, np.nan, 3.0])
    px1 = np.array([10.3, 10.6, 10.4999999999, 11.7, 10.3, 3.0])
    assert snapped_empty(px0, px1).tolist() == [True, False, False, False, False, True]


def test_touching_bars_drawn_as_one_paint_the_same_pixels(tmp_path: Path) -> None:
    """Ops back to back (an op's end is the next one's start), overlapping, a sub-pixel or a
    whole-pixel gap apart, edges on pixel boundaries, NaN: merged where their pixel columns
    touch, the PNG is byte-identical to broken_barh's, with far fewer paths."""
    rng = np.random.default_rng(11)
    n = 3000
    width = rng.choice([1e-3, 0.05, 0.4, 1.3, 7.0], n)
    gap = rng.choice([0.0, 0.0, 1e-4, 0.3, 2.5, -0.2], n)  # touching, tiny, pixel, overlap
    start = np.concatenate([[0.0], np.cumsum(width + gap)[:-1]]) % 990.0
    start[:40] = np.round(start[:40])  # edges exactly on data integers
    start[40] = np.nan
    rows = [(0.0, "tab:blue"), (0.42, "tab:orange"), (0.42, "tab:red"), (1.0, "tab:green")]
    drawn = _same_png_as_broken_barh(start, width, rows, tmp_path)
    fig, ax = plt.subplots(figsize=(12, 4))  # the same axes, to find each bar's pixel columns
    ax.set_xlim(0, 1000.0)
    fig.canvas.draw()
    m = ax.transData.get_matrix()
    plt.close(fig)
    px0, px1 = m[0, 0] * start + m[0, 2], m[0, 0] * (start + width) + m[0, 2]
    painting = int((~snapped_empty(px0, px1)).sum())
    assert drawn < painting / 2


def test_snapped_runs_cover_the_same_columns() -> None:
    """Each run covers exactly the union of its bars' snapped columns; unknown bars alone."""
    from simulator.report.bars import snapped_runs

    rng = np.random.default_rng(12)
    px0 = np.round(rng.uniform(0, 300, 500), 1)
    px1 = px0 + rng.choice([0.0, 0.3, 1.0, 4.2, 20.0], 500)
    px0[:5] = [10.5, np.nan, 7.2, 50.0, 9.0]
    px1[:5] = [12.2, 8.0, 7.3, 49.0, 9.0]
    first, last = snapped_runs(px0, px1)

    def columns(a: np.ndarray, b: np.ndarray) -> set[int]:
        out: set[int] = set()
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            if np.isfinite(x) and np.isfinite(y):
                out |= set(range(int(np.floor(x + 0.5)), int(np.floor(y + 0.5))))
        return out

    assert columns(px0[first], px1[last]) == columns(px0, px1)
    assert {1, 0} <= set(first[first == last].tolist())  # near a boundary, NaN: alone
    assert len(first) < len(px0) / 2
    for a, b in (([], []), ([np.nan], [3.0]), ([4.2, 4.3], [4.3, 4.2]), ([1.0], [2.2])):
        got = snapped_runs(np.array(a, dtype=float), np.array(b, dtype=float))
        assert got[0].tolist() == got[1].tolist() == list(range(len(a)))  # nothing to merge
