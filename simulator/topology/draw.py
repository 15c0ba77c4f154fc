"""Drawing a topology to a PNG with matplotlib (called by ``commsim topology show --png``).

Small topologies (at most :data:`DETAIL_LIMIT` nodes) are drawn node by node; larger ones at
switch level: every host with its GPUs, NVSwitch, PCIe switches and NICs becomes one box.
Layers: hosts/endpoints at the bottom, then switch tiers (leaf, spine, core), gateways on top.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from simulator.topology.model import NodeKind, Topology
from simulator.topology.summary import switch_tiers

#: Above this many nodes the drawing is at switch level (hosts contracted).
DETAIL_LIMIT = 120

_COLORS = {
    "gpu": "#76b900",
    "cpu": "#4c72b0",
    "nvswitch": "#2ca02c",
    "pcie_switch": "#8c564b",
    "nic": "#9467bd",
    "switch": "#1f77b4",
    "gateway": "#d62728",
    "host": "#7f7f7f",
}


def _graph_to_draw(topo: Topology) -> tuple[nx.Graph, dict[str, str], dict[str, int]]:
    """Undirected graph to draw, node -> colour key, node -> layer."""
    tiers = switch_tiers(topo)
    g = nx.Graph()
    color: dict[str, str] = {}
    layer: dict[str, int] = {}
    detailed = topo.graph.number_of_nodes() <= DETAIL_LIMIT
    local_layer = {"gpu": 0, "cpu": 0, "nvswitch": 1, "pcie_switch": 1, "nic": 2}

    def key(n: str) -> str:
        data = topo.graph.nodes[n]
        if not detailed and data.get("host") is not None:
            return f"{data['host']}"
        return n

    top = max(tiers.values(), default=0)
    for n, data in topo.graph.nodes(data=True):
        k = key(n)
        kind = str(data["kind"])
        if k != n:
            color[k], layer[k] = "host", 0
        elif kind == NodeKind.SWITCH:
            color[k], layer[k] = kind, 2 + tiers.get(n, 1)
        elif kind == NodeKind.GATEWAY:
            color[k], layer[k] = kind, 3 + top
        else:
            color[k], layer[k] = kind, local_layer.get(kind, 0)
        g.add_node(k)
    for u, v in topo.graph.edges:
        a, b = key(u), key(v)
        if a != b:
            g.add_edge(a, b)
    return g, color, layer


def _layered_layout(g: nx.Graph, layer: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Each layer on its own row, nodes in insertion order, spread over the same width."""
    rows: dict[int, list[str]] = {}
    for v in g:
        rows.setdefault(layer[v], []).append(v)
    pos = {}
    for y, (_, members) in enumerate(sorted(rows.items())):
        for i, v in enumerate(members):
            pos[v] = ((i + 0.5) / len(members), float(y))
    return pos


def draw_png(topo: Topology, path: str | Path) -> Path:
    """Write a PNG drawing of ``topo`` to ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g, color, layer = _graph_to_draw(topo)
    nx.set_node_attributes(g, layer, "layer")
    switches_only = all(color[n] in ("host", "switch") for n in g) and len(set(layer.values())) == 1
    if switches_only or topo.metadata.get("builder") == "torus":
        pos = nx.spring_layout(g, seed=0)
    else:
        pos = _layered_layout(g, layer)
    n = g.number_of_nodes()
    fig, ax = plt.subplots(figsize=(min(40, 6 + n / 12), 7))
    size = max(10, 300 - n)
    nx.draw_networkx_edges(g, pos, ax=ax, width=0.4, alpha=0.4)
    for ck, c in _COLORS.items():
        nodes = [v for v in g if color[v] == ck]
        if nodes:
            nx.draw_networkx_nodes(
                g, pos, nodelist=nodes, node_color=c, node_size=size, ax=ax, label=ck
            )
    if n <= 60:
        nx.draw_networkx_labels(g, pos, font_size=6, ax=ax)
    level = "node level" if topo.graph.number_of_nodes() <= DETAIL_LIMIT else "switch level"
    ax.set_title(f"{topo.name}: {topo.num_ranks} ranks ({level})")
    ax.legend(loc="upper right", fontsize=7)
    ax.axis("off")
    out = Path(path)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
