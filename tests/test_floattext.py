"""float_reprs is repr per value, through its per-distinct-value path too."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.report.floattext import float_reprs


@pytest.mark.parametrize(
    "extra", [[], [-0.0], [float("nan")], [float("inf")], [0.0, 0.1 + 0.2, 0.3]]
)
def test_float_reprs_is_repr(extra: list[float]) -> None:
    rng = np.random.default_rng(2)
    few = rng.normal(size=5) * 1e-5  # repetitive: the per-distinct-value path
    values = np.concatenate([rng.choice(few, 500), np.array(extra, dtype=float)])
    assert float_reprs(values) == [repr(float(v)) for v in values]
    many = rng.normal(size=300) * 10.0 ** rng.integers(-30, 30, 300)
    assert float_reprs(many) == [repr(float(v)) for v in many]
