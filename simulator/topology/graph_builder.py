"""Assembling a :class:`~simulator.topology.model.Topology` node by node, link by link."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from simulator.topology.model import Link, LinkKind, NodeKind, Topology
from simulator.topology.routing import Ecmp


class GraphBuilder:
    """Collects nodes and full-duplex links, then builds a :class:`Topology`.

    ``add_link`` adds both directions of one physical link (ids ``2k`` and ``2k + 1``), each
    with the per-direction ``bandwidth_Bps``. Node names must be unique; a second link between
    the same two nodes is an error (aggregate parallel cables into one link of the summed
    bandwidth: the graph is a ``DiGraph``, one edge per ordered pair).
    """

    def __init__(self) -> None:
        self.graph: nx.DiGraph = nx.DiGraph()
        self.links: list[Link] = []

    def add_node(self, name: str, kind: NodeKind | str, host: str | None = None) -> str:
        """Add node ``name``; ``host`` defaults to the name itself for gpu/cpu nodes.

        Raises ``ValueError`` for a duplicate name or an unknown kind.
        """
        if name in self.graph:
            raise ValueError(f"node {name!r} defined twice")
        k = NodeKind(kind)
        if host is None and k.is_endpoint:
            host = name
        self.graph.add_node(name, kind=k, host=host)
        return name

    def add_link(
        self,
        a: str,
        b: str,
        bandwidth_Bps: float,
        latency_s: float,
        kind: LinkKind | str,
    ) -> tuple[int, int]:
        """Add a full-duplex link ``a <-> b``; returns the ids of ``a->b`` and ``b->a``.

        Raises ``ValueError`` for unknown nodes, a self loop, a duplicate link, or a
        bandwidth that is not positive / latency that is negative.
        """
        for n in (a, b):
            if n not in self.graph:
                raise ValueError(f"link {a}-{b}: node {n!r} is not defined")
        if a == b:
            raise ValueError(f"link {a}-{b}: a link needs two different nodes")
        if self.graph.has_edge(a, b):
            raise ValueError(f"link {a}-{b} defined twice (aggregate parallel links into one)")
        if not bandwidth_Bps > 0:
            raise ValueError(f"link {a}-{b}: bandwidth must be positive, got {bandwidth_Bps}")
        if not latency_s >= 0:
            raise ValueError(f"link {a}-{b}: latency must be non-negative, got {latency_s}")
        k = LinkKind(kind)
        ids = []
        for u, v in ((a, b), (b, a)):
            lid = len(self.links)
            self.links.append(Link(lid, u, v, float(bandwidth_Bps), float(latency_s), k))
            self.graph.add_edge(
                u,
                v,
                link_id=lid,
                bandwidth_Bps=float(bandwidth_Bps),
                latency_s=float(latency_s),
                kind=k,
            )
            ids.append(lid)
        return ids[0], ids[1]

    def build(
        self,
        name: str,
        ranks: Iterable[str] | None = None,
        metadata: dict[str, object] | None = None,
        ecmp: Ecmp | str | None = None,
    ) -> Topology:
        """The finished :class:`Topology` (ranks default to the endpoints in insertion order;
        ``ecmp`` defaults to ``hash``)."""
        return Topology(name, self.graph, self.links, ranks=ranks, metadata=metadata, ecmp=ecmp)
