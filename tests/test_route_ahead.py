"""SimContext.route_ahead: routing every candidate of many collectives in one batch before they
are resolved one by one changes no route and no choice, and leaves nothing to route after."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.collectives.choice import Choice
from simulator.collectives.context import AHEAD_MAX_RANKS, SimContext
from simulator.core.errors import InputError
from simulator.topology import Topology, load_topology

Key = tuple[str, tuple[int, ...], float, str, int]


def _keys() -> list[Key]:
    """Data-parallel all-reduces over strided groups of 16, TP collectives inside a node,
    a broadcast with a root, and an explicit algorithm."""
    keys: list[Key] = []
    for t in range(4):
        group = tuple(range(t, 1024, 64))
        keys += [("all_reduce", group, 160e6, "auto", 0), ("all_reduce", group, 1e5, "auto", 0)]
    keys += [("all_gather", tuple(range(8, 16)), 25e6, "auto", 0)]
    keys += [("reduce_scatter", tuple(range(8, 16)), 25e6, "auto", 0)]
    keys += [("broadcast", (0, 64, 128, 192), 1e6, "auto", 2)]
    keys += [("all_reduce", tuple(range(32, 48)), 1e7, "ring", 0)]
    return keys


def _topology(ecmp: str) -> Topology:
    topo = load_topology("fat-tree-1024")
    topo.set_ecmp(ecmp)
    return topo


def _same(a: Choice, b: Choice) -> None:
    assert (a.schedule, a.protocol, a.estimate_s, a.costs, a.floors_s) == (
        b.schedule,
        b.protocol,
        b.estimate_s,
        b.costs,
        b.floors_s,
    )
    assert len(a.planned) == len(b.planned)
    for pa, pb in zip(a.planned, b.planned, strict=True):
        assert pa.transfers == pb.transfers and pa.paths == pb.paths
        np.testing.assert_array_equal(pa.wire_B, pb.wire_B)
        np.testing.assert_array_equal(pa.payload_B, pb.payload_B)


@pytest.mark.parametrize("ecmp", ["dmodk", "hash"])
def test_routed_ahead_choices_equal_choices_routed_on_demand(ecmp: str) -> None:
    alone = SimContext(_topology(ecmp), "nccl")
    expected = [alone.choose(op, g, s, a, root=r) for op, g, s, a, r in _keys()]
    topo = _topology(ecmp)
    ahead = SimContext(topo, "nccl")
    ahead.route_ahead(_keys())
    routed = dict(topo._route_cache)
    assert routed
    got = [ahead.choose(op, g, s, a, root=r) for op, g, s, a, r in _keys()]
    for a, b in zip(got, expected, strict=True):
        _same(a, b)
    assert topo._route_cache == routed  # every route the choices needed was routed ahead


def test_large_groups_and_bad_collectives_are_left_to_choose() -> None:
    topo = _topology("dmodk")
    ctx = SimContext(topo, "nccl")
    big = tuple(range(0, 1024, 1024 // (2 * AHEAD_MAX_RANKS)))
    assert len(big) > AHEAD_MAX_RANKS
    ctx.route_ahead([("all_reduce", big, 1e6, "auto", 0)])
    assert not topo._route_cache
    bad = [("all_reduce", (0, 64), 1e6, "nvls", 0), ("all_reduce", (0, 9999), 1.0, "auto", 0)]
    ctx.route_ahead(bad)  # nothing raised here: resolving raises
    for op, g, s, a, r in bad:
        with pytest.raises(InputError):
            ctx.choose(op, g, s, a, root=r)
