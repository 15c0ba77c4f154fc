"""Scale by structure: collectives that can never share a link run once, then replay.

A *traffic class* is everything that may put flows on the network independently: one class
per collective group (its members as a set; own groups and mirror groups alike) and one per
point-to-point pair ``(src, dst)``. Before the simulation, every distinct collective
``(op, group, size, algo, root)`` of the workload is resolved with the collectives' own
context (:meth:`~simulator.collectives.context.SimContext.choose` and its flow planner) to
the links its transfers use; a point-to-point pair uses ``topology.route(src, dst)``.

A collective is **isolated** when

* every link it uses is used by no other traffic class, and
* its class can never run two collectives at once: it is launched only by ops of one group
  (as their own group or as a mirror), and each member rank issues them on a single stream
  (streams are in order, and members finish a collective together).

An isolated collective sees only its own flows, so its duration, per-link bytes, busy time,
peak utilisation, flow records and load timeline are those of the same collective run alone
on an empty fabric, shifted to its start time: the engine runs each distinct one once on a
private fabric (:func:`lone_run`) and replays it as a timeout. This is exact, not an
approximation: the fabric's max-min sharing is computed per connected component of flows and
links, and an isolated collective is a component of its own.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from simulator.collectives.context import SimContext
from simulator.collectives.transport import Transport, run_alone
from simulator.core.arrays import FloatArray, IntArray
from simulator.core.ir import Collective, Recv, Send
from simulator.engine.collkey import CollKey, coll_key
from simulator.engine.streams import Plan
from simulator.network import FlowRecord

_EMPTY_TL: tuple[FloatArray, IntArray, FloatArray] = (
    np.zeros(0),
    np.zeros(0, dtype=np.intp),
    np.zeros(0),
)


@dataclass(slots=True)
class LoneRun:
    """One collective alone on an empty fabric, started at ``t = 0``.

    Sparse per-link statistics (link ids with their values) and the raw records and timeline.
    """

    duration_s: float
    algo: str
    links: IntArray
    bytes_B: FloatArray
    busy_s: FloatArray
    peak: FloatArray
    records: list[FlowRecord]
    timeline: tuple[FloatArray, IntArray, FloatArray]
    class_timeline: tuple[FloatArray, IntArray, FloatArray] = field(
        default_factory=lambda: _EMPTY_TL
    )


def lone_run(
    transport: Transport, key: CollKey, record: bool, tag: str, *, flows: bool | None = None
) -> LoneRun:
    """Run collective ``key`` alone on a fresh environment and fabric; see :class:`LoneRun`.

    It runs on ``transport``'s context and fidelity (the same routes and resolved collectives).
    ``record`` keeps the load timelines (per link and per link class); ``flows`` (default:
    ``record``) the flow records too.
    """
    op, group, size_B, algo, root = key
    keep_flows = record if flows is None else record and flows
    groups = transport.ctx.link_classes.of_link if record else None
    tr, info = run_alone(
        transport.ctx,
        op,
        group,
        size_B,
        algo,
        fidelity=transport.fidelity,
        chunks=transport.chunks,
        root=root,
        tag=tag,
        record=keep_flows,
        record_timeline=record,
        link_group=groups,
        payloads=False,
    )
    duration_s = float(tr.env.now)
    # the fabric retires the emptied links in one more wake-up at the same instant: let it
    # run, so that the timelines end with those links back at load 0
    tr.env.run()
    fabric = tr.fabric
    bytes_B = tr.link_bytes_B()
    busy = np.asarray(fabric.link_busy_s, dtype=float)
    peak = np.asarray(fabric.link_peak_util, dtype=float)
    used = np.flatnonzero((bytes_B > 0) | (busy > 0) | (peak > 0))
    return LoneRun(
        duration_s=duration_s,
        algo=info.algo,
        links=used,
        bytes_B=bytes_B[used],
        busy_s=busy[used],
        peak=peak[used],
        records=list(fabric.records) if keep_flows else [],
        timeline=fabric.timeline_arrays() if record else _EMPTY_TL,
        class_timeline=fabric.group_timeline_arrays() if groups is not None else _EMPTY_TL,
    )


@dataclass(slots=True)
class Isolation:
    """Which collectives are isolated, their lone runs, and where they were replayed."""

    isolated: set[CollKey] = field(default_factory=set)
    runs: dict[CollKey, LoneRun] = field(default_factory=dict)
    uses: list[tuple[float, CollKey]] = field(default_factory=list)
    _use_runs: tuple[IntArray, FloatArray] | None = None  # see _use_index

    def add_link_stats(
        self, bytes_B: FloatArray, busy_s: FloatArray, peak: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The fabric's per-link arrays plus the replayed collectives' (new arrays)."""
        b, u, p = bytes_B.astype(float), busy_s.astype(float), peak.astype(float)
        counts: dict[CollKey, int] = {}
        for _t0, key in self.uses:
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():  # insertion order: deterministic
            run = self.runs[key]
            np.add.at(b, run.links, n * run.bytes_B)
            np.add.at(u, run.links, n * run.busy_s)
            p[run.links] = np.maximum(p[run.links], run.peak)
        return b, u, p

    def records(self) -> list[FlowRecord]:
        """Flow records of every replay, shifted to its start time."""
        out = []
        for t0, key in self.uses:
            for rec in self.runs[key].records:
                out.append(
                    dataclasses.replace(rec, start_s=rec.start_s + t0, end_s=rec.end_s + t0, seq=-1)
                )
        return out

    def class_timeline(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """Per-class load changes ``(time_s, class, delta_Bps)`` of every replay, shifted
        (unsorted)."""
        return self._shifted("class_timeline", None)

    def timeline(self, links: IntArray | None = None) -> tuple[FloatArray, IntArray, FloatArray]:
        """Per-link load changes of every replay, shifted (unsorted); only rows of ``links``
        when given."""
        return self._shifted("timeline", links)

    def _shifted(
        self, attr: str, links: IntArray | None
    ) -> tuple[FloatArray, IntArray, FloatArray]:
        own: list[tuple[FloatArray, IntArray, FloatArray]] = []
        for run in self.runs.values():
            tl = run.class_timeline if attr == "class_timeline" else run.timeline
            if links is not None and len(tl[0]):
                keep = np.isin(tl[1], links)
                tl = (tl[0][keep], tl[1][keep], tl[2][keep])
            own.append(tl)
        return _replayed(own, *self._use_index())

    def _use_index(self) -> tuple[IntArray, FloatArray]:
        """Per use, the index of its run in :attr:`runs` and its start time (computed once
        after the simulation: the keys are tuples of the group, slow to hash 76,680 times)."""
        if self._use_runs is None or len(self._use_runs[0]) != len(self.uses):
            slot = {k: i for i, k in enumerate(self.runs)}
            self._use_runs = (
                np.array([slot[k] for _, k in self.uses], dtype=np.intp),
                np.array([t0 for t0, _ in self.uses], dtype=float),
            )
        return self._use_runs


def _replayed(
    own: list[tuple[FloatArray, IntArray, FloatArray]], which: IntArray, t0: FloatArray
) -> tuple[FloatArray, IntArray, FloatArray]:
    """The rows of ``own[which[u]]`` for each use ``u`` in order, times plus ``t0[u]``: what
    concatenating each use's rows shifted by its start gives, gathered with one index array
    instead of an array per use."""
    lens = np.array([len(tl[0]) for tl in own], dtype=np.intp)
    if len(which) == 0 or not lens[which].any():
        return _EMPTY_TL
    first = np.cumsum(lens) - lens  # row of each run's first row in the stacked arrays
    n = lens[which]
    out_first = np.cumsum(n) - n  # row of each use's first row in the output
    rows = np.repeat(first[which] - out_first, n) + np.arange(int(n.sum()))
    full = [tl for tl in own if len(tl[0])]
    stacked = [np.concatenate([tl[j] for tl in full]) for j in range(3)]
    return stacked[0][rows] + np.repeat(t0, n), stacked[1][rows], stacked[2][rows]


def find_isolated(plan: Plan, ctx: SimContext) -> set[CollKey]:
    """The distinct collectives of ``plan`` that are isolated (see the module docstring)."""
    topology = ctx.topology
    has_program = set(plan.program_ranks)
    ctx.route_ahead(_distinct_keys(plan))  # resolved below one by one: routes cached
    # classes and their links
    class_links: dict[Hashable, set[int]] = defaultdict(set)
    key_links: dict[CollKey, set[int]] = {}
    key_class: dict[CollKey, Hashable] = {}
    launchers: dict[Hashable, set[tuple[int, ...]]] = defaultdict(set)
    streams: dict[Hashable, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for g in plan.traffic:  # every distinct launch (each op left out repeats one of them)
        op = plan.ops[g]
        if isinstance(op, Collective):
            primary = tuple(sorted(op.group))
            for i, grp in enumerate((op.group, *op.mirrors)):
                cls: Hashable = ("group", primary if i == 0 else tuple(sorted(grp)))
                key = plan.own(g) if i == 0 else coll_key(op, grp)
                if key not in key_links:
                    key_links[key] = collective_links(ctx, key)
                    key_class[key] = cls
                class_links[cls] |= key_links[key]
                launchers[cls].add(primary)
                streams[cls][plan.rank[g]].add(plan.stream[g])
        elif isinstance(op, Send):
            pairs = [(plan.rank[g], op.peer), *op.mirrors]
            for a, b in pairs:
                if a != b:
                    class_links[("p2p", a, b)].update(topology.route(a, b))
        elif isinstance(op, Recv) and op.peer not in has_program and op.peer != plan.rank[g]:
            class_links[("p2p", op.peer, plan.rank[g])].update(
                topology.route(op.peer, plan.rank[g])
            )
    owner: dict[int, Hashable] = {}
    shared: set[int] = set()
    for cls, links in class_links.items():
        for lk in links:
            prev = owner.setdefault(lk, cls)
            if prev != cls:
                shared.add(lk)
    out: set[CollKey] = set()
    for key, links in key_links.items():
        cls = key_class[key]
        serial = len(launchers[cls]) == 1 and all(len(s) == 1 for s in streams[cls].values())
        if serial and not (links & shared):
            out.add(key)
    return out


def _distinct_keys(plan: Plan) -> list[CollKey]:
    """Every distinct collective of ``plan`` (own groups and mirrors), in plan order."""
    keys: dict[CollKey, None] = {}
    for g in plan.traffic:
        op = plan.ops[g]
        if isinstance(op, Collective):
            keys[plan.own(g)] = None
            for grp in op.mirrors:
                keys[coll_key(op, grp)] = None
    return list(keys)


def collective_links(ctx: SimContext, key: CollKey) -> set[int]:
    """Links the transfers of collective ``key`` are routed over (every phase)."""
    op, group, size_B, algo, root = key
    sched = ctx.choose(op, group, size_B, algo, root=root).schedule
    planner = ctx.planner
    links: set[int] = set()
    for phase in sched.phases:
        for t in phase.flows:
            links.update(planner.path(t.src, t.dst, t.channel).links)
    return links
