"""The numpy connectivity check (``component_roots``) finds networkx's connected components,
and ``check_connected`` still names the cut of a disconnected topology."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

from simulator.core.errors import InputError
from simulator.topology import GraphBuilder, load_topology
from simulator.topology.connectivity import check_connected, component_roots


@pytest.mark.parametrize("seed", range(8))
def test_roots_are_networkx_components(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 5, 60, 500])
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randrange(2 * n))]
    if seed == 0:  # a long chain in descending order: many hooking rounds
        edges = [(i + 1, i) for i in range(n - 1)][::-1]
    u = np.array([a for a, _ in edges], dtype=np.int64)
    v = np.array([b for _, b in edges], dtype=np.int64)
    roots = component_roots(n, u, v).tolist()
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    want = [0] * n
    for comp in nx.connected_components(g):
        for x in comp:
            want[x] = min(comp)
    assert roots == want


def test_check_connected_passes_shipped_and_names_the_isolated_rank() -> None:
    check_connected(load_topology("two-dc-wan"), "two-dc-wan.yaml")
    gb = GraphBuilder()
    for name in ("a", "b", "c"):
        gb.add_node(name, "gpu")
    gb.add_node("sw", "switch")
    gb.add_link("a", "sw", 1e9, 1e-6, "ethernet")
    gb.add_link("b", "sw", 1e9, 1e-6, "ethernet")
    with pytest.raises(InputError, match="rank node 'c' is not connected"):
        check_connected(gb.build("t"), "t.yaml")
