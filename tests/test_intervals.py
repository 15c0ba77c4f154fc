"""simulator.engine.intervals gives the floats of simulator.engine.breakdown, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine import breakdown as ref
from simulator.engine.intervals import breakdown_of, exposed, overlap, union

# coarse grids make ties, touching and nested intervals common; fine floats make round-off
_T = st.one_of(
    st.integers(0, 12).map(lambda k: k * 0.25),
    st.floats(0.0, 3.0, allow_nan=False, allow_infinity=False),
)
_IVS = st.lists(st.tuples(_T, _T), max_size=30)


def _arrays(ivs: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([a for a, _ in ivs], dtype=float), np.array([b for _, b in ivs], dtype=float)


@settings(max_examples=300)
@given(ivs=_IVS)
def test_union_is_merge(ivs: list[tuple[float, float]]) -> None:
    u = union(*_arrays(ivs))
    want = ref.merge(ivs)
    assert list(zip(u.starts.tolist(), u.ends.tolist(), strict=True)) == want
    assert u.measure() == ref.measure(want)


@settings(max_examples=300)
@given(x=_IVS, y=_IVS, total=_T)
def test_overlap_breakdown_and_exposed_are_the_loops(
    x: list[tuple[float, float]], y: list[tuple[float, float]], total: float
) -> None:
    ux, uy = union(*_arrays(x)), union(*_arrays(y))
    mx, my = ref.merge(x), ref.merge(y)
    assert overlap(ux, uy) == ref.intersection_measure(mx, my)
    assert overlap(uy, ux) == ref.intersection_measure(my, mx)
    assert breakdown_of(ux, uy, total) == ref.breakdown(x, y, total)
    assert exposed(uy, ux) == ref.exposed_of(y, mx)


def test_nan_and_empty_intervals_are_dropped() -> None:
    u = union(np.array([0.0, 1.0, np.nan, 2.0]), np.array([1.0, 1.0, 3.0, np.nan]))
    assert u.starts.tolist() == [0.0] and u.ends.tolist() == [1.0]
    empty = union(np.zeros(0), np.zeros(0))
    assert empty.measure() == 0.0 and overlap(empty, u) == 0.0
