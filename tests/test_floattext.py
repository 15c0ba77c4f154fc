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


def test_float_reprs_groups_by_bits_never_by_equality() -> None:
    """Repeated -0.0 beside 0.0, NaNs of two payloads, infinities and subnormals, in a column
    repetitive enough for the grouped path: each value keeps its own repr."""
    rng = np.random.default_rng(5)
    other_nan = np.frombuffer(np.array([0x7FF8000000000001], dtype=np.int64).tobytes())[0]
    pool = np.array(
        [0.0, -0.0, np.nan, other_nan, np.inf, -np.inf, 5e-324, -5e-324, 1e16, 1e-4, 0.1 + 0.2]
    )
    values = rng.choice(pool, 5000)
    assert len(np.unique(values.view(np.int64))) < 0.5 * len(values)  # the grouped path
    assert float_reprs(values) == [repr(float(v)) for v in values]
    strided = np.repeat(rng.normal(size=40), 50)[::3]  # a non-contiguous view
    assert float_reprs(strided) == [repr(float(v)) for v in strided]
    assert float_reprs(np.zeros(0)) == []
