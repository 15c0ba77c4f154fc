"""Topology.successors: the graph's successors without making the graph (NVLS reads it)."""

from __future__ import annotations

import pytest

from simulator.collectives.backend import load_backend
from simulator.collectives.nvls import nvls_efficiency
from simulator.topology import Topology
from simulator.topology.loader import topology_from_dict


def _cluster(nodes: int, fabric: str) -> Topology:
    build = {"type": "cluster", "nodes": nodes, "gpu": "H100-SXM", "nics_per_node": 8}
    build |= {"nic": "ib_ndr", "fabric": fabric, "switch_radix": 32}
    return topology_from_dict({"name": f"h100x{nodes}", "build": build})


@pytest.mark.parametrize(("nodes", "fabric"), [(1, "none"), (4, "rail_optimized")])
def test_successors_are_the_graphs(nodes: int, fabric: str) -> None:
    topo = _cluster(nodes, fabric)
    assert topo._graph is None  # built from a node table: no graph yet
    table = {n: topo.successors(n) for n in topo.node_table}
    assert topo._graph is None  # still none
    graph = topo.graph
    assert table == {n: list(graph.successors(n)) for n in graph.nodes}
    assert all(topo.successors(n) == table[n] for n in table)  # and through the graph
    with pytest.raises(KeyError):
        topo.successors("no-such-node")


def test_nvls_efficiency_without_the_graph() -> None:
    profile = load_backend("nccl")
    lazy, eager = _cluster(2, "rail_optimized"), _cluster(2, "rail_optimized")
    eager.graph  # noqa: B018 (made before: the graph's answer)
    for group in [(0, 1), tuple(range(8)), (0, 8), (3,)]:
        assert nvls_efficiency(lazy, group, profile) == nvls_efficiency(eager, group, profile)
    assert nvls_efficiency(lazy, tuple(range(8)), profile) is not None
    with pytest.raises(KeyError):
        lazy.successors("no-such-node")
    assert lazy._graph is None
