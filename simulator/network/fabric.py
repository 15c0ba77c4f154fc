"""The fabric: one simpy process that carries every flow at its max-min fair rate.

A flow started with :meth:`Fabric.start` first waits its ``latency_s`` (it loads no link
meanwhile), then *joins* the sharing and drains its bytes at its max-min fair rate
(:mod:`simulator.network.maxmin`). Rates change only when flows join or leave, so between two
such instants every rate is constant and every completion time is known in closed form.

How events are handled:

* One simpy process owns all flows. It sleeps until the next join or predicted completion,
  then *settles* that instant. There is no simpy process per flow, and no interrupts.
* Wake-ups are scheduled with a priority lower than simpy's ``NORMAL``, so a settle runs after
  every other event of the same timestamp: all joins and leaves of one instant are batched.
  When a settle completes flows, their events fire (other processes may start new flows at
  the same instant), and the rate computation is deferred to one more late wake-up at the same
  time, so that those flows join the same recomputation.
* Flows are grouped into *components*: flows connected through shared links. Max-min fairness
  decomposes over components, so a join or leave recomputes only the component(s) it touches;
  every other component keeps its rates and its predicted next completion (one heap entry per
  component). A joining flow merges the components of its links. A leaving flow may split its
  component; splits are found lazily (when a component has lost half its flows since the last
  check), which only ever makes a recomputation larger than needed, never wrong.
* Flows whose remaining bytes fall within a relative tolerance of zero at a settle complete
  together at that instant. Ties break on the flow's sequence number (order of ``start``).
* A wake-up scheduled for a completion that later moves earlier stays in simpy's queue and
  fires as a no-op settle. It never outlives the work (so ``env.run()`` ends at the last
  completion): the flow it was set for was capped (it cannot finish earlier) or crossed a
  saturated link whose remaining bytes need at least until that time to drain.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import simpy

if TYPE_CHECKING:
    import pandas as pd

from simulator.core.unionfind import find_root
from simulator.network.flow import FlowRecord, FlowSpec
from simulator.network.frames import fabric_frames
from simulator.network.linkstats import LinkStats
from simulator.network.maxmin import FloatArray, IntArray, solve_incidence

#: A flow whose remaining bytes are at most this fraction of its size completes at the current
#: settle (numerical round-off of ``rate * dt``; not a physical constant).
DONE_RTOL = 1e-9

#: simpy priority of the fabric's wake-ups: after ``URGENT`` (0) and ``NORMAL`` (1), so that a
#: settle sees every event of its timestamp.
_LATE = simpy.events.EventPriority(2)

_WAITING, _ACTIVE, _DONE = 0, 1, 2

#: Stands in for the spec of a completed flow when the fabric keeps no records (memory: a
#: 16,384-GPU step starts 2.6 million flows).
RETIRED = FlowSpec((), 0.0, tag="retired")

#: Components with at most this many flows are drained with scalar Python arithmetic, and
#: solves with at most ``4 * _SMALL`` link incidences index links with a dict (both are the
#: same computation as the numpy path, only cheaper for tiny inputs).
_SMALL = 16


class _Alarm(simpy.events.Event):
    """A timeout processed after all normal events of its timestamp (priority ``_LATE``).

    Initialised like :class:`simpy.events.Timeout` (which sets the same attributes), with
    the lower priority.
    """

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        self.env = env
        self.callbacks: list[Callable[[simpy.Event], None]] = []
        self._value = None
        self._ok = True
        env.schedule(self, _LATE, delay)


@dataclass(slots=True)
class _Change:
    """A change asked for mid-run: new capacities of ``links``, or a new path for the flows
    crossing them (they went down)."""

    links: list[int]
    capacity_Bps: list[float] | None
    new_path: Callable[[FlowSpec], Iterable[int]] | None


@dataclass(slots=True)
class _Group:
    """Completion bookkeeping of one ``start`` / ``start_many`` call."""

    event: simpy.Event
    results: list[FlowRecord | None] | None  # None: the caller asked for no records
    pending: int
    single: bool


@dataclass(slots=True, eq=False)
class _Batch:
    """What :meth:`Fabric._submit` derives from one list of specs, kept for a tuple of specs
    started again (a collective phase run once per bucket): the flows it carries (identical
    ones merged when aggregating), their distinct links, sizes, caps, flattened incidence and
    their offsets grouped by latency (one join entry per join time when started)."""

    specs: Sequence[FlowSpec]
    reps: list[FlowSpec]
    slots: list[int]
    merged: list[list[tuple[FlowSpec, int]]]
    n_merged: int
    ulinks: list[tuple[int, ...]]
    size_B: FloatArray
    max_rate_Bps: FloatArray
    flat: IntArray
    lens: IntArray
    offsets: IntArray  # each flow's first incidence, from the batch's first
    by_latency: list[tuple[float, list[int]]]


@dataclass(slots=True, eq=False)
class _Component:
    """Draining flows connected through shared links (possibly a superset of one true one).

    All members were last drained at ``last_t``; ``version`` invalidates older heap entries.
    """

    cid: int
    last_t: float
    members: set[int] = field(default_factory=set)
    links: set[int] = field(default_factory=set)
    version: int = 0
    peak: int = 0  # most members since the last split check
    seqs: IntArray | None = None  # sorted members; None when stale
    checked_t: float = -math.inf  # members were drained and checked for completion at this time


class Fabric:
    """Flow-level network: max-min fair sharing of link capacities, in one simpy process.

    Args:
        env: the simpy environment.
        capacity_Bps: capacity of every link, B/s, indexed by link id (1-D, finite, ``> 0``).
        record: keep a :class:`FlowRecord` per flow in :attr:`records` (the completion event
            carries the record either way).
        record_timeline: keep the per-link load after every rate change, for plots
            (:meth:`timeline_arrays`).
        incremental: recompute only the touched components (default). ``False`` recomputes
            every draining flow in one solve at every settle: same rates up to round-off,
            slower; kept as a test oracle.
        aggregate: carry flows of one ``start_many`` call that are identical (same links,
            size, latency and cap) as one weighted flow: max-min fairness gives identical
            flows identical rates, so their completion times are the same up to round-off
            (the sums over a link's flows are grouped differently). Completion events,
            records and per-link bytes are still per flow. ``None`` (default): only when
            ``record`` is off (the flows table keeps one sequence number per flow); ``False``
            is the exact mode kept as a test oracle.
        link_group: optional group index per link id (e.g. link class and tier): keep the
            summed load of every group as it changes (:meth:`group_timeline_arrays`); costs a
            few rows per settle, nothing per flow.

    Statistics (numpy arrays per link id, updated as the simulation runs):
        ``link_bytes_B`` bytes of completed flows that crossed the link; ``link_busy_s`` time
        with at least one draining flow on it (up to now); ``link_peak_util`` highest fraction
        of capacity in use.

    Raises:
        ValueError: on a capacity array that is not 1-D, finite and positive.
    """

    def __init__(
        self,
        env: simpy.Environment,
        capacity_Bps: npt.ArrayLike,
        record: bool = True,
        *,
        record_timeline: bool = False,
        incremental: bool = True,
        link_group: npt.ArrayLike | None = None,
        aggregate: bool | None = None,
    ) -> None:
        cap = np.array(capacity_Bps, dtype=np.float64)
        if cap.ndim != 1:
            raise ValueError(f"Fabric: capacity_Bps must be 1-D, got shape {cap.shape}")
        if not (np.isfinite(cap).all() and (cap > 0).all()):
            raise ValueError("Fabric: every link capacity must be finite and > 0")
        self._env = env
        self._cap = cap
        self._n_links = int(cap.size)
        self._record = record
        self._incremental = incremental
        self._aggregate = (not record) if aggregate is None else aggregate
        #: flows started so far (each flow of an aggregated group counts)
        self.flows_started = 0
        # seq -> (spec, slot) of the identical flows carried by seq besides its own
        self._merged: dict[int, list[tuple[FlowSpec, int]]] = {}
        self._weighted = False  # some flow stands for several
        groups = None
        if link_group is not None:
            groups = np.asarray(link_group, dtype=np.intp)
            if groups.shape != cap.shape or (groups.size and groups.min() < 0):
                raise ValueError("Fabric: link_group needs one index >= 0 per link")
        self._stats = LinkStats(cap, record_timeline, groups)
        self.records: list[FlowRecord] = []
        #: number of settles (instants handled) and of component recomputations so far
        self.settles = 0
        self.recomputes = 0
        # per flow, indexed by sequence number
        self._spec: list[FlowSpec] = []
        self._ulinks: list[tuple[int, ...]] = []
        self._start_t: list[float] = []
        self._state: list[int] = []
        self._group: list[_Group | None] = []
        self._slot: list[int] = []
        self._size = np.zeros(0)
        self._weight = np.zeros(0)
        self._inc_start = np.zeros(0, dtype=np.intp)  # flow's links: _inc_links[start:start+len]
        self._inc_len = np.zeros(0, dtype=np.intp)
        self._inc_links = np.zeros(256, dtype=np.intp)
        self._inc_used = 0
        self._maxr = np.zeros(0)
        self._rem = np.zeros(0)  # remaining bytes at the component's last_t
        self._rate = np.zeros(0)
        self._end = np.zeros(0)  # predicted completion time at the current rate
        # components
        self._comps: dict[int, _Component] = {}
        self._link_comp: dict[int, int] = {}
        self._next_cid = 0
        self._dirty: set[int] = set()
        self._emptied: set[int] = set()
        # event queues: joins (time, first seq, seqs in order); completions (time, cid, version)
        self._joins: list[tuple[float, int, list[int]]] = []  # (time, first seq, seqs)
        #: prepared batches of spec tuples started more than once, by ``id`` (see _Batch)
        self._batches: dict[int, _Batch] = {}
        self._due: list[tuple[float, int, int]] = []
        self._alarms: list[float] = []
        self._in_flight = 0
        #: changes asked for by :meth:`set_capacity` / :meth:`reroute`, applied at the next settle
        self._changes: list[_Change] = []
        self._prior_B: dict[int, float] = {}  # bytes a rerouted flow carried on earlier paths
        #: optional ``FlowSpec -> FlowSpec`` applied to every flow started (e.g. a new route
        #: around a link that went down after the flow was planned); None: flows as given
        self.rewrite: Callable[[FlowSpec], FlowSpec] | None = None
        self._bell = env.event()
        self.process = env.process(self._run())

    # ------------------------------------------------------------------ public API
    def start(self, flow: FlowSpec) -> simpy.Event:
        """Start ``flow`` now; the returned event fires with its :class:`FlowRecord` when done.

        Raises:
            ValueError: when a link id is not below the number of links.
        """
        event = self._env.event()
        if self.rewrite is not None:
            flow = self.rewrite(flow)
        self._submit([flow], _Group(event, [None], 1, True))
        return event

    def start_many(self, flows: Iterable[FlowSpec], *, results: bool = True) -> simpy.Event:
        """Start all ``flows`` now; the event fires when all are done.

        Its value is the list of :class:`FlowRecord`, in the order of ``flows``; ``None`` with
        ``results=False`` (for callers that only wait: no record is built for them).
        """
        specs: Sequence[FlowSpec]
        if self.rewrite is not None:
            specs = [self.rewrite(f) for f in flows]
        else:  # a tuple is kept as it is: started again, its prepared batch is found again
            specs = flows if isinstance(flows, tuple) else list(flows)
        event = self._env.event()
        if not specs:
            event.succeed([] if results else None)
            return event
        slots: list[FlowRecord | None] | None = [None] * len(specs) if results else None
        self._submit(specs, _Group(event, slots, len(specs), False))
        return event

    @property
    def num_links(self) -> int:
        """Number of links (length of every per-link array)."""
        return self._n_links

    @property
    def capacity_Bps(self) -> FloatArray:
        """Capacity per link id, B/s (a copy)."""
        return self._cap.copy()

    @property
    def now(self) -> float:
        """The environment's current time, s."""
        return float(self._env.now)

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """pandas DataFrames ``flows``, ``links``, ``timeline``: see :func:`fabric_frames`."""
        return fabric_frames(self)

    @property
    def in_flight(self) -> int:
        """Flows started and not yet completed."""
        return self._in_flight

    @property
    def link_bytes_B(self) -> FloatArray:
        """Bytes carried per link id by completed flows."""
        return self._stats.bytes_B()

    @property
    def link_busy_s(self) -> FloatArray:
        """Seconds per link id during which at least one flow drained over it (up to now)."""
        return self._stats.busy_s(self._env.now)

    @property
    def link_peak_util(self) -> FloatArray:
        """Highest fraction of each link's capacity used at any time (0..1)."""
        return self._stats.peak_util()

    def timeline_arrays(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """Per-link load changes ``(time_s, link, load_Bps)`` (needs ``record_timeline``).

        Piecewise constant: a link carries ``load_Bps`` from ``time_s`` until its next row.
        Rows are in time order; links start at load 0.
        """
        return self._stats.timeline_arrays()

    def group_timeline_arrays(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """Summed load changes per link group ``(time_s, group, delta_Bps)`` (needs
        ``link_group``): from ``time_s`` on, the group's load changes by ``delta_Bps``.
        Rows are in time order; every group starts at load 0."""
        return self._stats.group_timeline_arrays()

    @property
    def num_components(self) -> int:
        """Groups of draining flows currently recomputed independently (diagnostics)."""
        return len(self._comps)

    def active_rates(self) -> dict[int, float]:
        """Current rate (B/s) of every draining flow, by sequence number (ascending)."""
        seqs = sorted(s for c in self._comps.values() for s in c.members)
        return {s: float(self._rate[s]) for s in seqs}

    def flow_spec(self, seq: int) -> FlowSpec:
        """The spec of the flow with sequence number ``seq`` (waiting or draining; with
        ``record`` off a completed flow's spec is released and :data:`RETIRED` stands in)."""
        return self._spec[seq]

    # ------------------------------------------------------------------ submission
    def _submit(self, specs: Sequence[FlowSpec], group: _Group) -> None:
        """Register ``specs`` (all started now, reported to ``group``); validate them first."""
        if len(specs) == 1:
            self._submit_one(specs[0], group)
            return
        batch = self._batch(specs)
        self.flows_started += len(specs)
        n = len(batch.reps)
        if n < len(specs):
            group.pending = n
        seq0 = len(self._spec)
        if seq0 + n > self._size.size:
            self._grow(max(64, 2 * self._size.size, seq0 + n))
        now = self._env.now
        self._spec.extend(batch.reps)
        self._ulinks.extend(batch.ulinks)
        self._start_t.extend([now] * n)
        self._state.extend([_WAITING] * n)
        self._group.extend([group] * n)
        self._slot.extend(batch.slots)
        self._size[seq0 : seq0 + n] = batch.size_B
        self._weight[seq0 : seq0 + n] = 1.0
        for k, extra in enumerate(batch.merged):
            if extra:
                self._merged[seq0 + k] = extra
                self._weight[seq0 + k] = 1.0 + len(extra)
                self._weighted = True
        self._maxr[seq0 : seq0 + n] = batch.max_rate_Bps
        self._inc_start[seq0 : seq0 + n] = batch.offsets + self._add_incidence(batch.flat)
        self._inc_len[seq0 : seq0 + n] = batch.lens
        self._in_flight += n + batch.n_merged
        # one join entry per join time, its seqs ascending: popped in (time, seq) order
        by_time: dict[float, list[list[int]]] = {}
        for lat, offsets in batch.by_latency:
            by_time.setdefault(now + lat, []).append(offsets)
        for join_t, lists in by_time.items():
            offsets = lists[0] if len(lists) == 1 else sorted(itertools.chain(*lists))
            heapq.heappush(self._joins, (join_t, seq0 + offsets[0], [seq0 + o for o in offsets]))
        self._arm(min(by_time))

    def _batch(self, specs: Sequence[FlowSpec]) -> _Batch:
        """The :class:`_Batch` of ``specs``: kept and found again for a tuple (a caller that
        starts the same flows again passes the same tuple), built anew for a list."""
        hit = self._batches.get(id(specs))
        if hit is not None and hit.specs is specs:
            return hit
        batch = self._prepare(specs)
        if isinstance(specs, tuple):
            self._batches[id(specs)] = batch
        return batch

    def _prepare(self, specs: Sequence[FlowSpec]) -> _Batch:
        """Merge identical flows (when aggregating), validate link ids, flatten the paths."""
        reps: list[FlowSpec] = list(specs)
        slots: list[int] = list(range(len(specs)))
        merged: list[list[tuple[FlowSpec, int]]] = []
        if self._aggregate and len(specs) > 1:
            rep_of: dict[tuple[tuple[int, ...], float, float, float], int] = {}
            reps, slots = [], []
            for i, spec in enumerate(specs):
                key = (spec.links, spec.size_B, spec.latency_s, spec.max_rate_Bps)
                j = rep_of.get(key)
                if j is None:
                    rep_of[key] = len(reps)
                    reps.append(spec)
                    slots.append(i)
                    merged.append([])
                else:
                    merged[j].append((spec, i))
            if len(reps) == len(specs):
                merged = []
        links_of = [spec.links for spec in reps]
        flat = list(itertools.chain.from_iterable(links_of))
        top = max(flat, default=-1)
        if top >= self._n_links:
            raise ValueError(f"Fabric: link id {top} >= number of links {self._n_links}")
        by_latency: dict[float, list[int]] = {}
        for k, spec in enumerate(reps):
            by_latency.setdefault(spec.latency_s, []).append(k)
        lens = np.fromiter(map(len, links_of), dtype=np.intp, count=len(links_of))
        return _Batch(
            specs=specs,
            reps=reps,
            slots=slots,
            merged=merged,
            n_merged=sum(map(len, merged)),
            ulinks=[ls if len(set(ls)) == len(ls) else tuple(dict.fromkeys(ls)) for ls in links_of],
            size_B=np.array([spec.size_B for spec in reps], dtype=np.float64),
            max_rate_Bps=np.array([spec.max_rate_Bps for spec in reps], dtype=np.float64),
            flat=np.array(flat, dtype=np.intp),
            lens=lens,
            offsets=np.cumsum(lens) - lens,
            by_latency=list(by_latency.items()),
        )

    def _submit_one(self, spec: FlowSpec, group: _Group) -> None:
        """:meth:`_submit` of one flow (a point-to-point send), without the batch's lists."""
        self.flows_started += 1
        links = spec.links
        if links and max(links) >= self._n_links:
            raise ValueError(f"Fabric: link id {max(links)} >= number of links {self._n_links}")
        seq = len(self._spec)
        if seq + 1 > self._size.size:
            self._grow(max(64, 2 * self._size.size, seq + 1))
        now = self._env.now
        self._spec.append(spec)
        self._ulinks.append(links if len(set(links)) == len(links) else tuple(dict.fromkeys(links)))
        self._start_t.append(now)
        self._state.append(_WAITING)
        self._group.append(group)
        self._slot.append(0)
        self._size[seq] = spec.size_B
        self._weight[seq] = 1.0
        self._maxr[seq] = spec.max_rate_Bps
        self._inc_start[seq] = self._add_incidence(links)
        self._inc_len[seq] = len(links)
        self._in_flight += 1
        join_t = now + spec.latency_s
        heapq.heappush(self._joins, (join_t, seq, [seq]))
        self._arm(join_t)

    def _add_incidence(self, links: Sequence[int] | IntArray) -> int:
        """Append ``links`` to the flattened incidence (growing it by doubling); their start."""
        pos, total = self._inc_used, len(links)
        if pos + total > self._inc_links.size:
            grow = max(pos + total, 2 * self._inc_links.size) - self._inc_links.size
            self._inc_links = np.concatenate([self._inc_links, np.zeros(grow, dtype=np.intp)])
        if total:
            self._inc_links[pos : pos + total] = links
        self._inc_used = pos + total
        return pos

    def _grow(self, n: int) -> None:
        def grown(a: FloatArray) -> FloatArray:
            return np.concatenate([a, np.zeros(n - a.size)])

        self._size, self._maxr = grown(self._size), grown(self._maxr)
        self._weight = grown(self._weight)
        self._rem, self._rate, self._end = grown(self._rem), grown(self._rate), grown(self._end)
        pad = np.zeros(n - self._inc_start.size, dtype=np.intp)
        self._inc_start = np.concatenate([self._inc_start, pad])
        self._inc_len = np.concatenate([self._inc_len, pad])

    # ------------------------------------------------------------------ event loop
    def _run(self) -> Generator[simpy.Event, object, None]:
        while True:
            yield self._bell
            self._bell = self._env.event()
            self._settle()

    def _arm(self, t: float) -> None:
        """Make sure a wake-up is scheduled at or before time ``t``."""
        alarms = self._alarms
        if alarms and alarms[0] <= t:
            return
        heapq.heappush(alarms, t)
        _Alarm(self._env, t - self._env.now).callbacks.append(self._on_alarm)

    def _on_alarm(self, _event: simpy.Event) -> None:
        heapq.heappop(self._alarms)
        if not self._bell.triggered:
            self._bell.succeed()

    def _arm_next(self) -> None:
        due, comps = self._due, self._comps
        if len(due) > 4 * len(comps) + 256:  # drop superseded entries (bounded memory)
            due[:] = [e for e in due if e[1] in comps and comps[e[1]].version == e[2]]
            heapq.heapify(due)
        while due:
            comp = comps.get(due[0][1])
            if comp is not None and comp.version == due[0][2]:
                break
            heapq.heappop(due)
        t_next = due[0][0] if due else math.inf
        if self._joins:
            t_next = min(t_next, self._joins[0][0])
        if t_next < math.inf:
            self._arm(t_next)

    def _settle(self) -> None:
        """Handle every completion and join due now; recompute the touched components."""
        self.settles += 1
        t = self._env.now
        finished: list[int] = []
        due, comps = self._due, self._comps
        while due and due[0][0] <= t:
            _, cid, version = heapq.heappop(due)
            comp = comps.get(cid)
            if comp is not None and comp.version == version:
                self._drain(comp, t, finished)
        if not self._incremental:
            for cid in sorted(comps):
                if cid in comps:
                    self._drain(comps[cid], t, finished)
        if self._changes:
            self._apply_changes(t, finished)
        joins = self._joins
        while joins and joins[0][0] <= t:
            self._join_all(heapq.heappop(joins)[2], t, finished)
        if finished:
            # Completion events may start new flows at this same instant: recompute after them.
            self._complete(sorted(finished), t)
            self._arm(t)
            return
        if self._dirty or not self._incremental:
            dirty = sorted(self._dirty) if self._incremental else sorted(comps)
            parts = [p for cid in dirty if cid in comps for p in self._split_if_due(comps[cid])]
            if parts:
                self._solve(sorted(parts, key=lambda c: c.cid), t)
            self._dirty.clear()
        if self._emptied:
            self._stats.idle(t, [k for k in self._emptied if k not in self._link_comp])
            self._emptied.clear()
        self._arm_next()

    # ------------------------------------------------------------------ components
    def _seqs(self, comp: _Component) -> IntArray:
        if comp.seqs is None:
            comp.seqs = np.array(sorted(comp.members), dtype=np.intp)
        return comp.seqs

    def _drain(self, comp: _Component, t: float, finished: list[int]) -> None:
        """Advance ``comp`` to time ``t`` at its current rates; retire the flows now done.

        Runs once per component and instant: flows added later at the same instant are new,
        and a solve resets the mark (a new rate can put a completion at ``t`` itself).
        """
        if comp.checked_t == t:
            return
        comp.checked_t = t
        dt = t - comp.last_t
        comp.last_t = t
        if len(comp.members) <= _SMALL:
            # Same float operations as the vectorised path below, without numpy's call overhead.
            rem, rate, end, size = self._rem, self._rate, self._end, self._size
            done = []
            for seq in sorted(comp.members):
                r = rem[seq]
                if dt > 0.0:
                    r = rem[seq] = r - rate[seq] * dt
                if end[seq] <= t or r <= DONE_RTOL * size[seq]:
                    done.append(seq)
        else:
            seqs = self._seqs(comp)
            if dt > 0.0:
                self._rem[seqs] -= self._rate[seqs] * dt
            mask = (self._end[seqs] <= t) | (self._rem[seqs] <= DONE_RTOL * self._size[seqs])
            if not mask.any():
                return
            done = seqs[mask].tolist()
        if not done:
            return
        state, ulinks, release = self._state, self._ulinks, self._stats.release_all
        members, link_comp = comp.members, self._link_comp
        for seq in done:  # each leaves: its links freed, those now idle leave the component
            state[seq] = _DONE
            members.discard(seq)
            idle = release(ulinks[seq], t)
            if idle:
                for link in idle:
                    del link_comp[link]
                comp.links.difference_update(idle)
                self._emptied.update(idle)
            finished.append(seq)
        comp.seqs = None
        if comp.members:
            self._dirty.add(comp.cid)
        else:
            del self._comps[comp.cid]
            self._dirty.discard(comp.cid)

    def _join(self, seq: int, t: float, finished: list[int]) -> None:
        """Flow ``seq`` starts draining: merge the components of its links and add it."""
        self._join_all((seq,), t, finished, settle=False)

    def _join_all(
        self, seqs: Sequence[int], t: float, finished: list[int], *, settle: bool = True
    ) -> None:
        """Flows ``seqs`` start draining, one after the other, each as :meth:`_join` says
        (one call per join entry, lookups made once). ``settle``: a flow of zero bytes, or
        without links and uncapped, completes now instead (as a settle treats joins)."""
        specs, ulinks, state = self._spec, self._ulinks, self._state
        comps, link_comp, dirty = self._comps, self._link_comp, self._dirty
        rem, rate, end, size = self._rem, self._rate, self._end, self._size
        occupy = self._stats.occupy_all
        for seq in seqs:
            if settle:
                spec = specs[seq]
                if spec.size_B == 0.0 or (not spec.links and spec.max_rate_Bps == math.inf):
                    state[seq] = _DONE
                    finished.append(seq)
                    continue
            links = ulinks[seq]
            target: _Component | None = None
            cids = {link_comp[k] for k in links if k in link_comp}
            if cids:
                done_before = len(finished)
                if len(cids) == 1:  # most joins: the component of the flows started with it
                    comp = comps[next(iter(cids))]
                    if comp.checked_t != t:  # (what _drain checks first)
                        self._drain(comp, t, finished)
                else:
                    for cid in sorted(cids):
                        self._drain(comps[cid], t, finished)
                if len(finished) > done_before:  # flows retired, links may be free: look again
                    cids = {link_comp[k] for k in links if k in link_comp}
                if len(cids) == 1:
                    target = comps[next(iter(cids))]
                elif cids:
                    touching = [comps[c] for c in sorted(cids)]
                    target = max(touching, key=lambda c: (len(c.members), -c.cid))
                    for other in touching:
                        if other is not target:
                            self._merge(target, other)
            if target is None:
                target = self._new_component(t)
            target.members.add(seq)
            target.seqs = None
            state[seq] = _ACTIVE
            rem[seq] = size[seq]
            rate[seq] = 0.0
            end[seq] = math.inf
            occupy(links, t)
            cid = target.cid
            for k in links:
                link_comp[k] = cid
            target.links.update(links)
            dirty.add(cid)

    def _new_component(self, t: float) -> _Component:
        comp = _Component(self._next_cid, t, checked_t=t)
        self._next_cid += 1
        self._comps[comp.cid] = comp
        return comp

    def _merge(self, target: _Component, other: _Component) -> None:
        target.members |= other.members
        target.links |= other.links
        for link in other.links:
            self._link_comp[link] = target.cid
        target.peak += other.peak
        target.seqs = None
        del self._comps[other.cid]
        self._dirty.discard(other.cid)

    def _split_if_due(self, comp: _Component) -> list[_Component]:
        """Split ``comp`` into its true components once it has lost half its flows."""
        n = len(comp.members)
        if 2 * n > comp.peak:
            comp.peak = max(comp.peak, n)
            return [comp]
        comp.peak = n
        parent: dict[int, int] = {}

        for seq in comp.members:
            first = self._ulinks[seq][0] if self._ulinks[seq] else -1 - seq
            r0 = find_root(parent, first)
            for link in self._ulinks[seq][1:]:
                r = find_root(parent, link)
                if r != r0:
                    parent[r] = r0
        groups: dict[int, list[int]] = {}
        for seq in sorted(comp.members):
            first = self._ulinks[seq][0] if self._ulinks[seq] else -1 - seq
            groups.setdefault(find_root(parent, first), []).append(seq)
        if len(groups) == 1:
            return [comp]
        parts = [comp]
        ordered = list(groups.values())  # in order of each group's smallest seq
        comp.members = set(ordered[0])
        comp.links = {k for s in ordered[0] for k in self._ulinks[s]}
        comp.seqs = None
        comp.peak = len(comp.members)
        for members in ordered[1:]:
            part = self._new_component(comp.last_t)
            part.members = set(members)
            part.links = {k for s in members for k in self._ulinks[s]}
            part.peak = len(members)
            for link in part.links:
                self._link_comp[link] = part.cid
            parts.append(part)
        return parts

    def _solve(self, comps: list[_Component], t: float) -> None:
        """New max-min rates for all flows of ``comps`` (each drained to ``t``), in one solve."""
        self.recomputes += 1
        if len(comps) == 1 and len(comps[0].members) == 1:
            seq = next(iter(comps[0].members))
            if not self._weighted or self._weight[seq] == 1.0:
                self._solve_alone(comps[0], seq, t)
                return
        seq_arrays = [self._seqs(c) for c in comps]
        seqs = seq_arrays[0] if len(seq_arrays) == 1 else np.concatenate(seq_arrays)
        flow_idx, uniq, local = self._incidence(seqs)
        weight = self._weight[seqs] if self._weighted else None
        if weight is not None and bool((weight == 1.0).all()):
            weight = None  # same arithmetic as an unaggregated fabric
        rates = solve_incidence(
            flow_idx, local, seqs.size, self._cap[uniq], self._maxr[seqs], weight
        )
        self._rate[seqs] = rates
        with np.errstate(divide="ignore"):  # a starved flow (rate 0) waits for a change
            end = t + self._rem[seqs] / rates
        self._end[seqs] = end
        offset = 0
        for comp, arr in zip(comps, seq_arrays, strict=True):
            comp.last_t = t
            comp.checked_t = -math.inf
            comp.version += 1
            heapq.heappush(
                self._due, (float(end[offset : offset + arr.size].min()), comp.cid, comp.version)
            )
            offset += arr.size
        if uniq.size:
            carried = rates if weight is None else rates * weight
            load = np.bincount(local, weights=carried[flow_idx], minlength=uniq.size)
            self._stats.loads(t, uniq, load.astype(np.float64, copy=False))

    def _solve_alone(self, comp: _Component, seq: int, t: float) -> None:
        """:meth:`_solve` for a component of one flow of weight 1, in scalar arithmetic.

        Progressive filling freezes a lone flow in its first round at the smallest of its
        cap and its links' capacity / times listed: the same divisions and minimum as
        :func:`~simulator.network.maxmin.solve_incidence`, and the per-link loads summed in
        path order as its ``bincount`` sums them, so the numbers are the same bit for bit.
        """
        links = self._spec[seq].links
        cap = self._cap
        index: dict[int, int] = {}
        for k in links:
            index.setdefault(k, len(index))
        mult = [0] * len(index)
        for k in links:
            mult[index[k]] += 1
        rate = float(self._maxr[seq])
        for k, i in index.items():
            share = float(cap[k]) / mult[i]
            if share < rate:
                rate = share
        self._rate[seq] = rate
        end = t + float(self._rem[seq]) / rate if rate > 0.0 else math.inf
        self._end[seq] = end
        comp.last_t = t
        comp.checked_t = -math.inf
        comp.version += 1
        heapq.heappush(self._due, (end, comp.cid, comp.version))
        if index:
            load = [0.0] * len(index)
            for k in links:
                load[index[k]] += rate
            self._stats.loads(t, np.fromiter(index, dtype=np.intp), np.array(load))

    def _incidence(self, seqs: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """Flattened links of flows ``seqs``: ``(flow index, distinct links, local link index)``.

        ``flow index`` is the position in ``seqs``; ``local`` indexes ``distinct links``.
        """
        if seqs.size <= _SMALL:
            inc_flow: list[int] = []
            inc_link: list[int] = []
            index: dict[int, int] = {}
            for i, seq in enumerate(seqs.tolist()):
                links = self._spec[seq].links
                inc_flow.extend([i] * len(links))
                inc_link.extend([index.setdefault(k, len(index)) for k in links])
            return (
                np.array(inc_flow, dtype=np.intp),
                np.array(list(index), dtype=np.intp),
                np.array(inc_link, dtype=np.intp),
            )
        lens = self._inc_len[seqs]
        starts = self._inc_start[seqs]
        flow_idx = np.repeat(np.arange(seqs.size, dtype=np.intp), lens)
        out_start = np.cumsum(lens) - lens
        links = self._inc_links[
            np.arange(flow_idx.size, dtype=np.intp) + np.repeat(starts - out_start, lens)
        ]
        if 16 * links.size >= self._n_links:  # dense: mark and number links in one pass
            mark = np.zeros(self._n_links, dtype=np.intp)
            mark[links] = 1
            uniq = np.flatnonzero(mark)
            mark[uniq] = np.arange(uniq.size, dtype=np.intp)
            return flow_idx, uniq, mark[links]
        uniq, local = np.unique(links, return_inverse=True)
        return flow_idx, uniq, local.reshape(-1)

    # ------------------------------------------------------------------ completion
    def _complete(self, finished: list[int], t: float) -> None:
        """Record and notify the ``finished`` flows (ascending seq)."""
        specs, groups, ulinks = self._spec, self._group, self._ulinks
        add_bytes, prior, merged = self._stats.add_bytes, self._prior_B, self._merged
        record = self._record
        for seq in finished:
            spec = specs[seq]
            add_bytes(spec.links, spec.size_B - (prior.pop(seq, 0.0) if prior else 0.0))
            group = groups[seq]
            assert group is not None
            keep = record or group.results is not None
            rec = None
            if keep:
                rec = FlowRecord(
                    self._start_t[seq],
                    t,
                    spec.size_B,
                    spec.links,
                    spec.tag,
                    spec.src,
                    spec.dst,
                    spec.latency_s,
                    seq,
                )
                if record:
                    self.records.append(rec)
            self._in_flight -= 1
            extra = merged.pop(seq, None) if merged else None
            if extra:
                for other, slot in extra:
                    add_bytes(other.links, other.size_B)
                    if not keep:
                        continue
                    assert rec is not None
                    other_rec = FlowRecord(
                        rec.start_s,
                        t,
                        other.size_B,
                        other.links,
                        other.tag,
                        other.src,
                        other.dst,
                        other.latency_s,
                        seq,
                    )
                    if group.results is not None:
                        group.results[slot] = other_rec
                    if record:
                        self.records.append(other_rec)
                self._in_flight -= len(extra)
            groups[seq] = None
            if not record:  # nothing reads a completed flow's spec again: free it
                specs[seq] = RETIRED
                ulinks[seq] = ()
            if group.results is not None:
                group.results[self._slot[seq]] = rec
            group.pending -= 1
            if group.pending == 0:
                group.event.succeed(rec if group.single else group.results)

    # ------------------------------------------------------------------ changes mid-run
    def set_capacity(self, links: Iterable[int], capacity_Bps: Iterable[float]) -> None:
        """From now on ``links`` carry ``capacity_Bps`` (a degraded link, another job's load).

        Applied at this instant's settle: the flows crossing them are drained at their old
        rates up to now and get new max-min rates from now on. Capacities stay finite, > 0.
        """
        ids = [int(k) for k in links]
        caps = [float(c) for c in capacity_Bps]
        if len(ids) != len(caps) or not all(0.0 < c < math.inf for c in caps):
            raise ValueError("Fabric.set_capacity: one finite capacity > 0 per link")
        self._changes.append(_Change(ids, caps, None))
        self._arm(self._env.now)

    def reroute(self, down: Iterable[int], new_path: Callable[[FlowSpec], Iterable[int]]) -> None:
        """Move every unfinished flow crossing a link of ``down`` to ``new_path(spec)``.

        A draining flow keeps the bytes it has left and carries them on the new path from now
        on (nothing is lost); a flow still in its latency phase simply changes path. Bytes
        already carried stay counted on the old path's links. Applied at this instant's settle.
        """
        self._changes.append(_Change(sorted({int(k) for k in down}), None, new_path))
        self._arm(self._env.now)

    def _apply_changes(self, t: float, finished: list[int]) -> None:
        changes, self._changes = self._changes, []
        for ch in changes:
            touched = {self._link_comp[k] for k in ch.links if k in self._link_comp}
            for cid in sorted(touched):
                if cid in self._comps:
                    self._drain(self._comps[cid], t, finished)
            if ch.capacity_Bps is not None:
                self._cap[ch.links] = ch.capacity_Bps  # the link statistics share this array
                self._dirty.update(c for c in touched if c in self._comps)
                continue
            assert ch.new_path is not None
            down = frozenset(ch.links)
            for seq, spec in enumerate(self._spec):
                if self._state[seq] == _DONE or down.isdisjoint(self._ulinks[seq]):
                    continue
                new = tuple(ch.new_path(spec))
                if self._state[seq] == _ACTIVE:
                    self._lift(seq, t)
                self._relink(seq, new)
                if self._state[seq] == _ACTIVE:
                    rem = float(self._rem[seq])
                    self._join(seq, t, finished)
                    self._rem[seq] = rem

    def _lift(self, seq: int, t: float) -> None:
        """Take draining flow ``seq`` out of its component (it keeps its remaining bytes)."""
        comp = self._comps[self._link_comp[self._ulinks[seq][0]]]
        done_B = float(self._size[seq] - self._rem[seq]) - self._prior_B.get(seq, 0.0)
        self._stats.add_bytes(self._spec[seq].links, done_B)
        self._prior_B[seq] = self._prior_B.get(seq, 0.0) + done_B
        comp.members.discard(seq)
        comp.seqs = None
        for link in self._ulinks[seq]:
            if self._stats.release(link, t):
                del self._link_comp[link]
                comp.links.discard(link)
                self._emptied.add(link)
        if comp.members:
            self._dirty.add(comp.cid)
        else:
            del self._comps[comp.cid]
            self._dirty.discard(comp.cid)

    def _relink(self, seq: int, links: tuple[int, ...]) -> None:
        """Give flow ``seq`` the path ``links`` (spec, distinct links, incidence rows)."""
        from dataclasses import replace

        if links and max(links) >= self._n_links:
            raise ValueError(f"Fabric: link id {max(links)} >= number of links {self._n_links}")
        self._spec[seq] = replace(self._spec[seq], links=links)
        self._ulinks[seq] = tuple(dict.fromkeys(links))
        self._inc_start[seq] = self._add_incidence(links)
        self._inc_len[seq] = len(links)
