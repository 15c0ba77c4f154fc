"""simulator.engine.streams._link: each predecessor once, ascending, as a set would give."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulator.engine.streams import _link


@given(
    prev=st.none() | st.integers(0, 5),
    deps=st.lists(st.integers(0, 5), max_size=4).map(tuple),
)
def test_link_counts_each_predecessor_once_in_order(
    prev: int | None, deps: tuple[int, ...]
) -> None:
    ids = {i: 10 * i for i in range(6)}  # op id -> global index
    waits: list[int] = []
    dependents: list[list[int]] = [[] for _ in range(60)]
    _link(99, None if prev is None else 10 * prev, deps, ids, waits, dependents)
    want = {ids[d] for d in deps} | ({10 * prev} if prev is not None else set())
    assert waits == [len(want)]
    assert [p for p, ds in enumerate(dependents) if ds] == sorted(want)
    assert all(ds == [99] for ds in dependents if ds)
