"""A topology built from a node table: the graph made on demand, the same routes without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from simulator.topology import GraphBuilder, Link, LinkKind, NodeKind, Topology
from simulator.topology.builders import cluster, pcie_node, torus
from simulator.topology.routing import Router

_TOPOLOGIES = {
    "fat-tree-3tier": lambda: cluster(
        nodes=4, fabric="fat_tree_3tier", switch_radix=8, nics_per_node=8
    ),
    "rail": lambda: cluster(nodes=2, fabric="rail_optimized", nics_per_node=4, gpus_per_node=4),
    "pcie": lambda: pcie_node(gpus=8),
    "torus": lambda: torus(dims=[3, 4]),
}


def _graph_by_edges(topo: Topology) -> nx.DiGraph:
    """The graph as GraphBuilder made it before the node table: one ``add_node`` per node,
    then both directions of every link in id order."""
    g = nx.DiGraph()
    for n, attrs in topo.node_table.items():
        g.add_node(n, **attrs)
    for lk in topo.links:
        g.add_edge(lk.src, lk.dst, link_id=lk.id, bandwidth_Bps=lk.bandwidth_Bps,
                   latency_s=lk.latency_s, kind=lk.kind)  # fmt: skip
    return g


@pytest.mark.parametrize("name", sorted(_TOPOLOGIES))
def test_graph_made_on_demand_is_the_built_graph(name: str) -> None:
    topo = _TOPOLOGIES[name]()
    assert topo._graph is None  # nothing asked for it yet
    g = topo.graph
    ref = _graph_by_edges(topo)
    assert list(g.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(g.edges(data=True)) == list(ref.edges(data=True))
    assert topo.graph is g  # made once
    # one set of attributes: the table and the graph share them after the graph is made
    first = next(iter(g.nodes))
    assert topo.node_table[first] is g.nodes[first]


@pytest.mark.parametrize("name", sorted(_TOPOLOGIES))
@pytest.mark.parametrize("ecmp", ["hash", "dmodk"])
def test_router_from_table_routes_as_router_from_graph(name: str, ecmp: str) -> None:
    topo = _TOPOLOGIES[name]()
    fast = Router.from_table(topo.node_table, topo.links, topo.ranks, ecmp)
    slow = Router(topo.graph, topo.ranks, ecmp=ecmp)
    for s in range(topo.num_ranks):
        for d in range(topo.num_ranks):
            for key in (0, 3):
                assert fast.route(s, d, key) == slow.route(s, d, key)


def _table() -> tuple[dict[str, dict[str, object]], list[Link]]:
    nodes: dict[str, dict[str, object]] = {
        "a": {"kind": NodeKind.GPU, "host": "a"},
        "s": {"kind": NodeKind.SWITCH, "host": None},
        "b": {"kind": NodeKind.GPU, "host": "b"},
    }
    links = [
        Link(0, "a", "s", 1e9, 0.0, LinkKind.ETHERNET),
        Link(1, "s", "a", 1e9, 0.0, LinkKind.ETHERNET),
        Link(2, "s", "b", 1e9, 0.0, LinkKind.ETHERNET),
        Link(3, "b", "s", 1e9, 0.0, LinkKind.ETHERNET),
    ]
    return nodes, links


def test_table_topology_routes_and_counts() -> None:
    nodes, links = _table()
    topo = Topology("t", nodes, links)
    assert topo.ranks == ["a", "b"]
    assert topo.route(0, 1) == (0, 2)
    assert topo.nodes_of_kind("switch") == ["s"]
    assert "nodes=3, links=4" in repr(topo)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (lambda ls: [*ls, Link(4, "a", "s", 1e9, 0.0, LinkKind.ETHERNET)], "same ordered pair"),
        (lambda ls: [*ls, Link(4, "a", "x", 1e9, 0.0, LinkKind.ETHERNET)], "two nodes"),
        (lambda ls: [*ls, Link(4, "a", "a", 1e9, 0.0, LinkKind.ETHERNET)], "two nodes"),
        (lambda ls: [*ls, Link(7, "a", "b", 1e9, 0.0, LinkKind.ETHERNET)], "expected 4"),
    ],
    ids=["duplicate", "unknown-node", "self-loop", "id"],
)
def test_table_topology_refuses_inconsistent_links(bad, match) -> None:  # type: ignore[no-untyped-def]
    nodes, links = _table()
    with pytest.raises(ValueError, match=match):
        Topology("t", nodes, bad(links))


def test_builder_lookups() -> None:
    gb = GraphBuilder()
    gb.add_node("a", "gpu")
    gb.add_node("s", "switch")
    gb.add_link("a", "s", 1e9, 0.0, "ethernet")
    assert gb.has_node("a") and not gb.has_node("x")
    assert gb.has_link("a", "s") and gb.has_link("s", "a") and not gb.has_link("a", "a")
    with pytest.raises(ValueError, match="defined twice"):
        gb.add_link("s", "a", 1e9, 0.0, "ethernet")


def test_a_collective_does_not_import_networkx() -> None:
    """Simulating a collective on a built topology never needs the graph (start-up time)."""
    code = (
        "import json, sys\n"
        "from simulator.collectives import simulate_collective\n"
        "from simulator.topology import load_topology\n"
        "r = simulate_collective(load_topology('dgx-a100-2node'), 'all_reduce', 2**20)\n"
        "print(json.dumps(['networkx' in sys.modules, r.time_s > 0]))\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, True]


def test_block_buffer_is_a_whole_writable_block() -> None:
    from simulator.topology.routing import BLOCK, _held, block_buffer

    buf = block_buffer(5)
    assert buf.shape == (5, BLOCK) and buf.dtype.name == "int8" and buf.flags.writeable
    view = buf[:, :3]
    view.fill(-1)
    assert (buf[:, :3] == -1).all()
    assert _held(view) == 5 * BLOCK  # a narrow block still counts its whole buffer
    assert view.base is not None and view.base.reshape(5, BLOCK).shape == (5, BLOCK)
    assert block_buffer(0).shape == (0, BLOCK)
