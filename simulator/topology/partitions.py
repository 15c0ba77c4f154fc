"""Partitions of a rank group that the topology provides: hosts and datacenters.

Both hierarchical all-reduces (the collective schedule in
:mod:`simulator.collectives.hierarchical` and the strategies' decomposition in
:mod:`simulator.workload.strategies.hierarchical`) and the host-aware ring and tree orders split
a group the same way: by a key per rank, parts in first-seen order, ranks in group order inside
each part. That split and the two keys (host, datacenter) live here, once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import networkx as nx

from simulator.topology.model import Topology


def split(group: Sequence[int], keys: Sequence[Hashable]) -> list[list[int]]:
    """``group`` split by ``keys`` (one per rank, same order): parts in first-seen order,
    ranks in group order inside each part."""
    parts: dict[Hashable, list[int]] = {}
    for r, k in zip(group, keys, strict=True):
        parts.setdefault(k, []).append(r)
    return list(parts.values())


def datacenter_of_ranks(topology: Topology) -> tuple[int, ...]:
    """Datacenter index of every rank: weakly connected components of the graph once its WAN
    links (``kind: wan``) are removed, numbered in order of their smallest node name."""
    g = topology.graph
    local = nx.DiGraph()
    local.add_nodes_from(g.nodes)
    local.add_edges_from((u, v) for u, v, d in g.edges(data=True) if str(d.get("kind")) != "wan")
    comp: dict[str, int] = {}
    components = sorted(nx.weakly_connected_components(local), key=lambda c: min(map(str, c)))
    for i, nodes in enumerate(components):
        for n in nodes:
            comp[str(n)] = i
    return tuple(comp[str(name)] for name in topology.ranks)


def by_host(topology: Topology, group: Sequence[int]) -> list[list[int]]:
    """``group`` split by host (:meth:`Topology.host_of`)."""
    return split(group, [topology.host_of(r) for r in group])


def by_datacenter(topology: Topology, group: Sequence[int]) -> list[list[int]]:
    """``group`` split by datacenter (:func:`datacenter_of_ranks`)."""
    dc = datacenter_of_ranks(topology)
    return split(group, [dc[r] for r in group])
