"""Walking many routes at once: the routes of :meth:`~simulator.topology.routing.Router.route`,
computed in lockstep with numpy instead of one Python walk per route.

All routes of a batch read one distance block (``int8[n_nodes, width]``, column ``j`` the hops
to one destination). Every route starts at its source's node; at hop ``h`` each route whose
remaining distance ``r`` exceeds 1 looks at the transit successors of its node (a CSR over
nodes, in node order, as ``Router`` keeps them), keeps those at distance ``r - 1`` and takes
the ``k``-th of them, where ``k`` is what ``Router.route`` takes: ``0`` for one candidate,
``d % m`` with ``d //= m`` for D-mod-K, ``splitmix64(src, dst, key, h) % m`` for hash (the same
64-bit integer arithmetic, in ``uint64`` whose products wrap modulo 2**64 as the Python code's
``& _MASK64`` does). Integers only: the routes are identical, not close (tested against
``Router.route`` on every shipped topology's sampled pairs, both policies).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_M1 = _U(0xBF58476D1CE4E5B9)
_M2 = _U(0x94D049BB133111EB)


def mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser on ``uint64`` arrays (:func:`~simulator.topology.routing._mix64`)."""
    x = x + _GOLDEN
    x = (x ^ (x >> _U(30))) * _M1
    x = (x ^ (x >> _U(27))) * _M2
    return x ^ (x >> _U(31))


def hash_many(
    src: npt.NDArray[np.uint64], dst: npt.NDArray[np.uint64], key: npt.NDArray[np.uint64], hop: int
) -> npt.NDArray[np.uint64]:
    """:func:`~simulator.topology.routing.ecmp_hash` of every ``(src, dst, key, hop)``."""
    h = mix64(src)
    h = mix64(h ^ dst)
    h = mix64(h ^ key)
    return mix64(h ^ _U(hop))


def walk(
    dist: npt.NDArray[np.int8],
    col: IntArray,
    start: IntArray,
    tptr: IntArray,
    tv: IntArray,
    tl: IntArray,
    choice: tuple[str, npt.NDArray[np.int64] | tuple[npt.NDArray[np.uint64], ...]],
) -> tuple[IntArray, IntArray, IntArray]:
    """Walk every route to the node one hop before its destination.

    Args:
        dist: the distance block; ``col[i]`` is route ``i``'s destination column.
        start: route ``i``'s source node; its distance must be at least 1 (checked by the
            caller).
        tptr, tv, tl: transit successors of node ``u`` are ``tv[tptr[u]:tptr[u + 1]]`` in
            node order, through links ``tl[...]``.
        choice: ``("dmodk", d)`` with every route's D-mod-K index, or
            ``("hash", (src, dst, key))`` as ``uint64`` arrays.

    Returns:
        ``(links, lengths, last)``: ``links[i, :lengths[i]]`` are route ``i``'s link ids up to
        ``last[i]``, the node whose next hop enters the destination.
    """
    n = start.size
    cur = start.copy()
    remaining = dist[cur, col].astype(np.int64)
    links = np.full((n, max(int(remaining.max(initial=1)) - 1, 0)), -1, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    dmodk = choice[0] == "dmodk"
    d = np.asarray(choice[1]).copy() if dmodk else None
    hop = 0
    active = np.flatnonzero(remaining > 1)
    while active.size:
        c = cur[active]
        want = remaining[active] - 1
        counts = tptr[c + 1] - tptr[c]
        firsts = np.cumsum(counts) - counts
        owner = np.repeat(np.arange(active.size), counts)
        pos = np.arange(int(counts.sum())) - np.repeat(firsts - tptr[c], counts)
        match = dist[tv[pos], col[active][owner]] == want[owner]
        m = np.bincount(owner, weights=match, minlength=active.size).astype(np.int64)
        seen = np.cumsum(match)
        rank = seen - 1 - np.repeat(seen[firsts] - match[firsts], counts)  # among matches
        k = np.zeros(active.size, dtype=np.int64)
        many = m > 1
        if dmodk:
            assert d is not None
            da = d[active]
            k[many] = da[many] % m[many]
            d[active[many]] = da[many] // m[many]
        elif many.any():
            src, dst, key = choice[1]
            sel = active[many]
            h = hash_many(src[sel], dst[sel], key[sel], hop)
            k[many] = (h % m[many].astype(np.uint64)).astype(np.int64)
        taken = pos[match & (rank == k[owner])]
        links[active, lengths[active]] = tl[taken]
        lengths[active] += 1
        cur[active] = tv[taken]
        remaining[active] = want
        active = active[want > 1]
        hop += 1
    return links, lengths, cur
