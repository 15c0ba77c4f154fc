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


def test_grouped_texts_is_fmt_per_row() -> None:
    """Rows of int, bool and float columns, repetitive (grouped) or not (row by row): the
    texts fmt gives each row; -0.0 and 0.0, ints beyond 2**53, uint64 above 2**63 kept apart."""
    from simulator.report.floattext import grouped_texts

    rng = np.random.default_rng(6)
    n = 3000
    a = rng.choice(np.array([-1, 0, 7, 2**62 + 1, 2**62], dtype=np.int64), n)
    f = rng.choice(np.array([0.0, -0.0, np.nan, 1.5]), n)
    b = rng.random(n) < 0.5
    u = rng.choice(np.array([2**64 - 1, 2**63, 3], dtype=np.uint64), n)

    def fmt(*row: object) -> str:
        return "|".join(map(repr, row))

    for cols in ([a], [a, f], [a, f, b, u], [rng.integers(0, 10**9, n)], [a[::2], f[1::2]]):
        want = [fmt(*row) for row in zip(*(c.tolist() for c in cols), strict=True)]
        assert grouped_texts(cols, fmt) == want
    assert grouped_texts([a[:10]], str) == [str(x) for x in a[:10].tolist()]
