"""Routing: shortest, never through an endpoint, deterministic ECMP that spreads."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from functools import cache

import networkx as nx
import pytest

from simulator.topology import GraphBuilder, NodeKind, Topology, load_topology
from simulator.topology.builders import cluster, pcie_node, torus


@cache
def _fat_tree_1024() -> Topology:
    return load_topology("fat-tree-1024")


def _endpoints_inside(topo: Topology, path: tuple[int, ...]) -> list[str]:
    inner = topo.path_nodes(path)[1:-1]
    return [n for n in inner if NodeKind(topo.graph.nodes[n]["kind"]).is_endpoint]


def _reference_hops(topo: Topology, s: int, d: int) -> int:
    """Hop count by networkx on the graph without the other endpoints."""
    keep = [
        n
        for n, k in topo.graph.nodes(data="kind")
        if not NodeKind(k).is_endpoint or n in (topo.ranks[s], topo.ranks[d])
    ]
    return int(nx.shortest_path_length(topo.graph.subgraph(keep), topo.ranks[s], topo.ranks[d]))


def _check_path(topo: Topology, s: int, d: int, path: tuple[int, ...]) -> None:
    nodes = topo.path_nodes(path)
    assert nodes[0] == topo.ranks[s] and nodes[-1] == topo.ranks[d]
    for a, b in itertools.pairwise(path):  # consecutive links connect
        assert topo.links[a].dst == topo.links[b].src
    assert not _endpoints_inside(topo, path)


@pytest.mark.parametrize(
    "topo",
    [
        cluster(nodes=3, fabric="fat_tree", leaf_down_ports=8, switch_radix=16),
        cluster(nodes=2, fabric="rail_optimized", nics_per_node=4, gpus_per_node=4),
        pcie_node(gpus=8),
        torus(dims=[3, 4]),
    ],
    ids=["fat-tree", "rail", "pcie", "torus"],
)
def test_all_pairs_shortest_and_endpoint_free(topo: Topology) -> None:
    for s in range(topo.num_ranks):
        for d in range(topo.num_ranks):
            path = topo.route(s, d)
            if s == d:
                assert path == ()
                continue
            _check_path(topo, s, d, path)
            assert len(path) == _reference_hops(topo, s, d)


@pytest.mark.parametrize("name", ["fat-tree-1024", "dgx-a100-superpod", "two-dc-wan"])
def test_large_topologies_sampled(name: str) -> None:
    topo = _fat_tree_1024() if name == "fat-tree-1024" else load_topology(name)
    n = topo.num_ranks
    for s, d in [(0, n - 1), (1, n // 2), (7, 8), (n // 3, 2 * n // 3 + 5)]:
        path = topo.route(s, d, key=3)
        _check_path(topo, s, d, path)
        assert len(path) == _reference_hops(topo, s, d)


def test_gpu_never_forwards_even_when_shorter() -> None:
    # a -- g1 -- b is 2 hops through an endpoint; a -- s1 -- s2 -- b is 3 hops without.
    gb = GraphBuilder()
    for n, k in [("a", "gpu"), ("g1", "gpu"), ("b", "gpu"), ("s1", "switch"), ("s2", "switch")]:
        gb.add_node(n, k)
    for u, v in [("a", "g1"), ("g1", "b"), ("a", "s1"), ("s1", "s2"), ("s2", "b")]:
        gb.add_link(u, v, 1e9, 1e-6, "ethernet")
    topo = gb.build("t", ranks=["a", "g1", "b"])
    assert topo.path_nodes(topo.route(0, 2)) == ["a", "s1", "s2", "b"]
    assert topo.path_nodes(topo.route(0, 1)) == ["a", "g1"]


def test_unreachable_raises() -> None:
    gb = GraphBuilder()
    gb.add_node("a", "cpu")
    gb.add_node("b", "cpu")
    topo = gb.build("t")
    with pytest.raises(ValueError, match="no route"):
        topo.route(0, 1)
    with pytest.raises(IndexError):
        topo.route(0, 5)


def test_path_latency_and_bottleneck() -> None:
    topo = load_topology("dgx-a100-2node")
    intra = topo.route(0, 1)
    assert topo.path_bandwidth_Bps(intra) == pytest.approx(300e9)  # NVLink3 per direction
    inter = topo.route(0, 8)
    assert topo.path_bandwidth_Bps(inter) == pytest.approx(25e9)  # HDR 200 Gb/s
    assert topo.path_latency_s(inter) == pytest.approx(sum(topo.links[i].latency_s for i in inter))
    assert topo.path_bandwidth_Bps(()) == float("inf")


def test_hash_ecmp_spreads_over_all_spines_by_key() -> None:
    topo = load_topology("fat-tree-1024")
    topo.set_ecmp("hash")
    spines = Counter(topo.path_nodes(topo.route(0, 1000, key=k))[4] for k in range(64))
    assert set(spines) == set(n for n in topo.nodes_of_kind("switch") if n.startswith("spine"))


def test_ecmp_spreads_over_uplinks_across_pairs() -> None:
    topo = cluster(nodes=16, fabric="fat_tree", switch_radix=32)  # 8 leaves, 4 spines
    n = topo.num_ranks
    uplinks: Counter[str] = Counter()
    for s in range(0, 16):  # leaf0's NICs (node0, node1)
        for d in range(n // 2, n):
            path = topo.route(s, d)
            uplinks[topo.path_nodes(path)[4]] += 1
    counts = sorted(uplinks.values())
    assert len(counts) == len([x for x in topo.nodes_of_kind("switch") if "spine" in x]) == 4
    assert counts[-1] <= 1.5 * counts[0]


def test_same_route_for_same_key_and_cache() -> None:
    topo = _fat_tree_1024()
    assert topo.route(5, 900, key=2) == topo.route(5, 900, key=2)
    fresh = load_topology("fat-tree-1024")
    assert [fresh.route(5, d, key=k) for d in (900, 17, 512) for k in range(4)] == [
        topo.route(5, d, key=k) for d in (900, 17, 512) for k in range(4)
    ]


def test_routes_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "import json; from simulator.topology import load_topology;"
        "t = load_topology('dgx-a100-8node');"
        "print(json.dumps([t.route(s, (s * 37 + 20) % 64, key=s % 5) for s in range(64)]))"
    )
    outs = []
    for seed in ("1", "12345")[:1]:
        env = dict(os.environ, PYTHONHASHSEED=seed)
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outs.append(json.loads(res.stdout))
    topo = load_topology("dgx-a100-8node")
    here = [list(topo.route(s, (s * 37 + 20) % 64, key=s % 5)) for s in range(64)]
    assert outs[0] == here  # this process runs under a different (random) hash seed


def test_distance_cache_eviction_keeps_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A router whose distance-block cache holds one block routes exactly as one that keeps
    them all (evicted blocks are recomputed, never approximated)."""
    import simulator.topology.routing as routing

    pairs = [(i, (i * 389 + 7) % 1024) for i in range(0, 1024, 3)]
    pairs += [(b, a) for a, b in pairs]
    full = load_topology("fat-tree-1024")
    want = [full.route(a, b, a % 4) for a, b in pairs]
    monkeypatch.setattr(routing, "_CACHE_BYTES", 1)
    small = load_topology("fat-tree-1024")
    assert [small.route(a, b, a % 4) for a, b in pairs] == want
    assert len(small._router._blocks) == 1  # type: ignore[union-attr]
