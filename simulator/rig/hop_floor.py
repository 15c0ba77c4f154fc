"""Fit a backend's per-op hop floor (``hop_floor[op]``) to microbenchmark rows.

The hop floor is the least time one dependent step of an op's algorithm takes, whatever its
bytes (:mod:`simulator.collectives.backend`): a floor under each phase's transfer, not added
to it. On the rig with 4 ranks on 2 cores, a ring all_reduce of 4 KiB..256 KiB takes 7-8 ms
(each of its 6 hops waits for a core), a broadcast of 4 KiB 0.7 ms and a send_recv 0.26 ms
(docs/rig.md): one additive per-step latency cannot hold both, and an additive per-op latency
large enough for 4 KiB would add 8 ms to every 1 MiB all_reduce too, which measures within
2 % of its transfer time. A floor overlaps the transfer, as the data say.

The time of a lone collective is not linear in the floor (it binds below some size and not
above), so each op's floor is found by a one-dimensional search: the relative-error sum of
squares over the op's rows on a geometric grid, then golden-section refinement between the
best grid point's neighbours. The smallest floor wins a tie, so a floor that changes no
prediction is fitted as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

#: Grid points of the first pass (geometric, from ``GRID_MIN_S`` to the slowest row's time).
GRID_POINTS = 40
#: Smallest non-zero floor tried, seconds (well below any per-hop cost the rig shows).
GRID_MIN_S = 1e-6
#: Golden-section iterations between the best grid point's neighbours.
REFINE_ITERS = 20


def relative_sse(predicted_s: np.ndarray, measured_s: np.ndarray) -> float:
    """Sum of squared relative errors, dimensionless."""
    return float(np.sum(((predicted_s - measured_s) / measured_s) ** 2))


def fit_hop_floor(
    predict: Callable[[float], np.ndarray], measured_s: Sequence[float]
) -> tuple[float, float]:
    """The floor (s) minimising the relative error of ``predict(floor)`` against
    ``measured_s``, and that minimum (sum of squared relative errors).

    ``predict(floor)`` returns the predicted seconds of the same rows, in order, with the op's
    hop floor set to ``floor``.
    """
    m = np.asarray(measured_s, dtype=float)
    if m.size == 0 or not np.all(m > 0):
        raise ValueError("need at least one row, every measured time > 0")

    def loss(h: float) -> float:
        return relative_sse(predict(h), m)

    hi = float(m.max())
    grid = [0.0, *np.geomspace(GRID_MIN_S, hi, GRID_POINTS).tolist()]
    losses = [loss(h) for h in grid]
    best = int(np.argmin(losses))  # first minimum: the smallest floor on a tie
    if best == 0:
        return 0.0, losses[0]
    lo_h, hi_h = grid[best - 1], grid[min(best + 1, len(grid) - 1)]
    h, fh = _golden(loss, lo_h, hi_h)
    return (h, fh) if fh < losses[best] else (grid[best], losses[best])


def _golden(f: Callable[[float], float], a: float, b: float) -> tuple[float, float]:
    """Golden-section search for a minimum of ``f`` on ``[a, b]``: the point and its value."""
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(REFINE_ITERS):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = f(d)
    return (c, fc) if fc <= fd else (d, fd)
