"""The timeline PNG's bars: built with numpy, the same rectangles ``broken_barh`` draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

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
