"""``Topology.may_route_over``: never rules out a pair whose route uses one of the links (both
equal-cost policies, several shipped topologies, links at endpoints, inside a node and across
tiers), rules out most pairs that cannot, and defers to a subclass's own routes."""

from __future__ import annotations

import random

import pytest
from test_routing_prefetch import three_tier_512

from simulator.faults.network import FaultedTopology
from simulator.topology import Topology, load_topology
from simulator.workload.strategies.context import JobContext

NAMES = ["dgx-h100-32node", "dgx-a100-superpod", "two-dc-wan", "pcie-8gpu", "three-tier"]


def _load(name: str, ecmp: str) -> Topology:
    topo = three_tier_512() if name == "three-tier" else load_topology(name)
    topo.set_ecmp(ecmp)
    return topo


@pytest.mark.parametrize("ecmp", ["hash", "dmodk"])
@pytest.mark.parametrize("name", NAMES)
def test_no_pair_whose_route_uses_the_links_is_ruled_out(name: str, ecmp: str) -> None:
    topo = _load(name, ecmp)
    n = topo.num_ranks
    rng = random.Random(5)
    pairs = list(dict.fromkeys((rng.randrange(n), rng.randrange(n)) for _ in range(1500)))
    pairs = [(a, b) for a, b in pairs if a != b]
    routes = {p: set(topo.route(*p)) for p in pairs}
    ruled_out = checked = 0
    for own in pairs[:12]:
        links = sorted(routes[own])
        for sub in (links, links[:1], links[-1:], links[1:-1]):  # ends, inner links, all
            maybe = topo.may_route_over(sub, pairs)
            assert len(maybe) == len(pairs)
            for p, m in zip(pairs, maybe, strict=True):
                if routes[p] & set(sub):
                    assert m, f"{name}/{ecmp}: {p} uses {sorted(routes[p] & set(sub))}"
                ruled_out += not m
                checked += 1
    assert ruled_out > checked // 4  # a filter that prunes, not one that says yes


def test_pairs_sharing_links_are_what_mirror_pairs_keeps() -> None:
    """The folded builder's mirror pairs with the filter equal the brute force over routes."""
    topo = _load("three-tier", "dmodk")
    ctx = JobContext.__new__(JobContext)  # only the topology and the route cache are used
    ctx.topology, ctx._route_cache = topo, {}
    n = topo.num_ranks
    for src, dst in [(0, 64), (3, 300), (17, 18), (5, 509)]:
        cands = [(a, (a + dst - src) % n) for a in range(n) if a != src]
        own = set(topo.route(src, dst))
        expected = [(a, b) for a, b in cands if a != b and set(topo.route(a, b)) & own]
        assert ctx.mirror_pairs(src, dst, [(a, b) for a, b in cands if a != b]) == expected


def test_a_subclass_that_relays_rules_nothing_out() -> None:
    base = load_topology("dgx-a100-2node")
    down = next(lk.id for lk in base.links if (lk.src, lk.dst) == ("node0.gpu0", "node0.pcie0"))
    topo = FaultedTopology(base, list(base.links), frozenset({down}), ["gpu0 pcie down"])
    assert topo.may_route_over([0], [(1, 9), (2, 10)]) == [True, True]


def test_no_links_or_no_pairs() -> None:
    topo = load_topology("dgx-a100-2node")
    assert topo.may_route_over([], [(0, 9)]) == [False]
    assert topo.may_route_over([0], []) == []
