"""Routing many pairs at once (strided destinations, as a data-parallel group) gives exactly
the routes of routing them one by one, with fewer breadth-first sweeps."""

from __future__ import annotations

import pytest

import simulator.topology.routing as routing
from simulator.topology import Topology, load_topology

# A data-parallel ring over every 8th rank of a 1,024-GPU fat tree: its destinations are
# strided, one per block of consecutive ranks.
STRIDE = 8


def _pairs(n: int) -> list[tuple[int, int]]:
    group = list(range(3, n, STRIDE))
    ring = [(a, b) for a, b in zip(group, group[1:] + group[:1], strict=True)]
    back = [(b, a) for a, b in ring]
    return ring + back


def _sweeps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = routing.Router._distance_block

    def counted(self: routing.Router, dest_ranks: list[int]) -> object:
        calls[0] += 1
        return original(self, dest_ranks)

    monkeypatch.setattr(routing.Router, "_distance_block", counted)
    return calls


def _fresh(ecmp: str) -> Topology:
    topo = load_topology("fat-tree-1024")
    topo.set_ecmp(ecmp)
    return topo


@pytest.mark.parametrize("ecmp", ["hash", "dmodk"])
@pytest.mark.parametrize("key", [0, 3])
def test_prefetched_routes_equal_routes_one_by_one(
    monkeypatch: pytest.MonkeyPatch, ecmp: str, key: int
) -> None:
    # a cache of two blocks: routing one by one evicts, prefetching must not depend on it
    block_B = 4 * routing.BLOCK * 2**10
    one = _fresh(ecmp)
    pairs = _pairs(one.num_ranks)
    monkeypatch.setattr(routing, "_CACHE_BYTES", 2 * block_B)
    expected = [one.route(a, b, key) for a, b in pairs]
    many = _fresh(ecmp)
    sweeps = _sweeps(monkeypatch)
    many.prefetch_routes([(a, b, key) for a, b in pairs])
    assert sweeps[0] == 1  # 128 strided destinations: one block
    assert [many.route(a, b, key) for a, b in pairs] == expected
    assert sweeps[0] == 1  # every route came from the cache


def test_prefetch_is_a_no_op_when_every_route_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    topo = _fresh("dmodk")
    pairs = _pairs(topo.num_ranks)
    topo.prefetch_routes([(a, b, 0) for a, b in pairs])
    sweeps = _sweeps(monkeypatch)
    topo.prefetch_routes([(a, b, 0) for a, b in pairs])
    topo.prefetch_routes([(5, 5, 0)])  # a self pair has no route to compute
    assert sweeps[0] == 0


def test_prefetch_many_blocks_keeps_only_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """More destinations than the cache holds: swept block by block, each routed before the
    next sweep, so no block is computed twice."""
    topo = _fresh("hash")
    n = topo.num_ranks
    pairs = [(d, (d + 17) % n) for d in range(0, n, 2)]  # every 2nd rank of 4 blocks: sparse
    monkeypatch.setattr(routing, "_CACHE_BYTES", 1)  # keeps one block at a time
    sweeps = _sweeps(monkeypatch)
    topo.prefetch_routes([(a, b, 0) for a, b in pairs])
    assert sweeps[0] == n // (2 * routing.BLOCK)
    ref = _fresh("hash")
    assert [topo.route(a, b) for a, b in pairs] == [ref.route(a, b) for a, b in pairs]


def test_routes_of_several_keys_share_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels (keys) of one destination are routed from one sweep."""
    topo = _fresh("hash")
    pairs = _pairs(topo.num_ranks)
    monkeypatch.setattr(routing, "_CACHE_BYTES", 1)
    sweeps = _sweeps(monkeypatch)
    topo.prefetch_routes([(a, b, k) for k in range(4) for a, b in pairs])
    assert sweeps[0] == 1


def test_dense_destinations_sweep_consecutive_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Destinations filling their blocks: swept as ``route`` sweeps them, each block of
    consecutive ranks once, and walked together (the same routes)."""
    topo = _fresh("dmodk")
    sweeps = _sweeps(monkeypatch)
    pairs = [(d, (d + 1) % topo.num_ranks) for d in range(topo.num_ranks)]
    topo.prefetch_routes([(a, b, 0) for a, b in pairs])
    assert sweeps[0] == topo.num_ranks // routing.BLOCK
    ref = _fresh("dmodk")
    assert [topo.route(a, b) for a, b in pairs] == [ref.route(a, b) for a, b in pairs]
    assert sweeps[0] == 2 * topo.num_ranks // routing.BLOCK  # ref swept its own blocks
