"""simulator.core.fastinit: the IR ops' ``__init__`` builds what the dataclass's own builds."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.fastinit import fast_frozen_init, positional_factory
from simulator.core.ir import Collective, Compute, Program, Recv, Send
from simulator.core.vocab import Algorithm, CollectiveOp

OPS = (Compute, Collective, Send, Recv)

_BY_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(0, 10**6),
    "name": st.text(max_size=8),
    "stream": st.sampled_from(["compute", "comm", "comm.tp"]),
    "deps": st.lists(st.integers(0, 99), max_size=3).map(tuple),
    "category": st.sampled_from(["", "fwd", "tp"]),
    "layer": st.integers(-1, 95),
    "microbatch": st.integers(-1, 15),
    "duration_s": st.none() | st.floats(0, 1),
    "flops": st.floats(0, 1e15),
    "bytes_accessed_B": st.floats(0, 1e12),
    "op": st.sampled_from(list(CollectiveOp)),
    "group": st.lists(st.integers(0, 63), min_size=1, max_size=4).map(tuple),
    "size_B": st.floats(0, 1e10),
    "algo": st.sampled_from(list(Algorithm)),
    "root": st.integers(0, 3),
    "match_key": st.none() | st.text(max_size=4),
    "mirrors": st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=2).map(tuple),
    "peer": st.integers(0, 63),
    "tag": st.integers(0, 9),
}


@st.composite
def _kwargs(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    """Keyword arguments for ``cls``: every required field, each optional one or not."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING
        if required or draw(st.booleans()):
            out[f.name] = draw(_BY_FIELD[f.name])
    return out


@pytest.mark.parametrize("cls", OPS, ids=lambda c: c.__name__)
@given(data=st.data())
def test_fast_init_builds_what_the_dataclass_builds(cls: type, data: st.DataObject) -> None:
    kwargs = data.draw(_kwargs(cls))
    fast = cls(**kwargs)
    slow: Any = object.__new__(cls)
    cls.__dataclass_init__(slow, **kwargs)  # type: ignore[attr-defined]
    assert fast == slow and hash(fast) == hash(slow)
    for f in dataclasses.fields(cls):
        assert getattr(fast, f.name) is getattr(slow, f.name)
    assert repr(fast) == repr(slow)
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert dataclasses.replace(fast, id=7) == dataclasses.replace(slow, id=7)


@pytest.mark.parametrize("cls", OPS, ids=lambda c: c.__name__)
def test_fast_init_refuses_what_the_dataclass_refuses(cls: type) -> None:
    ok = {"id": 0, "name": "x", "stream": "s", "op": CollectiveOp.ALL_REDUCE, "group": (0, 1)}
    ok |= {"size_B": 1.0, "peer": 1}
    ok = {k: v for k, v in ok.items() if k in {f.name for f in dataclasses.fields(cls)}}
    op = cls(**ok)
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.id = 3
    with pytest.raises(TypeError):
        cls(**ok, unknown=1)
    with pytest.raises(TypeError):
        cls(0, **{k: v for k, v in ok.items() if k != "id"})  # keyword-only
    with pytest.raises(TypeError):
        cls(**{k: v for k, v in ok.items() if k != "name"})  # a required field missing


def test_program_helpers_number_ops_and_keep_fields() -> None:
    p = Program(rank=3)
    a = p.compute("f", duration_s=1e-3, deps=[], layer=2)
    b = p.collective(
        "ar", op=CollectiveOp.ALL_REDUCE, group=[3, 4], size_B=8.0, deps=[a], mirrors=[[5, 6]]
    )
    c = p.collective("ag", op=CollectiveOp.ALL_GATHER, group=(3, 4), size_B=8.0)
    assert (a, b, c) == (0, 1, 2)
    assert p.ops[1] == Collective(
        id=1,
        name="ar",
        stream="comm",
        deps=(0,),
        op=CollectiveOp.ALL_REDUCE,
        group=(3, 4),
        size_B=8.0,
        mirrors=((5, 6),),
    )
    last = p.ops[2]
    assert isinstance(last, Collective) and last.mirrors == ()
    assert p.ops[0] == Compute(id=0, name="f", stream="compute", duration_s=1e-3, layer=2)


def test_only_frozen_slotted_keyword_dataclasses() -> None:
    @dataclasses.dataclass(slots=True, kw_only=True)
    class Mutable:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Factory:
        x: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Positional:
        x: int

    for cls in (Mutable, Factory, Positional):
        with pytest.raises(TypeError):
            fast_frozen_init(cls)


@given(data=st.data())
def test_program_helpers_build_what_the_constructors_build(data: st.DataObject) -> None:
    """Every field reaches its place (the helpers pass them positionally, in field order);
    sequences arrive as tuples."""
    c, k = data.draw(_kwargs(Collective)), data.draw(_kwargs(Compute))
    c.pop("id"), k.pop("id")
    p = Program(rank=0)
    as_lists = {"deps": list(c.get("deps", ())), "group": list(c["group"])}
    as_lists["mirrors"] = [list(m) for m in c.get("mirrors", ())]
    p.collective(**(c | as_lists))
    p.compute(**(k | {"deps": list(k.get("deps", ()))}))
    assert p.ops == [Collective(id=0, **c), Compute(id=1, **k)]
    assert all(type(getattr(p.ops[0], n)) is tuple for n in ("deps", "group", "mirrors"))


def test_positional_factory_needs_the_fast_init() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Plain:
        x: int

    with pytest.raises(TypeError):
        positional_factory(Plain)
    make = positional_factory(fast_frozen_init(Plain))
    assert make(3) == Plain(x=3)
