"""Shortest-path routing with deterministic ECMP, fast enough for thousands of GPUs.

Routes are shortest in hops and never transit an endpoint (gpu/cpu node). Hop distances to a
destination come from a breadth-first search over the reversed graph; instead of one BFS per
destination in networkx (seconds on a 1,024-GPU fat tree), the :class:`Router` runs one
*bit-parallel* BFS for a block of up to 256 destination ranks at once with numpy: every node
holds a bitset (one bit per destination of the block), each BFS level ORs the bitsets of its
successors (``np.bitwise_or.reduceat`` over the edge list sorted by source), and endpoints other
than the destination itself are masked out of the frontier so nothing transits them. Distance
blocks (``int8``, one column per destination) are cached (least recently used evicted beyond
256 MiB), so routing all pairs of a ring over 1,024 GPUs costs four BFS sweeps
(benchmarks/bench_routing.py). Each BFS level only visits the predecessors of its frontier.
A route asked alone sweeps the block of consecutive ranks around its destination;
:meth:`Router.prefetch` (used by :meth:`~simulator.topology.Topology.prefetch_routes`) sweeps
the destinations it is given, so a strided group (a data-parallel group, every 64th rank) costs
one sweep per 256 of its members instead of one per member's block.

A route is then walked from the source: at each node the candidate next hops are the
non-endpoint successors one hop closer to the destination, in node order (found with numpy at
nodes of many successors, e.g. switches); the last hop enters the destination itself. The
choice among equal-cost candidates follows the router's :class:`Ecmp` policy:

* ``hash``: a splitmix64 hash of ``(src, dst, key, hop)``, stable across runs and processes
  (Python's ``hash`` of strings is salted per process: not used). Flows of one pair with
  different keys spread over paths; flows of different pairs may collide on a link.
* ``dmodk``: destination-based, as InfiniBand fat-tree routing (OpenSM ``ftree``, D-mod-K): the
  ``l``-th multi-way choice on the path takes candidate ``(d // (m_1 * ... * m_{l-1})) % m_l``,
  where ``d`` is the destination's index (its NIC's leaf-port number, leaf-major, when the
  builder gives one as the rank node's ``port`` attribute; else its rank) and ``m_i`` the number
  of candidates at the ``i``-th choice. On a tree, choices are only made going up, so on a
  two-tier tree the spine is ``d % spines`` and on a three-tier one the core within the spine's
  group is ``(d // pod_spines) % cores``: consecutive destinations use different up-links and a
  shift permutation (``i -> i + s``) loads no up-link with more flows than it has NIC-speed
  ports. The key is ignored (a destination has one path from each switch, as with one LID).
"""

from __future__ import annotations

import itertools
import mmap
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from operator import itemgetter
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from simulator.topology.pathfilter import PathFilter

if TYPE_CHECKING:
    import networkx as nx

_MASK64 = (1 << 64) - 1
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
BLOCK = 256  # destination ranks per bit-parallel BFS (multiple of 8)
_VECTOR_DEGREE = 6  # nodes with more transit successors pick next hops with numpy
#: Most bytes of distance blocks a router keeps (least recently used evicted first). Memory
#: only: an evicted block is recomputed identically when needed again.
_CACHE_BYTES = 256 * 2**20


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a stable 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def ecmp_hash(src: int, dst: int, key: int, hop: int) -> int:
    """Deterministic hash of ``(src, dst, key, hop)`` used to pick among equal-cost hops."""
    h = _mix64(src & _MASK64)
    h = _mix64(h ^ (dst & _MASK64))
    h = _mix64(h ^ (key & _MASK64))
    return _mix64(h ^ (hop & _MASK64))


class Ecmp(StrEnum):
    """How a route picks among equal-cost next hops (see the module docstring)."""

    HASH = "hash"  # stable hash of (src, dst, key, hop)
    DMODK = "dmodk"  # destination index mod the candidates (fat-tree / D-mod-K routing)


class _Edge(Protocol):
    """One directed link as the router reads it (a :class:`~simulator.topology.model.Link`)."""

    @property
    def id(self) -> int: ...
    @property
    def src(self) -> str: ...
    @property
    def dst(self) -> str: ...


def destination_indices(
    nodes: Mapping[str, Mapping[str, object]], ranks: Sequence[str]
) -> list[int]:
    """The D-mod-K index of each rank: the rank node's ``port`` attribute (set by the cluster
    builders: the leaf-port number of the NIC that delivers to it) when every rank has one,
    else the rank itself. ``nodes``: attributes by node name (a graph's ``nodes`` view or a
    topology's node table)."""
    ports = [p for r in ranks if isinstance(p := nodes[r].get("port"), int)]
    if ranks and len(ports) == len(ranks):
        return [int(p) for p in ports]
    return list(range(len(ranks)))


class Router:
    """Hop-count shortest paths between ranks of a graph, deterministic ECMP.

    Args:
        graph: the topology's DiGraph (node attr ``kind``; edge attr ``link_id``).
        ranks: endpoint node names in rank order.
        ecmp: how to pick among equal-cost next hops.
        dest_index: per rank, its D-mod-K index (``dmodk`` only); default
            :func:`destination_indices`.
    """

    def __init__(
        self,
        graph: nx.DiGraph,
        ranks: Sequence[str],
        ecmp: Ecmp | str = Ecmp.HASH,
        dest_index: Sequence[int] | None = None,
    ) -> None:
        kinds = {v: str(a["kind"]) for v, a in graph.nodes(data=True)}
        edges = [(u, v, int(lid)) for u, v, lid in graph.edges(data="link_id")]
        self._setup(kinds, edges, ranks, ecmp, dest_index, graph.nodes)

    @classmethod
    def from_table(
        cls,
        nodes: Mapping[str, Mapping[str, object]],
        links: Iterable[_Edge],
        ranks: Sequence[str],
        ecmp: Ecmp | str = Ecmp.HASH,
    ) -> Router:
        """The router of a topology given as a node table (name -> attributes ``kind`` and
        ``port``, in graph order) and its links, without a networkx graph: the same routes
        as ``Router(graph, ranks, ecmp)`` on the graph of those nodes and links (the routes
        depend on the set of edges, not on their order; ``tests/test_topology_table.py``)."""
        router = cls.__new__(cls)
        kinds = {v: str(a["kind"]) for v, a in nodes.items()}
        edges = [(lk.src, lk.dst, lk.id) for lk in links]
        router._setup(kinds, edges, ranks, ecmp, None, nodes)
        return router

    def _setup(
        self,
        kinds: Mapping[str, str],
        edges: Sequence[tuple[str, str, int]],
        ranks: Sequence[str],
        ecmp: Ecmp | str,
        dest_index: Sequence[int] | None,
        attrs: Mapping[str, Mapping[str, object]],
    ) -> None:
        """Tables of the graph of nodes ``kinds`` (name -> kind, in node order) and directed
        ``edges`` ``(src, dst, link id)``."""
        self.ecmp = Ecmp(ecmp)
        self._dmodk = self.ecmp is Ecmp.DMODK
        self._dindex = (
            list(dest_index) if dest_index is not None else destination_indices(attrs, ranks)
        )
        if len(self._dindex) != len(ranks):
            raise ValueError(f"dest_index: {len(self._dindex)} entries for {len(ranks)} ranks")
        nodes = list(kinds)
        self._index = {n: i for i, n in enumerate(nodes)}
        n = len(nodes)
        self._n = n
        self._transit = np.array([kinds[v] not in ("gpu", "cpu") for v in nodes], dtype=bool)
        self._transit_list: list[bool] = self._transit.tolist()
        self._rank_node = [self._index[r] for r in ranks]
        index = self._index
        m = len(edges)
        eu = np.fromiter((index[u] for u, _, _ in edges), np.int64, m)
        ev = np.fromiter((index[v] for _, v, _ in edges), np.int64, m)
        el = np.fromiter((lid for _, _, lid in edges), np.int64, m)
        # successors sorted by node index (one edge per ordered pair): transit ones as CSR
        # (ptr, node, link) and per-node lists, endpoint ones by (node, endpoint)
        by_uv = np.lexsort((ev, eu))
        su, sv, sl = eu[by_uv], ev[by_uv], el[by_uv]
        tr = self._transit[sv]
        ptr = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(np.bincount(su[tr], minlength=n), out=ptr[1:])
        self._tv_csr = (ptr, sv[tr].astype(np.intp), sl[tr].astype(np.intp))
        bounds = ptr.tolist()
        tv_all, tl_all = sv[tr].tolist(), sl[tr].tolist()
        self._tv_ptr: list[int] = bounds
        self._tv: list[list[int]] = [tv_all[a:b] for a, b in itertools.pairwise(bounds)]
        self._tl: list[list[int]] = [tl_all[a:b] for a, b in itertools.pairwise(bounds)]
        ends = ~tr
        self._end_link: dict[tuple[int, int], int] = dict(
            zip(zip(su[ends].tolist(), sv[ends].tolist(), strict=True), sl[ends].tolist(),
                strict=True)
        )  # fmt: skip
        #: distance blocks: id -> (destination ranks, int8[n_nodes, len(ranks)]), LRU order
        self._blocks: dict[int, tuple[tuple[int, ...], npt.NDArray[np.int8]]] = {}
        self._where: dict[int, tuple[int, int]] = {}  # rank -> (block id, column)
        self._next_block = 0
        self._spare: npt.NDArray[np.int8] | None = None  # the last evicted block, reused
        #: rank -> node index and rank -> D-mod-K index as arrays (made by the first walk)
        self._np_ranks: tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]] | None = None
        # predecessors grouped by target node (CSR): in_src[in_ptr[v]:in_ptr[v + 1]] -> v
        by_v = np.argsort(ev, kind="stable")
        self._in_src = eu[by_v]
        self._in_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ev, minlength=n), out=self._in_ptr[1:])
        self._filter: PathFilter | None = None  # see path_filter

    # ------------------------------------------------------------------ path filter
    def path_filter(self) -> PathFilter:
        """The :class:`~simulator.topology.pathfilter.PathFilter` of this graph, made once
        from the router's own tables (transit mask, predecessors)."""
        if self._filter is None:
            self._filter = PathFilter(self._transit, self._in_ptr, self._in_src)
        return self._filter

    def may_use(
        self, links: Sequence[tuple[str, str]], pairs: Sequence[tuple[int, int]]
    ) -> npt.NDArray[np.bool_]:
        """:meth:`PathFilter.may_use` for ``links`` given by their end nodes' names and
        ``pairs`` of ranks (``False``: the pair's route provably uses none of the links)."""
        index, rank_node = self._index, self._rank_node
        ends = [(index[u], index[v]) for u, v in links]
        return self.path_filter().may_use(ends, [(rank_node[a], rank_node[b]) for a, b in pairs])

    # ------------------------------------------------------------------ distances
    def _distance_block(self, dest_ranks: Sequence[int]) -> npt.NDArray[np.int8]:
        """``int8[n_nodes, len(dest_ranks)]``: column ``j`` holds the hops from every node to
        destination rank ``dest_ranks[j]`` (at most :data:`BLOCK` of them); ``-1`` where
        unreachable without transiting an endpoint.

        Sparse frontier: each BFS level ORs the bitsets of the frontier nodes into their
        predecessors only (edges grouped by target), so a block costs one pass over the edges
        rather than one per level.
        """
        dests = np.array([self._rank_node[r] for r in dest_ranks], dtype=np.int64)
        width = int(dests.size)
        words = (width + 63) // 64
        spare, self._spare = self._spare, None
        if spare is None:  # always BLOCK columns, so that any evicted block can be reused
            spare = block_buffer(self._n)
        dist = spare[:, :width]  # an evicted block's memory: no fresh pages to fault in
        dist.fill(-1)
        visited = np.zeros((self._n, words), dtype=np.uint64)
        if not np.little_endian:  # the bit unpacking below assumes little-endian words
            raise RuntimeError("routing: big-endian hosts are not supported")
        cols = np.arange(width)
        bit = np.left_shift(np.uint64(1), (cols % 64).astype(np.uint64))
        # frontier: distinct nodes with their bitsets (a node can be several ranks' endpoint)
        rows, inv = np.unique(dests, return_inverse=True)
        front = np.zeros((rows.size, words), dtype=np.uint64)
        np.bitwise_or.at(front, (inv, cols // 64), bit)
        visited[rows] = front
        dist[dests, cols] = 0
        in_ptr, in_src = self._in_ptr, self._in_src
        level = 0
        while rows.size:
            if level > 0:  # endpoints receive but never forward
                keep = self._transit[rows]
                rows, front = rows[keep], front[keep]
                if not rows.size:
                    break
            counts = in_ptr[rows + 1] - in_ptr[rows]
            total = int(counts.sum())
            if total == 0:
                break
            owner = np.repeat(np.arange(rows.size), counts)
            edge = np.arange(total) + np.repeat(in_ptr[rows] - (np.cumsum(counts) - counts), counts)
            src = in_src[edge]
            order = np.argsort(src, kind="stable")
            src = src[order]
            starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
            nodes = src[starts]
            new = np.bitwise_or.reduceat(front[owner[order]], starts, axis=0)
            new &= ~visited[nodes]
            hit = new.any(axis=1)
            if not hit.any():
                break
            rows, front = nodes[hit], new[hit]
            visited[rows] |= front
            level += 1
            if level > 127:
                raise ValueError("routing: a shortest path longer than 127 hops")
            # bit j of the block sits in word j // 64 at bit j % 64 (little-endian bytes)
            # the bits reached now were -1 (unreached) before: add level + 1 where set
            reached = np.unpackbits(
                front.view(np.uint8), axis=1, count=width, bitorder="little"
            ).view(np.int8)
            reached *= np.int8(level + 1)
            dist[rows] += reached
        return dist

    def _store(self, dest_ranks: Sequence[int]) -> int:
        """Compute the distance block of ``dest_ranks``, cache it; return its id.

        Blocks are kept in a least-recently-used cache of at most :data:`_CACHE_BYTES`
        (recomputed when evicted: same distances, more time). A rank's column is looked up
        through ``_where`` (the newest block that holds it).
        """
        bid = self._next_block
        self._next_block += 1
        self._blocks[bid] = (tuple(dest_ranks), self._distance_block(dest_ranks))
        for j, r in enumerate(dest_ranks):
            self._where[r] = (bid, j)
        blocks = self._blocks
        while len(blocks) > 1 and sum(_held(b) for _, b in blocks.values()) > _CACHE_BYTES:
            old = next(iter(blocks))
            ranks, evicted = blocks.pop(old)
            whole = evicted if evicted.base is None else evicted.base
            self._spare = whole.reshape(self._n, BLOCK)
            for r in ranks:
                if self._where.get(r, (-1, 0))[0] == old:
                    del self._where[r]
        return bid

    def prefetch(self, dst_ranks: Iterable[int]) -> None:
        """Compute the distances to every rank of ``dst_ranks`` not cached yet, in blocks of
        up to :data:`BLOCK` of those ranks (the same distances as :meth:`route` computes on
        demand, with fewer BFS sweeps when the ranks are strided, e.g. a data-parallel group).
        """
        where = self._where  # membership per rank (``set - dict.keys()`` walks every key)
        missing = sorted({r for r in map(int, dst_ranks) if r not in where})
        for lo in range(0, len(missing), BLOCK):
            self._store(missing[lo : lo + BLOCK])

    def _column(self, dst_rank: int) -> npt.NDArray[np.int8]:
        """Hops to ``dst_rank`` from every node (a strided view; -1: unreachable)."""
        loc = self._where.get(dst_rank)
        if loc is None:  # the block of consecutive ranks around it, less those cached
            lo = dst_rank - dst_rank % BLOCK
            near = range(lo, min(lo + BLOCK, len(self._rank_node)))
            self._store([r for r in near if r == dst_rank or r not in self._where])
            loc = self._where[dst_rank]
        bid, j = loc
        blocks = self._blocks
        entry = blocks[bid] = blocks.pop(bid)  # most recently used last
        return entry[1][:, j]

    def hops(self, src_rank: int, dst_rank: int) -> int:
        """Hop count of the shortest path, ``-1`` if there is none."""
        return int(self._column(dst_rank)[self._rank_node[src_rank]])

    # ------------------------------------------------------------------ routes
    def route(self, src_rank: int, dst_rank: int, key: int = 0) -> tuple[int, ...]:
        """Link ids from ``src_rank`` to ``dst_rank`` (see module docstring); ``key`` is used by
        ``hash`` only."""
        if src_rank == dst_rank:
            return ()
        col = self._column(dst_rank)
        cur = self._rank_node[src_rank]
        target = self._rank_node[dst_rank]
        remaining = int(col[cur])
        if remaining < 0:
            raise ValueError(
                f"no route from rank {src_rank} to rank {dst_rank} that avoids transiting "
                "other endpoints"
            )
        path: list[int] = []
        hop = 0
        d = self._dindex[dst_rank]  # D-mod-K: divided by the candidates of every earlier choice
        while remaining > 1:
            want = remaining - 1
            tv = self._tv[cur]
            if len(tv) > _VECTOR_DEGREE:
                lo, hi = self._tv_ptr[cur], self._tv_ptr[cur + 1]
                idx = np.flatnonzero(col[self._tv_csr[1][lo:hi]] == want).tolist()
            else:
                idx = [k for k, v in enumerate(tv) if col[v] == want]
            if len(idx) == 1:
                k = idx[0]
            elif self._dmodk:
                m = len(idx)
                k = idx[d % m]
                d //= m
            else:
                k = idx[ecmp_hash(src_rank, dst_rank, key, hop) % len(idx)]
            path.append(self._tl[cur][k])
            cur = tv[k]
            remaining = want
            hop += 1
        if remaining == 1:  # the last hop enters the destination endpoint itself
            path.append(self._end_link[cur, target])
        return tuple(path)

    @property
    def batches(self) -> bool:
        """Whether :meth:`route_many` walks routes together (D-mod-K: the choice depends on
        the destination alone, no per-hop hash)."""
        return self._dmodk

    def _csr(self) -> tuple[npt.NDArray[np.intp], ...]:
        """Transit successors of every node as CSR ``(ptr, node, link)``, in node order."""
        return self._tv_csr

    def route_many(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
        """:meth:`route` of every ``(src, dst)`` (D-mod-K only; ``src != dst``), walked
        together with numpy: the same candidates in node order and the same D-mod-K choices,
        hop by hop, as the one-route walk (``tests/test_routing_prefetch.py`` compares them).
        The destinations' distance blocks should be cached (:meth:`prefetch`) for speed.
        """
        if not self._dmodk:
            raise ValueError("route_many: D-mod-K routing only (hash ECMP hashes every hop)")
        if not pairs:
            return []
        ptr, tv_node, tv_link = self._csr()
        out: list[tuple[int, ...]] = [()] * len(pairs)
        # destinations in order; a block's pairs are walked before the next block is swept,
        # so an eviction (a cache smaller than the blocks asked for) never drops a block in use
        dsts = list(map(_SECOND, pairs))
        order = sorted(range(len(pairs)), key=dsts.__getitem__)
        group: list[int] = []
        bid = -1
        for i in order:
            d = pairs[i][1]
            loc = self._where.get(d)
            if loc is None or loc[0] != bid:
                self._walk_group(pairs, group, bid, out, ptr, tv_node, tv_link)
                group = []
                self._column(d)  # sweeps (or touches) the block holding d
                bid = self._where[d][0]
            group.append(i)
        self._walk_group(pairs, group, bid, out, ptr, tv_node, tv_link)
        return out

    def _walk_group(
        self,
        pairs: Sequence[tuple[int, int]],
        group: list[int],
        bid: int,
        out: list[tuple[int, ...]],
        *csr: npt.NDArray[np.intp],
    ) -> None:
        """Walk ``pairs[i]`` for every ``i`` of ``group`` on distance block ``bid`` into
        ``out[i]``."""
        if not group:
            return
        sel = list(map(pairs.__getitem__, group))
        src = np.fromiter(map(_FIRST, sel), np.intp, len(group))
        dst_l = list(map(_SECOND, sel))
        dst = np.fromiter(dst_l, np.intp, len(group))
        cols = np.fromiter(map(_SECOND, map(self._where.__getitem__, dst_l)), np.intp, len(group))
        paths = self._walk(self._blocks[bid][1], src, dst, cols, *csr)
        for i, path in zip(group, paths, strict=True):
            out[i] = path

    def _walk(
        self,
        block: npt.NDArray[np.int8],
        src: npt.NDArray[np.intp],
        dst: npt.NDArray[np.intp],
        col: npt.NDArray[np.intp],
        ptr: npt.NDArray[np.intp],
        tv_node: npt.NDArray[np.intp],
        tv_link: npt.NDArray[np.intp],
    ) -> list[tuple[int, ...]]:
        """The routes of pairs whose destinations' distances are columns ``col`` of ``block``."""
        if self._np_ranks is None:
            self._np_ranks = (
                np.asarray(self._rank_node, dtype=np.intp),
                np.asarray(self._dindex, dtype=np.int64),
            )
        rank_node, dindex = self._np_ranks
        cur = rank_node[src]
        rem = block[cur, col].astype(np.intp)
        if (rem < 0).any():
            bad = int(np.flatnonzero(rem < 0)[0])
            raise ValueError(
                f"no route from rank {int(src[bad])} to rank {int(dst[bad])} that avoids "
                "transiting other endpoints"
            )
        d = dindex[dst]  # a copy: divided in place below
        hops = np.maximum(rem - 1, 0)
        links = np.full((src.size, int(hops.max(initial=0))), -1, dtype=np.intp)
        h = 0
        active = np.flatnonzero(rem > 1)
        while active.size:
            here = cur[active]
            deg = ptr[here + 1] - ptr[here]
            first = np.cumsum(deg) - deg  # each pair's first candidate in the flat arrays
            owner = np.repeat(np.arange(active.size), deg)
            edge = np.arange(int(deg.sum())) + np.repeat(ptr[here] - first, deg)
            want = rem[active] - 1
            ok = block[tv_node[edge], col[active][owner]] == want[owner]
            m = np.bincount(owner, weights=ok, minlength=active.size).astype(np.int64)
            many = m > 1
            k = np.zeros(active.size, dtype=np.int64)
            k[many] = d[active[many]] % m[many]
            d[active[many]] //= m[many]
            seen = np.cumsum(ok)  # the k-th candidate (0-based) of each pair, in node order
            before = np.where(first > 0, seen[first - 1], 0)
            pick = ok & (seen - np.repeat(before, deg) - 1 == k[owner])
            chosen = edge[pick]
            links[active, h] = tv_link[chosen]
            cur[active] = tv_node[chosen]
            rem[active] = want
            active = active[want > 1]
            h += 1
        ends = self._end_link
        rows = links.tolist()
        out: list[tuple[int, ...]] = []
        for row, n_hops, c, r, t in zip(
            rows, hops.tolist(), cur.tolist(), rem.tolist(), rank_node[dst].tolist(), strict=True
        ):
            path = row[:n_hops]
            if r == 1:  # the last hop enters the destination endpoint itself
                path.append(ends[c, t])
            out.append(tuple(path))
        return out


def block_buffer(n_nodes: int) -> npt.NDArray[np.int8]:
    """Uninitialised ``int8[n_nodes, BLOCK]`` for a distance block, in an anonymous memory
    map of its own (freed with the array).

    Not ``np.empty``: numpy advises the kernel to back arrays of 4 MiB and more with
    transparent huge pages, and where the kernel's THP ``defrag`` setting is ``madvise`` (a
    common default, and this VM's) the first touch of such memory waits for the kernel to
    compact memory into huge pages. Measured here (``benchmarks/RESULTS.md``, round 6): a
    fresh block of a 16,384-GPU fat tree (52,480 nodes, 13 MiB) took 80-150 ms to sweep
    instead of 24-29 ms; the first 19 blocks (those the cache keeps) cost about 1.5 s more.
    A view of the map's first columns holds the map (``base``), so the cache's byte count
    and the reuse of an evicted block see the whole buffer.
    """
    size = n_nodes * BLOCK
    buf = mmap.mmap(-1, max(size, 1))  # a map of 0 bytes is refused
    return np.frombuffer(buf, dtype=np.int8, count=size).reshape(n_nodes, BLOCK)


def _held(block: npt.NDArray[np.int8]) -> int:
    """Bytes a distance block holds: its whole allocation (a block is a view of the first
    columns of an array of :data:`BLOCK` columns)."""
    return int(block.nbytes if block.base is None else block.base.nbytes)
