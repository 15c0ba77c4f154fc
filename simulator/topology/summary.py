"""What a topology adds up to: counts, bandwidth per tier, bisection bandwidth.

:func:`summarize` returns a plain dict (JSON-ready, SI units) used by ``commsim topology show``.

Bisection bandwidth (:func:`bisection_bandwidth_Bps`) is the maximum flow, per direction, from
the first half of the ranks (in rank order) to the second half, i.e. the capacity of the minimum
cut between the two halves (max-flow/min-cut theorem), computed with networkx on a coarsened
graph: every host whose ranks all lie in one half is contracted into one node together with its
host-local devices (NVSwitch, PCIe switches, NICs), links between contracted groups summed.
The cut therefore counts the NIC links and the switch fabric, not links inside a server. The
first half's hosts are joined to a super-source and the second half's to a super-sink with
unbounded capacity. This is exact for the shipped trees: a non-blocking two-tier tree gives half
the NIC bandwidth of all nodes; an ``o``:1 oversubscribed one 1/``o`` of that (when the halves
fill whole leaves, as in rank order); a torus gives the links crossing the plane between halves.
A topology with fewer than two ranks has no bisection (``0.0``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from simulator.core.jsonvalue import JsonObject, plain
from simulator.topology.model import LinkKind, NodeKind, Topology

if TYPE_CHECKING:
    import networkx as nx


def _half_of_host(topo: Topology) -> dict[str, int]:
    """``host -> 0|1`` for hosts whose ranks lie in one half; mixed hosts are left out."""
    half = topo.num_ranks // 2
    sides: dict[str, set[int]] = {}
    for r in range(topo.num_ranks):
        sides.setdefault(topo.host_of(r), set()).add(0 if r < half else 1)
    return {h: next(iter(s)) for h, s in sides.items() if len(s) == 1}


def coarsen(topo: Topology) -> tuple[nx.DiGraph, dict[str, str]]:
    """Contract single-half hosts with their local devices; return (graph, node -> group).

    Edge attribute ``capacity`` is the summed per-direction bandwidth (B/s) between groups.
    """
    whole = _half_of_host(topo)
    group: dict[str, str] = {}
    for n, data in topo.graph.nodes(data=True):
        h = data.get("host")
        group[n] = f"host:{h}" if h is not None and h in whole else n
    import networkx as nx  # here only: start-up time of simulations (docs/decisions.md)

    g = nx.DiGraph()
    for n in topo.graph.nodes:
        g.add_node(group[n])
    for link in topo.links:
        a, b = group[link.src], group[link.dst]
        if a == b:
            continue
        if g.has_edge(a, b):
            g[a][b]["capacity"] += link.bandwidth_Bps
        else:
            g.add_edge(a, b, capacity=link.bandwidth_Bps)
    return g, group


def bisection_bandwidth_Bps(topo: Topology) -> float:
    """Max flow per direction from ranks ``[0, n/2)`` to ranks ``[n/2, n)``, B/s (see module)."""
    if topo.num_ranks < 2:
        return 0.0
    g, group = coarsen(topo)
    half = topo.num_ranks // 2
    src, dst = "__source__", "__sink__"
    for r, node in enumerate(topo.ranks):
        if r < half:
            g.add_edge(src, group[node])  # no capacity attribute = unbounded
        else:
            g.add_edge(group[node], dst)
    import networkx as nx

    value, _ = nx.maximum_flow(g, src, dst, capacity="capacity")
    return float(value)


def switch_tiers(topo: Topology) -> dict[str, int]:
    """``switch -> tier``: 1 for switches with a NIC (or gateway-less leaf) neighbour, then +1
    per hop away (spines 2, cores 3). Switches reachable only through no NIC get tier 1.
    Read from the node table and the links (a switch's successors in link order, as the
    graph lists them), so the graph is not made."""
    switches = set(topo.nodes_of_kind(NodeKind.SWITCH))
    nodes = topo.node_table
    succ: dict[str, list[str]] = {}
    for lk in topo.links:
        if lk.src in switches:
            succ.setdefault(lk.src, []).append(lk.dst)
    tier: dict[str, int] = {}
    frontier = [
        s for s in switches if any(nodes[v]["kind"] != NodeKind.SWITCH for v in succ.get(s, ()))
    ]
    for s in frontier:
        tier[s] = 1
    level = 1
    while frontier:
        level += 1
        nxt = []
        for s in frontier:
            for v in succ.get(s, ()):
                if v in switches and v not in tier:
                    tier[v] = level
                    nxt.append(v)
        frontier = nxt
    return tier


def _bw(topo: Topology, u: str, v: str) -> float:
    return float(topo.graph.edges[u, v]["bandwidth_Bps"])


def summarize(topo: Topology) -> JsonObject:
    """A JSON-ready summary of ``topo`` (SI units; see module docstring for bisection)."""
    graph = topo.graph
    kinds = Counter(str(k) for _, k in graph.nodes(data="kind"))
    link_kinds = Counter(str(lk.kind) for lk in topo.links)
    gpu0 = topo.ranks[0] if topo.ranks else None
    per_gpu: dict[str, float] = {}
    if gpu0 is not None:
        for v in graph.successors(gpu0):
            k = str(graph.edges[gpu0, v]["kind"])
            per_gpu[k] = per_gpu.get(k, 0.0) + _bw(topo, gpu0, v)
    nic_per_host: dict[str, float] = {}
    for nic in topo.nodes_of_kind(NodeKind.NIC):
        h = graph.nodes[nic]["host"]
        for v in graph.successors(nic):
            if graph.nodes[v]["kind"] in (NodeKind.SWITCH, NodeKind.GATEWAY):
                nic_per_host[h] = nic_per_host.get(h, 0.0) + _bw(topo, nic, v)
    tiers = switch_tiers(topo)
    tier_rows = []
    for t in sorted(set(tiers.values())):
        members = [s for s, st in tiers.items() if st == t]
        down = up = 0.0
        for s in members:
            for v in graph.successors(s):
                vt = tiers.get(v)
                if vt is None or vt < t:
                    down += _bw(topo, s, v)
                elif vt > t:
                    up += _bw(topo, s, v)
        tier_rows.append(
            {
                "tier": t,
                "switches": len(members),
                "down_Bps": down,
                "up_Bps": up,
                "oversubscription": (down / up) if up > 0 else None,
            }
        )
    wan = [lk.bandwidth_Bps for lk in topo.links if lk.kind == LinkKind.WAN]
    hosts = topo.hosts()
    first_host_nic = nic_per_host.get(hosts[0], 0.0) if hosts else 0.0
    return {
        "name": topo.name,
        "description": plain(topo.metadata.get("description", "")),
        "ranks": topo.num_ranks,
        "gpus": kinds.get(NodeKind.GPU.value, 0),
        "hosts": len(hosts),
        "gpu_model": plain(topo.metadata.get("gpu")),
        "nodes_by_kind": dict(kinds),
        "links_by_kind": {k: n // 2 for k, n in link_kinds.items()},  # physical (duplex) links
        "bandwidth_per_gpu_Bps": per_gpu,  # rank 0's links by kind, per direction
        "nic_bandwidth_per_host_Bps": first_host_nic,
        "switch_tiers": tier_rows,
        "wan_links_Bps": wan[::2],
        "bisection_Bps": bisection_bandwidth_Bps(topo),
        "bisection_method": "max-flow, first half of ranks -> second half, hosts contracted",
        "ecmp": topo.ecmp.value,  # how routes pick among equal-cost paths
        "metadata": {k: plain(v) for k, v in topo.metadata.items() if k != "description"},
    }
