"""simulator.workload.strategies.context: dependency lists drop no-op collectives (``None``)
and nothing else, in order (the fast path that returns the tuple as given included)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulator.core.ir import Program
from simulator.workload.strategies.context import RankBuilder, deps_of

_DEPS = st.lists(st.none() | st.integers(0, 5), max_size=4)


@given(_DEPS)
def test_deps_of_drops_only_none(ids: list[int | None]) -> None:
    assert deps_of(*ids) == tuple(i for i in ids if i is not None)


@given(_DEPS)
def test_compute_keeps_every_real_dependency(ids: list[int | None]) -> None:
    rb = RankBuilder(ctx=None, prog=Program(rank=0), t=0, p=0, d=0)  # type: ignore[arg-type]
    g = rb.compute("c", -1.0, deps=ids, category="fwd")
    op = rb.prog.ops[g]
    assert op.deps == tuple(i for i in ids if i is not None)
    assert type(op.deps) is tuple and op.duration_s == 0.0  # type: ignore[union-attr]
