"""The topology model: node and link kinds, directed links, and :class:`Topology`.

A topology is a directed graph of named nodes (a ``networkx.DiGraph``, :attr:`Topology.graph`,
made on first use from the node table and the links). GPUs and CPUs are *endpoints* (ranks);
everything else (NVSwitch, PCIe switch, NIC, network switch, WAN gateway) only forwards.
Every physical link is full duplex and appears as two :class:`Link` objects, one per direction,
each with the bandwidth of one direction (bytes/second) and its one-way latency (seconds).
Link ids index :attr:`Topology.links`, :attr:`Topology.capacity_Bps` and
:attr:`Topology.latency_s`; the graph's edge attribute ``link_id`` names the same link.

Build a topology with :class:`simulator.topology.graph_builder.GraphBuilder`, a builder of
:mod:`simulator.topology.builders`, or :func:`simulator.topology.loader.load_topology`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from simulator.core.arrays import FloatArray
from simulator.topology.routing import BLOCK, Ecmp, Router

if TYPE_CHECKING:
    import networkx as nx

#: Nodes of a topology without networkx: name -> attributes (``kind``, ``host``, and any a
#: builder adds, e.g. ``port``), in insertion order (the graph's node order).
NodeTable = dict[str, dict[str, object]]


class NodeKind(StrEnum):
    """What a node is. ``gpu`` and ``cpu`` are endpoints: ranks live there, no route transits."""

    GPU = "gpu"
    CPU = "cpu"
    NVSWITCH = "nvswitch"
    PCIE_SWITCH = "pcie_switch"
    NIC = "nic"
    SWITCH = "switch"
    GATEWAY = "gateway"

    @property
    def is_endpoint(self) -> bool:
        """True for gpu and cpu."""
        return self in (NodeKind.GPU, NodeKind.CPU)


class LinkKind(StrEnum):
    """The technology of a link (backends apply per-kind efficiencies)."""

    NVLINK = "nvlink"
    PCIE = "pcie"
    INFINIBAND = "infiniband"
    ETHERNET = "ethernet"
    WAN = "wan"


@dataclass(frozen=True, slots=True)
class Link:
    """One direction of a full-duplex physical link.

    Attributes:
        id: index into ``Topology.links`` (the two directions of a physical link have ids
            ``2k`` and ``2k + 1`` when built by :class:`GraphBuilder`).
        src, dst: node names.
        bandwidth_Bps: capacity of this direction, bytes/second.
        latency_s: one-way latency of this hop, seconds.
        kind: link technology.
    """

    id: int
    src: str
    dst: str
    bandwidth_Bps: float
    latency_s: float
    kind: LinkKind


class Topology:
    """A cluster: graph, links, ranks and routes.

    Args:
        name: topology name.
        graph: ``DiGraph`` with node attributes ``kind`` (:class:`NodeKind`) and ``host`` (str),
            and edge attributes ``link_id``, ``bandwidth_Bps``, ``latency_s``, ``kind``; or a
            :data:`NodeTable` (what :class:`GraphBuilder` passes): the nodes alone, the edges
            being the links, and the graph made from both when :attr:`graph` is first read.
        links: the links, ``links[i].id == i``, matching the graph's edges one to one.
        ranks: endpoint node names in rank order (default: all endpoints in graph order).
        metadata: free-form facts (description, builder and its parameters, gpu model...).
        ecmp: how routes pick among equal-cost paths (:class:`~simulator.topology.routing.Ecmp`;
            default ``hash``; the cluster builders choose ``dmodk`` for trees). With ``dmodk``,
            a rank node's ``port`` attribute (int) is its destination index when every rank has
            one.
        checked: the links were checked against the node table already (what
            :class:`GraphBuilder` does as it adds them); a node table's links are otherwise
            checked here (ids in order, known ends, one link per ordered pair).

    The graph is read once at construction (hosts, routing tables): do not mutate it after.

    Raises:
        ValueError: the parts are inconsistent (a rank that is not an endpoint, a link id that
            does not match its edge, a duplicated rank).
    """

    def __init__(
        self,
        name: str,
        graph: nx.DiGraph | NodeTable,
        links: Sequence[Link],
        ranks: Iterable[str] | None = None,
        metadata: dict[str, object] | None = None,
        ecmp: Ecmp | str | None = None,
        *,
        checked: bool = False,
    ) -> None:
        self.name = name
        self.links: list[Link] = list(links)
        self.metadata: dict[str, object] = dict(metadata or {})
        self._graph: nx.DiGraph | None
        if isinstance(graph, dict):
            self._graph, self._nodes = None, graph
            if not checked:  # GraphBuilder checks every link as it adds it
                _check_table(graph, self.links)
        else:
            self._graph, self._nodes = graph, dict(graph.nodes(data=True))
            _check_graph(graph, self.links)
        nodes = self._nodes
        if ranks is None:
            ranks = [n for n, a in nodes.items() if NodeKind(str(a["kind"])).is_endpoint]
        self.ranks: list[str] = list(ranks)
        if len(set(self.ranks)) != len(self.ranks):
            raise ValueError("a node is listed twice among the ranks")
        for r in self.ranks:
            if r not in nodes or not NodeKind(str(nodes[r]["kind"])).is_endpoint:
                raise ValueError(f"rank {r!r} is not a gpu or cpu node of the topology")
        self.num_ranks: int = len(self.ranks)
        self.capacity_Bps: FloatArray = np.array(
            [lk.bandwidth_Bps for lk in self.links], dtype=float
        )
        self.latency_s: FloatArray = np.array([lk.latency_s for lk in self.links], dtype=float)
        self._rank_index = {r: i for i, r in enumerate(self.ranks)}
        self._host_of: list[str] = [str(nodes[r]["host"]) for r in self.ranks]
        self._ecmp = Ecmp(ecmp) if ecmp is not None else Ecmp.HASH
        self._keyed = self._ecmp is Ecmp.HASH  # whether routes depend on the key
        self._router: Router | None = None  # built on the first route (see set_ecmp)
        self._out: dict[str, list[str]] | None = None  # see successors
        self._route_cache: dict[tuple[int, int, int], tuple[int, ...]] = {}
        #: bumped by every routing change; holders of routes (collective contexts) re-route
        self.routing_epoch: int = 0

    # ------------------------------------------------------------------ graph
    @property
    def graph(self) -> nx.DiGraph:
        """The ``networkx.DiGraph`` (made on first use when built from a node table: nodes in
        table order with their attributes, then one edge per link in id order with
        ``link_id``, ``bandwidth_Bps``, ``latency_s`` and ``kind``)."""
        if self._graph is None:
            import networkx as nx  # only here: most simulations never need the graph

            g = nx.DiGraph()
            g.add_nodes_from(self._nodes.items())
            g.add_edges_from(
                (lk.src, lk.dst, {"link_id": lk.id, "bandwidth_Bps": lk.bandwidth_Bps,
                                  "latency_s": lk.latency_s, "kind": lk.kind})
                for lk in self.links
            )  # fmt: skip
            self._graph, self._nodes = g, dict(g.nodes(data=True))  # one set of attributes
        return self._graph

    @property
    def node_table(self) -> Mapping[str, Mapping[str, object]]:
        """Every node's attributes by name, in graph order (without making the graph)."""
        return self._nodes

    def successors(self, node: str) -> list[str]:
        """The nodes a link from ``node`` reaches: ``list(graph.successors(node))``, without
        making the graph when it is not made yet (a node table has one link per ordered
        pair, and the graph adds its edges in link order). ``KeyError`` for an unknown node."""
        if self._graph is not None:
            if node not in self._graph:
                raise KeyError(node)
            return list(self._graph.successors(node))
        if self._out is None:
            out: dict[str, list[str]] = {n: [] for n in self._nodes}
            for lk in self.links:
                out[lk.src].append(lk.dst)
            self._out = out
        return list(self._out[node])

    # ------------------------------------------------------------------ routing policy
    @property
    def ecmp(self) -> Ecmp:
        """How routes pick among equal-cost paths (``hash`` or ``dmodk``)."""
        return self._ecmp

    def set_ecmp(self, ecmp: Ecmp | str) -> None:
        """Switch the equal-cost path policy; drops every cached route.

        A change bumps :attr:`routing_epoch`, so a
        :class:`~simulator.collectives.context.SimContext` that routed before drops its routes.
        ``ValueError`` for an unknown policy.
        """
        new = Ecmp(ecmp)
        if new is not self._ecmp:
            self.routing_epoch += 1
            self._ecmp = new
            self._keyed = new is Ecmp.HASH
            self._router = None
            self._route_cache.clear()

    def _get_router(self) -> Router:
        if self._router is None:
            self._router = Router.from_table(self._nodes, self.links, self.ranks, self._ecmp)
        return self._router

    # ------------------------------------------------------------------ hosts and ranks
    def rank_of(self, node: str) -> int:
        """The rank living on endpoint ``node``; ``KeyError`` if none."""
        return self._rank_index[node]

    def host_of(self, rank: int) -> str:
        """The host (server) that ``rank`` lives in, e.g. ``"node3"``."""
        return self._host_of[rank]

    def hosts(self) -> list[str]:
        """Hosts of the ranks, each once, in order of their first rank."""
        return list(self.ranks_by_host())

    def ranks_by_host(self) -> dict[str, list[int]]:
        """``{host: [ranks ascending]}``, hosts in order of their first rank."""
        out: dict[str, list[int]] = {}
        for r, h in enumerate(self._host_of):
            out.setdefault(h, []).append(r)
        return out

    def nodes_of_kind(self, kind: NodeKind | str) -> list[str]:
        """Names of all nodes of ``kind``, in graph order."""
        k = NodeKind(kind)
        return [n for n, a in self._nodes.items() if a.get("kind") == k]

    # ------------------------------------------------------------------ routes
    def route(self, src_rank: int, dst_rank: int, key: int = 0) -> tuple[int, ...]:
        """Link ids of the path from ``src_rank`` to ``dst_rank``.

        A shortest path in hops that never transits an endpoint. Among equal-cost paths the
        next hop follows :attr:`ecmp`: ``hash`` picks at each node by a stable hash of
        ``(src, dst, key, hop)`` (identical across runs; different ``key`` values spread flows
        of one pair over equal-cost paths); ``dmodk`` picks by the destination alone (D-mod-K,
        ``key`` ignored; see :mod:`simulator.topology.routing`). Results are cached.
        ``src == dst`` gives ``()``.

        Raises:
            IndexError: a rank out of range.
            ValueError: no path without transiting an endpoint.
        """
        for r in (src_rank, dst_rank):
            if not 0 <= r < self.num_ranks:
                raise IndexError(f"rank {r} out of range 0..{self.num_ranks - 1}")
        ck = (src_rank, dst_rank, key if self._keyed else 0)  # dmodk ignores the key
        path = self._route_cache.get(ck)
        if path is None:
            router = self._router if self._router is not None else self._get_router()
            path = router.route(src_rank, dst_rank, key)
            self._route_cache[ck] = path
        return path

    def prefetch_routes(self, routes: Collection[tuple[int, int, int]]) -> None:
        """Compute many routes ``(src, dst, key)`` at once into the route cache (the same
        routes as :meth:`route`; only faster).

        The router computes hop distances for a block of destinations per breadth-first
        sweep. Routing the pairs grouped by blocks of up to
        :data:`~simulator.topology.routing.BLOCK` of their destinations sweeps once per
        block even when the destinations are strided (a data-parallel group), instead of
        once per block of consecutive ranks, and never needs more than one block at a time.
        Destinations that fill at least half of their consecutive blocks are left to
        :meth:`route` (asked in destination order, it sweeps each block once too).
        """
        router = self._router if self._router is not None else self._get_router()
        # D-mod-K routes of this class are walked together (a subclass may route differently,
        # e.g. a faulted topology's relays: those go through its route one by one)
        batch = router.batches and type(self).route is Topology.route
        wanted = {d for _, d, _ in routes}
        if not batch and 2 * len(wanted) > BLOCK * len({d // BLOCK for d in wanted}):
            return  # dense: routing in destination order sweeps each block once anyway
        keyed = self._keyed
        cache = self._route_cache
        by_dst: dict[int, list[tuple[int, int]]] = {}
        for s, d, key in routes:
            if s != d and (s, d, key if keyed else 0) not in cache:
                by_dst.setdefault(d, []).append((s, key))
        dsts = sorted(by_dst)
        n = self.num_ranks
        for lo in range(0, len(dsts), BLOCK):
            block = dsts[lo : lo + BLOCK]
            if not 0 <= block[0] <= block[-1] < n:
                raise IndexError(f"rank out of range 0..{n - 1} in {block}")
            router.prefetch(block)
            if batch:
                pairs = list(dict.fromkeys((s, d) for d in block for s, _ in by_dst[d]))
                if any(not 0 <= s < n for s, _ in pairs):
                    raise IndexError(f"rank out of range 0..{n - 1} in {pairs}")
                for (s, d), path in zip(pairs, router.route_many(pairs), strict=True):
                    cache[(s, d, 0)] = path
                continue
            for d in block:
                for s, key in by_dst[d]:
                    self.route(s, d, key)

    def may_route_over(
        self, links: Collection[int], pairs: Sequence[tuple[int, int]]
    ) -> list[bool]:
        """Per rank pair ``(src, dst)``, ``False`` when its route provably uses none of
        ``links`` (link ids), ``True`` when it may: route it to know.

        A bound on hop distances (:mod:`simulator.topology.pathfilter`), without routing the
        pairs: the destinations of the pairs ruled out need no distance sweep. Holds for any
        equal-cost policy (routes are shortest paths); a subclass that routes otherwise (a
        faulted topology's relays) answers ``True`` for every pair.
        """
        if type(self).route is not Topology.route:
            return [True] * len(pairs)
        router = self._router if self._router is not None else self._get_router()
        ends = [(self.links[i].src, self.links[i].dst) for i in links]
        return [bool(x) for x in router.may_use(ends, pairs)]

    def path_latency_s(self, path: Sequence[int]) -> float:
        """Sum of the one-way latencies of the links of ``path``, seconds."""
        return float(sum(self.links[i].latency_s for i in path))

    def path_bandwidth_Bps(self, path: Sequence[int]) -> float:
        """Bottleneck bandwidth of ``path`` (min over its links), B/s; ``inf`` if empty."""
        return float(min((self.links[i].bandwidth_Bps for i in path), default=float("inf")))

    def path_nodes(self, path: Sequence[int]) -> list[str]:
        """Node names along ``path`` (the first link's source, then every link's target)."""
        if not path:
            return []
        return [self.links[path[0]].src, *(self.links[i].dst for i in path)]

    def __repr__(self) -> str:
        return (
            f"Topology({self.name!r}, ranks={self.num_ranks}, "
            f"nodes={len(self._nodes)}, links={len(self.links)}, "
            f"ecmp={self._ecmp.value})"
        )


def _check_graph(graph: nx.DiGraph, links: Sequence[Link]) -> None:
    """``ValueError`` unless ``links`` are ``graph``'s edges one to one, ids in order."""
    for i, link in enumerate(links):
        if link.id != i:
            raise ValueError(f"link {link.src}->{link.dst} has id {link.id}, expected {i}")
        attrs = graph.edges.get((link.src, link.dst))
        if attrs is None or attrs.get("link_id") != i:
            raise ValueError(f"link {i} ({link.src}->{link.dst}) is not the graph's edge")
    if graph.number_of_edges() != len(links):
        raise ValueError("graph edges and links differ")


def _check_table(nodes: NodeTable, links: Sequence[Link]) -> None:
    """``ValueError`` unless ``links`` can be the edges of a ``DiGraph`` on ``nodes``: ids in
    order, both ends known, no self loop, at most one link per ordered pair."""
    pairs: set[tuple[str, str]] = set()
    for i, link in enumerate(links):
        if link.id != i:
            raise ValueError(f"link {link.src}->{link.dst} has id {link.id}, expected {i}")
        if link.src not in nodes or link.dst not in nodes or link.src == link.dst:
            raise ValueError(f"link {i} ({link.src}->{link.dst}) does not join two nodes")
        pairs.add((link.src, link.dst))
    if len(pairs) != len(links):
        raise ValueError("two links join the same ordered pair of nodes")
