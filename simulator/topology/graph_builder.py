"""Assembling a :class:`~simulator.topology.model.Topology` node by node, link by link."""

from __future__ import annotations

from collections.abc import Iterable

from simulator.core.units import MAX_BANDWIDTH_BPS, MIN_BANDWIDTH_BPS
from simulator.topology.model import Link, LinkKind, NodeKind, NodeTable, Topology
from simulator.topology.routing import Ecmp

#: Fastest and slowest link per direction a topology may hold, bytes/s: 1 PB/s and 1 kB/s
#: (:data:`simulator.core.units.MAX_BANDWIDTH_BPS`, ``MIN_BANDWIDTH_BPS``: the bounds of every
#: bandwidth a file gives). 1e30 B/s made networkx's min-cut for the bisection fail with an
#: IndexError (float round-off over 20 decades); 1e-300 Gbps predicted a step of 10^296 s.
MAX_LINK_BANDWIDTH_BPS = MAX_BANDWIDTH_BPS
MIN_LINK_BANDWIDTH_BPS = MIN_BANDWIDTH_BPS
#: Slowest one-way link latency a topology may hold, seconds: 10 s, ~75x the longest fibre
#: path on Earth (~20,000 km at 2/3 c: 0.1 s) and ~40x a geostationary satellite hop (0.25 s).
MAX_LINK_LATENCY_S = 10.0


class GraphBuilder:
    """Collects nodes and full-duplex links, then builds a :class:`Topology`.

    ``add_link`` adds both directions of one physical link (ids ``2k`` and ``2k + 1``), each
    with the per-direction ``bandwidth_Bps``. Node names must be unique; a second link between
    the same two nodes is an error (aggregate parallel cables into one link of the summed
    bandwidth: the topology's graph is a ``DiGraph``, one edge per ordered pair).

    Nodes are kept as a plain table (:attr:`nodes`: name -> attributes ``kind``, ``host`` and
    any a builder adds, e.g. ``port``); the networkx graph is made only when something asks
    for :attr:`Topology.graph` (start-up and build time, docs/decisions.md 2026-12-05).
    """

    def __init__(self) -> None:
        #: name -> attributes, in insertion order (builders may add keys, e.g. ``port``)
        self.nodes: NodeTable = {}
        self.links: list[Link] = []
        self._pairs: set[tuple[str, str]] = set()

    def has_node(self, name: str) -> bool:
        """Whether node ``name`` was added."""
        return name in self.nodes

    def has_link(self, a: str, b: str) -> bool:
        """Whether a link ``a -> b`` (either direction of a full-duplex link) was added."""
        return (a, b) in self._pairs

    def add_node(self, name: str, kind: NodeKind | str, host: str | None = None) -> str:
        """Add node ``name``; ``host`` defaults to the name itself for gpu/cpu nodes.

        Raises ``ValueError`` for a duplicate name or an unknown kind.
        """
        if name in self.nodes:
            raise ValueError(f"node {name!r} defined twice")
        k = kind if type(kind) is NodeKind else NodeKind(kind)
        if host is None and k.is_endpoint:
            host = name
        self.nodes[name] = {"kind": k, "host": host}
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
        bandwidth (bytes/s) outside [:data:`MIN_LINK_BANDWIDTH_BPS`,
        :data:`MAX_LINK_BANDWIDTH_BPS`] / latency (seconds) outside [0, :data:`MAX_LINK_LATENCY_S`].
        """
        for n in (a, b):
            if n not in self.nodes:
                raise ValueError(f"link {a}-{b}: node {n!r} is not defined")
        if a == b:
            raise ValueError(f"link {a}-{b}: a link needs two different nodes")
        if (a, b) in self._pairs:
            raise ValueError(f"link {a}-{b} defined twice (aggregate parallel links into one)")
        if not MIN_LINK_BANDWIDTH_BPS <= bandwidth_Bps <= MAX_LINK_BANDWIDTH_BPS:
            raise ValueError(
                # no bare small number here: the loader names the build key whose value the
                # message quotes ("(8 kbit/s)" was taken for nics_per_node: 8)
                f"link {a}-{b}: bandwidth must be at least {MIN_LINK_BANDWIDTH_BPS:.0e} bytes/s "
                f"and at most {MAX_LINK_BANDWIDTH_BPS:g} bytes/s (1 PB/s), got {bandwidth_Bps:g}"
            )
        if not 0 <= latency_s <= MAX_LINK_LATENCY_S:
            raise ValueError(
                f"link {a}-{b}: latency must be between 0 and {MAX_LINK_LATENCY_S:g} s, "
                f"got {latency_s:g}"
            )
        k = kind if type(kind) is LinkKind else LinkKind(kind)
        bw, lat = float(bandwidth_Bps), float(latency_s)
        lid = len(self.links)
        self.links.append(Link(lid, a, b, bw, lat, k))
        self.links.append(Link(lid + 1, b, a, bw, lat, k))
        self._pairs.add((a, b))
        self._pairs.add((b, a))
        return lid, lid + 1

    def build(
        self,
        name: str,
        ranks: Iterable[str] | None = None,
        metadata: dict[str, object] | None = None,
        ecmp: Ecmp | str | None = None,
    ) -> Topology:
        """The finished :class:`Topology` (ranks default to the endpoints in insertion order;
        ``ecmp`` defaults to ``hash``)."""
        return Topology(
            name, self.nodes, self.links, ranks=ranks, metadata=metadata, ecmp=ecmp, checked=True
        )
