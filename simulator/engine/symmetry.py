"""Scale by symmetry: mirrored traffic that repeats other mirrored traffic exactly runs once.

A folded job simulates representative ranks and adds the traffic of the ranks they stand for
as *mirrors* (other tensor-parallel ranks' data-parallel groups, other pipeline pairs). Much of
it never meets the representatives' own traffic: on a D-mod-K fat tree with one NIC per GPU,
the data-parallel groups of tensor-parallel rank 1 use NIC 1 of each node and the spines and
cores whose index ends in 1, those of rank 2 the ones ending in 2, and so on. Each such block
is simulated in full only to learn when it ends (a collective ends when its own group and all
of its mirrors have).

Traffic classes are those of :mod:`simulator.engine.isolation` (one per collective group, one
per point-to-point pair). Classes that share a link, directly or through other classes, form
one *component*. A component with no class of a simulated rank is *mirror-only*. Two
mirror-only components are *copies* when their classes pair up such that

* paired classes are launched by the same ops (same op, same kind of slot), so they start at
  the same instants with the same sizes, algorithm request and root;
* one rank map ``rho`` takes every paired group (in the order the op lists it) and pair onto
  its partner;
* every resolved collective of a class equals its partner's with ranks mapped by ``rho``:
  algorithm, protocol, channels, estimate, per-phase costs and floors, and per transfer its
  bytes, wire bytes and channel; and
* one link map ``phi`` takes every path (link by link, in path order) onto its partner's, is
  one-to-one, and keeps each link's capacity, latency and kind.

Then the fabric sees the same flows on both, relabelled by ``phi``: the same sizes, latencies,
caps and start times, the same sharing (a flow crosses a link of its partner's path exactly
where the partner crosses its image), and no flow from anywhere else (the components share no
link with anything). Max-min rates are computed per connected group of flows, link sums in flow
order (:mod:`simulator.network.maxmin`), so every flow gets its partner's rate and ends at its
partner's instant, and the partner classes end their collectives together. The copy is not run:
each op waits for the component that is run (which ends at the same instant), and after the run
its links get the statistics and load timelines of their images under ``phi``.

Proved per run, never assumed: a pair of components that fails any check is run in full.
``simulate(..., symmetry=False)`` runs every copy (the exact mode the tests compare with).
Not used with flow records (each record would need its copy) or network changes mid-run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.collectives.choice import Choice
from simulator.collectives.context import SimContext
from simulator.core.arrays import FloatArray, IntArray
from simulator.core.ir import Collective, Recv, Send
from simulator.core.unionfind import find_root
from simulator.engine.collkey import CollKey, coll_key
from simulator.engine.isolation import collective_links
from simulator.engine.streams import Plan

#: ``(op index, kind)``: where a mirror class is launched (``"c"`` collective, ``"s"`` send).
Slot = tuple[int, str]
#: A traffic class: ``("group", sorted ranks)`` or ``("p2p", src, dst)``.
ClassKey = tuple[object, ...]
#: Rows of a load timeline: ``(time_s, link or class, value)``.
Rows = tuple[FloatArray, IntArray, FloatArray]


@dataclass(slots=True)
class _Class:
    """One traffic class: its members as launched at each slot, and its links."""

    own: bool = False
    slots: list[Slot] = field(default_factory=list)
    members: list[tuple[int, ...]] = field(default_factory=list)  # per slot, as the op lists it
    links: set[int] = field(default_factory=set)
    first: int = -1  # order of first appearance in the plan


@dataclass(slots=True)
class Copies:
    """Mirror classes not run, and the links they stand for.

    ``groups`` and ``pairs`` are mirror groups and pairs exactly as the ops list them;
    ``maps`` holds, per copy not run, ``(links of the component run, links of the copy)``
    element by element.
    """

    groups: frozenset[tuple[int, ...]] = frozenset()
    pairs: frozenset[tuple[int, int]] = frozenset()
    maps: list[tuple[IntArray, IntArray]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.maps)

    def link_stats(
        self, bytes_B: FloatArray, busy_s: FloatArray, peak: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The per-link arrays with every copy's links given their images' values (in place)."""
        for src, dst in self.maps:
            bytes_B[dst] = bytes_B[src]
            busy_s[dst] = busy_s[src]
            peak[dst] = peak[src]
        return bytes_B, busy_s, peak

    def sources(self, links: Sequence[int] | IntArray) -> IntArray:
        """The links of the run components whose rows the copies among ``links`` repeat."""
        want = np.asarray(links, dtype=np.intp)
        out = [src[np.isin(dst, want)] for src, dst in self.maps]
        return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.intp)

    def rows(self, tl: Rows, only: Sequence[int] | IntArray | None = None) -> Rows:
        """Per-link rows of the copies (of ``only`` when given), from the rows ``tl`` of the
        links they repeat; unsorted."""
        t, link, v = tl
        parts: list[Rows] = []
        if len(t) == 0:
            return t, link, v
        size = int(link.max()) + 1 if link.size else 0
        for src, dst in self.maps:
            if only is not None:
                keep = np.isin(dst, np.asarray(only, dtype=np.intp))
                src, dst = src[keep], dst[keep]
            if not src.size:
                continue
            lut = np.full(max(size, int(src.max()) + 1), -1, dtype=np.intp)
            lut[src] = dst
            hit = np.flatnonzero(lut[link] >= 0) if link.size else np.zeros(0, dtype=np.intp)
            parts.append((t[hit], lut[link[hit]], v[hit]))
        if not parts:
            return t[:0], link[:0], v[:0]
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))  # type: ignore[return-value]

    def class_rows(self, tl: Rows, group_of: IntArray) -> Rows:
        """Per-class load changes ``(time_s, class, delta_Bps)`` of the copies, from the
        time-ordered per-link rows ``tl`` of the links they repeat; unsorted.

        One row per row of ``tl`` and class its copies fall in: a link repeated by ``k`` copies
        in one class changes that class by ``k`` times its own change (no per-copy rows).
        """
        t, link, v = tl
        if not len(t) or not self.maps:
            return t[:0], link[:0], v[:0]
        order = np.lexsort((t, link))  # per link, in time order (equal times keep their order)
        t, link, v = t[order], link[order], v[order]
        prev = np.concatenate([[0.0], v[:-1]])
        prev[np.flatnonzero(np.diff(link, prepend=-1) != 0)] = 0.0  # each link starts at 0
        delta = v - prev
        src = np.concatenate([s for s, _ in self.maps])
        grp = group_of[np.concatenate([d for _, d in self.maps])]
        keys, count = np.unique(np.stack([src, grp]), axis=1, return_counts=True)
        lo = np.searchsorted(keys[0], link, side="left")
        n = np.searchsorted(keys[0], link, side="right") - lo
        row = np.repeat(np.arange(link.size), n)
        entry = np.repeat(lo, n) + (np.arange(row.size) - np.repeat(np.cumsum(n) - n, n))
        return t[row], keys[1][entry], delta[row] * count[entry]


def find_copies(plan: Plan, ctx: SimContext) -> Copies:
    """The mirror-only components of ``plan`` that are proven copies of others (see the
    module docstring); empty when there are none."""
    classes = _classes(plan, ctx)
    comps = _components(classes)
    families: dict[tuple[tuple[Slot, ...], ...], list[list[ClassKey]]] = defaultdict(list)
    for comp in comps:
        if any(classes[c].own for c in comp):
            continue
        comp.sort(key=lambda c: (tuple(classes[c].slots), classes[c].first))
        families[tuple(tuple(classes[c].slots) for c in comp)].append(comp)
    checker = _Checker(plan, ctx)
    groups: set[tuple[int, ...]] = set()
    pairs: set[tuple[int, int]] = set()
    maps: list[tuple[IntArray, IntArray]] = []
    for members in families.values():
        ref = members[0]
        for cand in members[1:]:
            phi = checker.copy_map(classes, ref, cand)
            if not phi:  # no copy, or one without links (nothing to skip)
                continue
            for c in cand:
                for m in classes[c].members:
                    if c[0] == "group":
                        groups.add(m)
                    else:
                        pairs.add((m[0], m[1]))
            src = np.fromiter(phi.keys(), dtype=np.intp, count=len(phi))
            dst = np.fromiter(phi.values(), dtype=np.intp, count=len(phi))
            maps.append((src, dst))
    return Copies(frozenset(groups), frozenset(pairs), maps)


def _classes(plan: Plan, ctx: SimContext) -> dict[ClassKey, _Class]:
    """Every traffic class of ``plan`` with its slots and links (plan order)."""
    topology = ctx.topology
    has_program = set(plan.program_ranks)
    classes: dict[ClassKey, _Class] = {}
    key_links: dict[CollKey, set[int]] = {}

    def cls(key: ClassKey) -> _Class:
        c = classes.get(key)
        if c is None:
            c = classes[key] = _Class(first=len(classes))
        return c

    for g in plan.traffic:  # every distinct launch, and every op with mirrors (their slots)
        op = plan.ops[g]
        if isinstance(op, Collective):
            for i, grp in enumerate((op.group, *op.mirrors)):
                c = cls(("group", tuple(sorted(grp))))
                if i == 0 or grp == op.group:
                    c.own = True
                else:
                    c.slots.append((g, "c"))
                    c.members.append(tuple(grp))
                k = plan.own(g) if i == 0 else coll_key(op, tuple(grp))
                if k not in key_links:
                    key_links[k] = collective_links(ctx, k)
                c.links |= key_links[k]
        elif isinstance(op, Send):
            own = (plan.rank[g], op.peer)
            for pair in (own, *op.mirrors):
                if pair[0] == pair[1]:
                    continue
                c = cls(("p2p", *pair))
                if pair == own:
                    c.own = True
                else:
                    c.slots.append((g, "s"))
                    c.members.append(tuple(pair))
                c.links.update(topology.route(*pair))
        elif isinstance(op, Recv) and op.peer not in has_program and op.peer != plan.rank[g]:
            c = cls(("p2p", op.peer, plan.rank[g]))
            c.own = True
            c.links.update(topology.route(op.peer, plan.rank[g]))
    return classes


def _choose(ctx: SimContext, op: Collective, grp: Sequence[int]) -> Choice:
    """The resolved collective ``op`` on ``grp``, as the transport resolves it."""
    return ctx.choose(op.op, grp, op.size_B, op.algo, root=op.root)


def _components(classes: dict[ClassKey, _Class]) -> list[list[ClassKey]]:
    """Classes joined by shared links, each list in plan order."""
    parent: dict[ClassKey, ClassKey] = {}

    owner: dict[int, ClassKey] = {}
    for key, c in classes.items():
        for lk in c.links:
            other = owner.setdefault(lk, key)
            a, b = find_root(parent, other), find_root(parent, key)
            if a != b:
                parent[a] = b
    comps: dict[ClassKey, list[ClassKey]] = defaultdict(list)
    for key in classes:
        comps[find_root(parent, key)].append(key)
    return list(comps.values())


class _Checker:
    """Checks that one mirror-only component is a copy of another (module docstring)."""

    def __init__(self, plan: Plan, ctx: SimContext) -> None:
        self.plan = plan
        self.ctx = ctx
        topo = ctx.topology
        self.cap = topo.capacity_Bps
        self.lat = topo.latency_s
        self.kind = [str(lk.kind) for lk in topo.links]

    def copy_map(
        self, classes: dict[ClassKey, _Class], ref: list[ClassKey], cand: list[ClassKey]
    ) -> dict[int, int] | None:
        """``phi`` from ``ref``'s links onto ``cand``'s, or None when ``cand`` is no copy."""
        rho: dict[int, int] = {}
        phi: dict[int, int] = {}
        seen: set[tuple[int, int]] = set()  # resolved collectives already matched
        for a, b in zip(ref, cand, strict=True):
            ca, cb = classes[a], classes[b]
            if ca.slots != cb.slots or a[0] != b[0]:
                return None
            for slot, ma, mb in zip(ca.slots, ca.members, cb.members, strict=True):
                if len(ma) != len(mb) or not _extend(rho, ma, mb):
                    return None
                if not self._same_traffic(slot, ma, mb, rho, phi, seen):
                    return None
        if len(set(rho.values())) != len(rho) or len(set(phi.values())) != len(phi):
            return None
        return phi

    def _same_traffic(
        self,
        slot: Slot,
        ma: tuple[int, ...],
        mb: tuple[int, ...],
        rho: dict[int, int],
        phi: dict[int, int],
        seen: set[tuple[int, int]],
    ) -> bool:
        """Whether the traffic ``slot`` launches on ``ma`` maps onto that on ``mb`` (extending
        ``rho`` and ``phi``); ``seen``: pairs of resolved collectives already matched."""
        op = self.plan.ops[slot[0]]
        if slot[1] == "s":
            topo = self.ctx.topology
            return self._paths(phi, topo.route(*ma), topo.route(*mb))
        assert isinstance(op, Collective)
        x, y = _choose(self.ctx, op, ma), _choose(self.ctx, op, mb)
        if (id(x), id(y)) in seen:  # the context keeps both alive: ids are stable
            return True
        seen.add((id(x), id(y)))
        sx, sy = x.schedule, y.schedule
        same = (sx.algo, sx.op, sx.size_B, sx.channels, x.protocol, x.estimate_s, x.costs,
                x.floors_s) == (sy.algo, sy.op, sy.size_B, sy.channels, y.protocol,
                                y.estimate_s, y.costs, y.floors_s)  # fmt: skip
        if not same or len(sx.phases) != len(sy.phases) or len(x.planned) != len(y.planned):
            return False
        if not _extend(rho, sx.group, sy.group):
            return False
        for pa, pb in zip(sx.phases, sy.phases, strict=True):
            if (pa.name, pa.depth, pa.reduce_B, len(pa.flows)) != (
                pb.name,
                pb.depth,
                pb.reduce_B,
                len(pb.flows),
            ):
                return False
        for fa, fb in zip(x.planned, y.planned, strict=True):
            if len(fa.transfers) != len(fb.transfers):
                return False
            if not (
                np.array_equal(fa.wire_B, fb.wire_B) and np.array_equal(fa.payload_B, fb.payload_B)
            ):
                return False
            for ta, tb, qa, qb in zip(fa.transfers, fb.transfers, fa.paths, fb.paths, strict=True):
                if (rho.get(ta.src), rho.get(ta.dst), ta.size_B, ta.channel) != (
                    tb.src,
                    tb.dst,
                    tb.size_B,
                    tb.channel,
                ):
                    return False
                if (qa.wire_factor, qa.latency_s, qa.kind) != (
                    qb.wire_factor,
                    qb.latency_s,
                    qb.kind,
                ):
                    return False
                if not self._paths(phi, qa.links, qb.links):
                    return False
        return True

    def _paths(self, phi: dict[int, int], a: Sequence[int], b: Sequence[int]) -> bool:
        """Extend ``phi`` with path ``a`` onto path ``b`` link by link; False on a conflict or
        a link whose capacity, latency or kind differs from its image's."""
        if len(a) != len(b):
            return False
        for la, lb in zip(a, b, strict=True):
            hit = phi.get(la)
            if hit is None:
                if not (
                    self.cap[la] == self.cap[lb]
                    and self.lat[la] == self.lat[lb]
                    and self.kind[la] == self.kind[lb]
                ):
                    return False
                phi[la] = lb
            elif hit != lb:
                return False
        return True


def _extend(rho: dict[int, int], a: Sequence[int], b: Sequence[int]) -> bool:
    """Extend the rank map ``rho`` with ``a[i] -> b[i]``; False on a conflict."""
    for x, y in zip(a, b, strict=True):
        hit = rho.setdefault(x, y)
        if hit != y:
            return False
    return True
