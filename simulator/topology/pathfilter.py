"""Which rank pairs *may* route over given links: a necessary condition from hop distances.

Routes are shortest in hops and never transit an endpoint (:mod:`simulator.topology.routing`).
A route ``a -> b`` can use the link ``u -> v`` only if

    dist(a, u) + 1 + dist(v, b) == dist(a, b)

(``u`` may be ``a`` itself or a transit node, ``v`` may be ``b`` itself or a transit node).
Two hop-distance sweeps from the links' few end nodes give ``dist(a, u)`` and ``dist(v, b)``
for every rank; ``dist(a, b)`` is bounded above by ``dist(a, x) + dist(x, b)`` over the same
nodes ``x``. A pair whose every link sum exceeds that bound provably avoids the links, without
routing it. What is left still has to be routed to be sure: this is a filter, never a verdict.

A data-parallel folded job asks, for each pipeline send, which of the other 2,047 mirrored
sends share a link with it (:meth:`simulator.workload.strategies.context.JobContext.mirror_pairs`);
on a 16,384-GPU fat tree about nine in ten of them are ruled out here, and their destinations
need no distance block (a 30-40 ms sweep per 256 destinations).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.intp]
_UNREACHED = np.iinfo(np.int16).max // 4  # "no path": larger than any sum of real distances
#: Distance columns kept per direction (a pipeline's sends ask about the same few switches
#: again and again); memory only: a dropped column is swept again, identically.
_KEEP = 64


def _sweep(
    ptr: IntArray, adj: IntArray, transit: npt.NDArray[np.bool_], starts: IntArray
) -> npt.NDArray[np.int16]:
    """``int16[n_nodes, len(starts)]``: hops between each start node and every node along the
    adjacency ``adj[ptr[x]:ptr[x + 1]]`` of node ``x``; endpoints are reached but never
    expanded (a start is expanded whatever its kind). :data:`_UNREACHED` where no path.

    One breadth-first sweep for up to 64 distinct starts at once: every node holds a bitset
    of the starts that reached it, each level ORs the frontier's bitsets into its neighbours.
    """
    n, width = ptr.size - 1, starts.size
    if width > 64:  # one word of bits per sweep
        return np.hstack(
            [_sweep(ptr, adj, transit, starts[lo : lo + 64]) for lo in range(0, width, 64)]
        )
    dist = np.full((n, width), _UNREACHED, dtype=np.int16)
    seen = np.zeros(n, dtype=np.uint64)
    bits = np.left_shift(np.uint64(1), np.arange(width, dtype=np.uint64))
    seen[starts] = bits
    dist[starts, np.arange(width)] = 0
    rows, front = starts, bits
    level = 0
    while rows.size:
        if level > 0:  # endpoints are reached, never passed through
            keep = transit[rows]
            rows, front = rows[keep], front[keep]
        counts = ptr[rows + 1] - ptr[rows]
        total = int(counts.sum())
        if total == 0:
            break
        first = np.repeat(ptr[rows] - (np.cumsum(counts) - counts), counts)
        nxt = adj[np.arange(total) + first]
        order = np.argsort(nxt, kind="stable")
        nxt = nxt[order]
        cuts = np.flatnonzero(np.r_[True, nxt[1:] != nxt[:-1]])
        nodes = nxt[cuts]
        new = np.bitwise_or.reduceat(np.repeat(front, counts)[order], cuts) & ~seen[nodes]
        hit = new != 0
        rows, front = nodes[hit], new[hit]
        if not rows.size:
            break
        seen[rows] |= front
        level += 1
        reached = (front[:, None] >> np.arange(width, dtype=np.uint64)[None, :]) & np.uint64(1)
        r, c = np.nonzero(reached)
        dist[rows[r], c] = level
    return dist


class PathFilter:
    """Hop-distance sweeps over a routing graph, to rule out pairs that cannot use links.

    Args:
        transit: per node, whether a route may pass through it (switches, NICs), not an
            endpoint (gpu/cpu).
        in_ptr, in_src: the predecessors of every node as CSR, ``in_src[in_ptr[v]:in_ptr[v +
            1]]`` are the nodes with a link into ``v`` (the router's table,
            :meth:`simulator.topology.routing.Router.path_filter`).
    """

    def __init__(self, transit: npt.NDArray[np.bool_], in_ptr: IntArray, in_src: IntArray) -> None:
        n = int(transit.size)
        src = np.asarray(in_src, dtype=np.intp)
        dst = np.repeat(np.arange(n, dtype=np.intp), np.diff(in_ptr))
        self._transit = np.asarray(transit, dtype=bool)
        self._in = (np.asarray(in_ptr, dtype=np.intp), src)  # predecessors of every node
        self._out = _csr(n, src, dst)  # successors of every node
        #: swept columns: node -> hops from every node to it / from it to every node
        self._to: dict[int, npt.NDArray[np.int16]] = {}
        self._from: dict[int, npt.NDArray[np.int16]] = {}

    def _columns(self, ends: IntArray, reverse: bool) -> npt.NDArray[np.int32]:
        """``int32[n_nodes, len(ends)]``: hops to (``reverse``) or from each of ``ends``,
        sweeping only the nodes not kept from earlier calls."""
        kept, (ptr, adj) = (self._to, self._in) if reverse else (self._from, self._out)
        new = np.array([x for x in ends.tolist() if x not in kept], dtype=np.intp)
        if new.size:
            if len(kept) + new.size > _KEEP:  # start afresh with this call's nodes
                kept.clear()
                new = ends
            swept = _sweep(ptr, adj, self._transit, new)
            for j, x in enumerate(new.tolist()):
                kept[x] = swept[:, j].copy()
        return np.stack([kept[x] for x in ends.tolist()], axis=1).astype(np.int32)

    def may_use(
        self,
        links: Sequence[tuple[int, int]],
        pairs: Sequence[tuple[int, int]],
    ) -> npt.NDArray[np.bool_]:
        """Per pair of end *nodes* ``(a, b)``, ``False`` when no shortest path from ``a`` to
        ``b`` that transits no endpoint can use any of ``links`` (``(u, v)`` node indices);
        ``True`` when one may (route it to know)."""
        if not pairs or not links:
            return np.zeros(len(pairs), dtype=bool)
        ends = np.unique(np.array(links, dtype=np.intp).ravel())
        col = {int(x): j for j, x in enumerate(ends.tolist())}
        to_x = self._columns(ends, reverse=True)  # [node, j]: node -> ends[j]
        from_x = self._columns(ends, reverse=False)  # [node, j]: ends[j] -> node
        a = np.fromiter((p for p, _ in pairs), np.intp, len(pairs))
        b = np.fromiter((q for _, q in pairs), np.intp, len(pairs))
        # through x: x forwards only if it is a transit node or the pair's own end
        via = to_x[a] + from_x[b]  # [pair, j]
        passable = self._transit[ends][None, :] | (ends[None, :] == a[:, None])
        passable |= ends[None, :] == b[:, None]
        bound = np.where(passable, via, _UNREACHED).min(axis=1)
        out = np.zeros(len(pairs), dtype=bool)
        for u, v in links:
            ju, jv = col[u], col[v]
            leaves = (a == u) if not self._transit[u] else np.ones(a.size, dtype=bool)
            enters = (b == v) if not self._transit[v] else np.ones(b.size, dtype=bool)
            total = to_x[a, ju] + 1 + from_x[b, jv]
            out |= leaves & enters & (total < _UNREACHED) & (total <= bound)
        return out


def _csr(n: int, key: IntArray, val: IntArray) -> tuple[IntArray, IntArray]:
    """``(ptr, adj)``: ``adj[ptr[x]:ptr[x + 1]]`` are the ``val`` of the edges whose ``key``
    is ``x``."""
    order = np.argsort(key, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.bincount(key, minlength=n), out=ptr[1:])
    return ptr, val[order]
