"""Drawing a topology to a PNG with matplotlib (called by ``commsim topology show --png``).

Small topologies (at most :data:`DETAIL_LIMIT` nodes) are drawn node by node; larger ones at
switch level: every host with its GPUs, NVSwitch, PCIe switches and NICs becomes one box.
Layers: hosts/endpoints at the bottom, then switch tiers (leaf, spine, core), gateways on top.
Each row is named on the left (GPUs, NICs, leaf / spine / core switches, WAN gateways); the
links between two rows (and within a row, drawn as arcs) are labelled on the right with their
technology and per-direction bandwidth. Node labels drop the host prefix and turn vertical
when a row is too crowded for them to sit side by side; host names sit under their GPUs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from simulator.core.units import format_bandwidth
from simulator.topology.model import NodeKind, Topology
from simulator.topology.summary import switch_tiers

if TYPE_CHECKING:
    from matplotlib.axes import Axes

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


_ROW_NAMES = {
    "gpu": "GPUs",
    "cpu": "CPUs",
    "nvswitch": "NVSwitch",
    "pcie_switch": "PCIe",
    "nic": "NICs",
    "host": "hosts",
    "gateway": "WAN gateways",
}
_TIER_NAMES = {1: "leaf switches", 2: "spine switches", 3: "core switches"}


def _graph_to_draw(topo: Topology) -> tuple[nx.Graph, dict[str, str], dict[str, int]]:
    """Undirected graph to draw, node -> colour key, node -> layer.

    Edges carry ``links``: the set of ``(kind, per-direction bandwidth)`` of the physical links
    they stand for."""
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
    for u, v, data in topo.graph.edges(data=True):
        a, b = key(u), key(v)
        if a != b:
            if not g.has_edge(a, b):
                g.add_edge(a, b, links=set())
            g.edges[a, b]["links"].add((str(data["kind"]), float(data["bandwidth_Bps"])))
    for n in g:
        if color[n] == "switch":
            orig = n
            g.nodes[n]["tier"] = tiers.get(orig, 1)
    return g, color, layer


def _row_name(members: list[str], color: dict[str, str], g: nx.Graph) -> str:
    kinds = []
    for v in members:
        c = color[v]
        name = _TIER_NAMES.get(g.nodes[v].get("tier", 0), "switches") if c == "switch" else None
        name = name or _ROW_NAMES.get(c, c)
        if name not in kinds:
            kinds.append(name)
    return " + ".join(kinds)


def _links_text(links: set[tuple[str, float]]) -> str:
    """``infiniband 25 GB/s`` for each (kind, bandwidth), narrowest first."""
    return ", ".join(f"{k} {format_bandwidth(bw)}" for k, bw in sorted(links, key=lambda x: x[1]))


def _short(n: str, host: str | None) -> str:
    return n[len(host) + 1 :] if host and n.startswith(f"{host}.") else n


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
    spring = switches_only or topo.metadata.get("builder") == "torus"
    pos = nx.spring_layout(g, seed=0) if spring else _layered_layout(g, layer)
    n = g.number_of_nodes()
    rows: dict[float, list[str]] = {}
    for v, (_, y) in pos.items():
        rows.setdefault(y, []).append(v)
    widest = max((len(m) for m in rows.values()), default=1)
    width = min(24.0, 7.0 + widest * 0.32)
    height = 2.0 + 1.6 * len(rows) if not spring else 7.0
    fig, ax = plt.subplots(figsize=(width, height))
    size = max(10, 300 - n)
    same_row = [(a, b) for a, b in g.edges if not spring and pos[a][1] == pos[b][1]]
    other = [e for e in g.edges if e not in set(same_row)]
    nx.draw_networkx_edges(g, pos, edgelist=other, ax=ax, width=0.4, alpha=0.4)
    if same_row:
        nx.draw_networkx_edges(
            g, pos, edgelist=same_row, ax=ax, width=0.6, alpha=0.5, arrows=True,
            arrowstyle="-", connectionstyle="arc3,rad=0.35", edge_color="tab:green",
        )  # fmt: skip
    for ck, c in _COLORS.items():
        nodes = [v for v in g if color[v] == ck]
        if nodes:
            nx.draw_networkx_nodes(
                g, pos, nodelist=nodes, node_color=c, node_size=size, ax=ax, label=ck
            )
    detailed = topo.graph.number_of_nodes() <= DETAIL_LIMIT
    if not spring:
        _annotate_rows(ax, g, pos, rows, color, topo, detailed, width)
    elif n <= 60:
        nx.draw_networkx_labels(g, pos, font_size=6, ax=ax)
    level = "node level" if detailed else "switch level"
    ax.set_title(f"{topo.name}: {topo.num_ranks} ranks ({level})")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(_COLORS), fontsize=7,
        markerscale=0.6, frameon=False,
    )  # fmt: skip
    if spring:
        every: set[tuple[str, float]] = set()
        for a, b in g.edges:
            every |= g.edges[a, b]["links"]
        ax.text(0.5, -0.08, f"links: {_links_text(every)}", transform=ax.transAxes,
                ha="center", va="top", fontsize=8, style="italic")  # fmt: skip
    ax.axis("off")
    out = Path(path)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def _annotate_rows(
    ax: Axes,
    g: nx.Graph,
    pos: dict[str, tuple[float, float]],
    rows: dict[float, list[str]],
    color: dict[str, str],
    topo: Topology,
    detailed: bool,
    width_in: float,
) -> None:
    """Row names on the left, link technology and bandwidth on the right, node labels that do
    not overlap (vertical in crowded rows), host names under the bottom row."""
    ys = sorted(rows)
    host = {v: topo.graph.nodes[v].get("host") if v in topo.graph else None for v in g}
    for y in ys:
        members = sorted(rows[y], key=lambda v: pos[v][0])
        ax.text(-0.02, y, _row_name(members, color, g), ha="right", va="center",
                fontsize=9, fontweight="bold")  # fmt: skip
        # labels: side by side when each fits its share of the width, else vertical below
        chars = max(len(_short(v, host[v])) for v in members)
        slot_in = width_in * 0.8 / max(len(members), 1)
        vertical = chars * 6 * 0.6 / 72 > slot_in * 0.95
        if len(members) <= 80:
            for v in members:
                x = pos[v][0]
                ax.annotate(
                    _short(v, host[v]), (x, y), xytext=(0, -9), textcoords="offset points",
                    ha="center", va="top", fontsize=6, rotation=90 if vertical else 0,
                )  # fmt: skip
        inside: set[tuple[str, float]] = set()
        for a, b in g.edges:
            if pos[a][1] == y and pos[b][1] == y:
                inside |= g.edges[a, b]["links"]
        if inside:
            ax.text(1.02, y, f"within: {_links_text(inside)}", ha="left", va="center",
                    fontsize=8, color="tab:green")  # fmt: skip
    for lo, hi in itertools.pairwise(ys):
        between: set[tuple[str, float]] = set()
        for a, b in g.edges:
            if {pos[a][1], pos[b][1]} == {lo, hi}:
                between |= g.edges[a, b]["links"]
        if between:
            ax.text(1.02, (lo + hi) / 2, _links_text(between), ha="left", va="center",
                    fontsize=8, style="italic")  # fmt: skip
    if detailed and ys:
        _host_names(ax, rows[ys[0]], pos, host, ys[0])
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(ys[0] - 0.8, ys[-1] + 0.4)


def _host_names(
    ax: Axes,
    bottom: list[str],
    pos: dict[str, tuple[float, float]],
    host: dict[str, str | None],
    y: float,
) -> None:
    """Each host's name under the middle of its nodes in the bottom row (2..40 hosts)."""
    by_host: dict[str, list[float]] = {}
    for v in bottom:
        if host[v]:
            by_host.setdefault(str(host[v]), []).append(pos[v][0])
    if 1 < len(by_host) <= 40:
        for h, xs in by_host.items():
            ax.annotate(
                h, (sum(xs) / len(xs), y), xytext=(0, -40), textcoords="offset points",
                ha="center", va="top", fontsize=8, color="dimgray",
            )  # fmt: skip
