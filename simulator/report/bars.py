"""Many horizontal bars in one matplotlib collection, leaving out those Agg would not paint.

Agg snaps the corners of a rectangle drawn without edges to whole pixels (matplotlib's
``PathSnapper``: a path of at most 1,024 vertices whose segments are all horizontal or
vertical has each corner moved to ``floor(x + 0.5)``, plus 0.5 only for an odd stroke width,
and an edgeless collection strokes with width 0). A bar whose two x edges snap to the same
pixel column therefore has no area and leaves every pixel as it was. A timeline of 124,204
ops on about 1,000 pixel columns has mostly such bars (an op of a few microseconds in a step of
seconds); building a ``Path`` for each and handing it to Agg was most of the PNG's cost.
:class:`SnappedBars` decides at draw time, with the transform the figure is drawn with (after
``bbox_inches="tight"`` moved it), which bars have a snapped width, and draws only those:
the same pixels, byte for byte (``tests/test_plot_bars.py`` compares the PNG with
``broken_barh``'s). A bar within :data:`MARGIN_PX` of a rounding boundary is always drawn, so
the last bit of the transform's arithmetic cannot change the answer. For other renderers, with
edges, hatches or a transform that is not a plain scale and shift, every bar is drawn.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.collections import PolyCollection

from simulator.core.arrays import FloatArray

#: Distance (pixels) from a snapping boundary within which a bar is drawn regardless.
MARGIN_PX = 1e-6


def bar_vertices(x0: FloatArray, x1: FloatArray, y0: float, y1: float) -> np.ndarray:
    """The corners of bars ``[x0, x1] x [y0, y1]`` in the order ``broken_barh`` gives them
    (``(n, 4, 2)``)."""
    verts = np.empty((len(x0), 4, 2))
    verts[:, 0, 0] = verts[:, 1, 0] = x0
    verts[:, 2, 0] = verts[:, 3, 0] = x1
    verts[:, 0, 1] = verts[:, 3, 1] = y0
    verts[:, 1, 1] = verts[:, 2, 1] = y1
    return verts


def snapped_empty(px0: FloatArray, px1: FloatArray) -> np.ndarray:
    """Which bars with x edges at pixel positions ``px0``, ``px1`` snap to zero width, each
    edge farther than :data:`MARGIN_PX` from a rounding boundary (NaN: never empty)."""
    a, b = px0 + 0.5, px1 + 0.5
    fa, fb = np.floor(a), np.floor(b)
    with np.errstate(invalid="ignore"):
        clear = (a - fa > MARGIN_PX) & (fa + 1 - a > MARGIN_PX)
        clear &= (b - fb > MARGIN_PX) & (fb + 1 - b > MARGIN_PX)
        return cast(np.ndarray, (fa == fb) & clear)


def snapped_runs(px0: FloatArray, px1: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """Bars with x edges at pixel positions ``px0``, ``px1`` as fewer bars that paint the same
    pixel columns: ``(first, last)`` index arrays, each output bar running from ``px0[first]``
    to ``px1[last]``.

    A bar whose snapped edges ``floor(x + 0.5)`` are known (both farther than
    :data:`MARGIN_PX` from a rounding boundary) and differ covers the whole pixel columns
    between them; bars whose column ranges overlap or touch become one bar from the
    leftmost's left edge to the rightmost-reaching's right edge, which snaps to the same two
    columns, so it covers their union and nothing more. Any other bar (near a boundary,
    empty, NaN, reversed) stays as it is (``first == last``)."""
    a, b = px0 + 0.5, px1 + 0.5
    fa, fb = np.floor(a), np.floor(b)
    with np.errstate(invalid="ignore"):
        known = (a - fa > MARGIN_PX) & (fa + 1 - a > MARGIN_PX)
        known &= (b - fb > MARGIN_PX) & (fb + 1 - b > MARGIN_PX) & (fa < fb)
    alone = np.flatnonzero(~known)
    order = np.flatnonzero(known)
    if not len(order):
        return alone, alone
    order = order[np.lexsort((fb[order], fa[order]))]  # by left column, then right
    lo, hi = fa[order], fb[order]
    reach = np.maximum.accumulate(hi)
    start = np.ones(len(order), dtype=bool)
    start[1:] = lo[1:] > reach[:-1]  # a gap of a whole column: a new run
    run = np.cumsum(start) - 1
    end = np.append(start[1:], True)  # each run's last position: reach is its right column
    widest = np.flatnonzero(hi == reach[end][run])  # positions reaching their run's right
    widest = widest[np.append(True, run[widest][1:] != run[widest][:-1])]  # one per run
    first = np.concatenate([order[start], alone])
    last = np.concatenate([order[widest], alone])
    return first, last


class SnappedBars(PolyCollection):
    """Bars ``[x0, x1] x [y0, y1]`` (data coordinates) as one ``PolyCollection``; on an Agg
    canvas only the bars that cover a pixel are built and drawn (see the module docstring)."""

    def __init__(self, x0: FloatArray, x1: FloatArray, y0: float, y1: float, **kwargs: Any):
        super().__init__([], **kwargs)
        self._x0 = np.asarray(x0, dtype=float)
        self._x1 = np.asarray(x1, dtype=float)
        self._y = (float(y0), float(y1))
        # the bars whose paths are set, as (first, last) into x0, x1; None: not yet
        self._shown: tuple[np.ndarray, np.ndarray] | None = None

    def get_paths(self) -> Any:
        """The paths of the bars drawn last (before the first draw: of every bar)."""
        if self._shown is None:
            every = np.arange(len(self._x0))
            self._show(every, every)
        return super().get_paths()

    def _show(self, first: np.ndarray, last: np.ndarray) -> None:
        shown = self._shown
        if shown is not None and np.array_equal(first, shown[0]) and np.array_equal(last, shown[1]):
            return
        self._shown = (first, last)
        verts = bar_vertices(self._x0[first], self._x1[last], *self._y)
        self.set_verts(cast(Any, verts) if len(verts) else [])

    def _one_opaque_colour(self) -> bool:
        """One face colour, fully opaque, not mapped: bars painted in any order or merged
        leave the same pixels."""
        face = np.asarray(self.get_facecolor(), dtype=float).reshape(-1, 4)
        return (
            len(face) == 1
            and float(face[0, 3]) == 1.0
            and self.get_alpha() in (None, 1.0)
            and self.get_array() is None
        )

    def _cullable(self, renderer: Any) -> bool:
        matrix = self.get_transform().get_matrix()
        return (
            isinstance(renderer, RendererAgg)
            and self.get_transform().is_affine
            and self.get_snap() in (None, True)
            and len(self.get_edgecolor()) == 0
            and self.get_hatch() is None
            and not self.get_path_effects()
            and matrix[0, 1] == 0.0
            and matrix[1, 0] == 0.0
        )

    def draw(self, renderer: Any) -> None:
        """Draw the bars that cover a pixel (all of them where that is not known); of one
        opaque colour, bars whose pixel columns overlap or touch as one
        (:func:`snapped_runs`)."""
        first = last = np.arange(len(self._x0))
        if self._cullable(renderer):
            m = self.get_transform().get_matrix()
            px0, px1 = m[0, 0] * self._x0 + m[0, 2], m[0, 0] * self._x1 + m[0, 2]
            first = last = np.flatnonzero(~snapped_empty(px0, px1))
            if self._one_opaque_colour():
                runs = snapped_runs(px0[first], px1[first])
                first, last = first[runs[0]], first[runs[1]]
        self._show(first, last)
        super().draw(renderer)
