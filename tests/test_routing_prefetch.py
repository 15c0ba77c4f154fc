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


def test_dense_destinations_are_left_to_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash ECMP, destinations filling their blocks: routing them in order sweeps each block
    once, so prefetching leaves them to route."""
    topo = _fresh("hash")
    sweeps = _sweeps(monkeypatch)
    topo.prefetch_routes([(d, (d + 1) % topo.num_ranks, 0) for d in range(topo.num_ranks)])
    assert sweeps[0] == 0


def three_tier_512() -> Topology:
    """64 nodes of 8 H100 (8 NDR NICs each) on a three-tier fat tree of radix-16 switches."""
    from simulator.topology import topology_from_dict

    build = {
        "type": "cluster",
        "nodes": 64,
        "gpu": "H100-SXM",
        "nics_per_node": 8,
        "nic": "ib_ndr",
        "fabric": "fat_tree_3tier",
        "switch_radix": 16,
    }
    return topology_from_dict({"name": "ft3-512", "build": build})


@pytest.mark.parametrize("name", ["fat-tree-1024", "dgx-h100-32node", "three-tier"])
def test_dmodk_routes_walked_together_equal_routes_one_by_one(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """D-mod-K routes of many pairs, walked together with numpy (dense and strided
    destinations, pairs inside a node, a cache of one block), are the one-by-one routes."""

    def load() -> Topology:
        topo = three_tier_512() if name == "three-tier" else load_topology(name)
        topo.set_ecmp("dmodk")
        return topo

    one = load()
    n = one.num_ranks
    pairs = [(a, (a * 37 + 11) % n) for a in range(n)]  # dense, scattered destinations
    pairs += [(a, a ^ 1) for a in range(0, n, 3)]  # inside a node
    pairs += [(b, a) for a, b in _pairs(n)]  # strided
    pairs = [(a, b) for a, b in dict.fromkeys(pairs) if a != b]
    expected = [one.route(a, b) for a, b in pairs]
    monkeypatch.setattr(routing, "_CACHE_BYTES", 1)
    many = load()
    sweeps = _sweeps(monkeypatch)
    many.prefetch_routes([(a, b, 0) for a, b in pairs])
    swept = sweeps[0]
    assert [many.route(a, b) for a, b in pairs] == expected
    assert sweeps[0] == swept  # every route came from the prefetch
    assert swept <= -(-n // routing.BLOCK) + 1  # about one sweep per block of destinations


def test_route_many_refuses_hash_ecmp() -> None:
    topo = _fresh("hash")
    router = topo._get_router()
    with pytest.raises(ValueError, match="D-mod-K"):
        router.route_many([(0, 1)])
