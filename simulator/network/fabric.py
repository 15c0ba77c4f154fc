"""The fabric: one simpy process that carries every flow at its max-min fair rate.

A flow started with :meth:`Fabric.start` first waits its ``latency_s`` (it loads no link
meanwhile), then *joins* the sharing and drains its bytes at its max-min fair rate
(:mod:`simulator.network.maxmin`). Rates change only when flows join or leave, so between two
such instants every rate is constant and the next completion time is known in closed form.

How events are handled:

* One simpy process owns all flows. It sleeps until the next join or predicted completion,
  then *settles* that instant. There is no simpy process per flow, and no interrupts.
* Wake-ups are scheduled with a priority lower than simpy's ``NORMAL``, so a settle runs after
  every other event of the same timestamp: all joins and leaves of one instant are batched.
  When a settle completes flows, their events fire (other processes may start new flows at
  the same instant), and the rate computation is deferred to one more late wake-up at the same
  time, so the new flows join the same recomputation.
* Only the *component* touched by the joining/leaving flows is recomputed: the flows reachable
  from their links through shared links. Max-min fairness decomposes over such components, so
  flows elsewhere keep their rates (and their predicted completion times) untouched.
* Flows whose remaining bytes fall within a relative tolerance of zero at a settle complete
  together at that instant. Ties break on the flow's sequence number (order of ``start``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from simulator.network.flow import FlowRecord, FlowSpec
from simulator.network.maxmin import FloatArray, solve_incidence

#: A flow whose remaining bytes are at most this fraction of its size completes at the current
#: settle (numerical round-off of ``rate * dt``; not a physical constant).
DONE_RTOL = 1e-9

#: simpy priority of the fabric's wake-ups: after ``URGENT`` (0) and ``NORMAL`` (1), so that a
#: settle sees every event of its timestamp.
_LATE = simpy.events.EventPriority(2)

_WAITING, _ACTIVE, _DONE = 0, 1, 2


class _Alarm(simpy.events.Event):
    """A timeout processed after all normal events of its timestamp (priority ``_LATE``).

    Initialised like :class:`simpy.events.Timeout` (which sets the same attributes), with
    the lower priority.
    """

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        self.env = env
        self.callbacks: list[Any] = []
        self._value = None
        self._ok = True
        env.schedule(self, _LATE, delay)


@dataclass(slots=True)
class _Group:
    """Completion bookkeeping of one ``start`` / ``start_many`` call."""

    event: simpy.Event
    results: list[FlowRecord | None]
    pending: int
    single: bool


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
            every active flow at every settle; same results, slower; kept as a test oracle.

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
        self._record_timeline = record_timeline
        self._incremental = incremental
        self.records: list[FlowRecord] = []
        # per flow, indexed by sequence number
        self._spec: list[FlowSpec] = []
        self._ulinks: list[tuple[int, ...]] = []
        self._start_t: list[float] = []
        self._state: list[int] = []
        self._rem: list[float] = []
        self._rate: list[float] = []
        self._last_t: list[float] = []
        self._ver: list[int] = []
        self._group: list[_Group | None] = []
        self._slot: list[int] = []
        # per link
        self._link_flows: dict[int, set[int]] = {}
        self._busy_since = [0.0] * self._n_links
        self._busy_s = [0.0] * self._n_links
        self._bytes_B = [0.0] * self._n_links
        self._peak_util = np.zeros(self._n_links)
        self._tl_time: list[float] = []
        self._tl_links: list[npt.NDArray[np.intp]] = []
        self._tl_load: list[FloatArray] = []
        # event queues
        self._joins: list[tuple[float, int]] = []
        self._due: list[tuple[float, int, int]] = []
        self._alarms: list[float] = []
        self._touched: set[int] = set()
        self._in_flight = 0
        self.settles = 0
        self.recomputes = 0
        self._bell = env.event()
        self.process = env.process(self._run())

    # ------------------------------------------------------------------ public API
    def start(self, flow: FlowSpec) -> simpy.Event:
        """Start ``flow`` now; the returned event fires with its :class:`FlowRecord` when done.

        Raises:
            ValueError: when a link id is not below the number of links.
        """
        event = self._env.event()
        self._submit(flow, _Group(event, [None], 1, True), 0)
        return event

    def start_many(self, flows: Iterable[FlowSpec]) -> simpy.Event:
        """Start all ``flows`` now; the event fires when all are done.

        Its value is the list of :class:`FlowRecord`, in the order of ``flows``.
        """
        specs = list(flows)
        event = self._env.event()
        if not specs:
            event.succeed([])
            return event
        group = _Group(event, [None] * len(specs), len(specs), False)
        for i, spec in enumerate(specs):
            self._submit(spec, group, i)
        return event

    @property
    def num_links(self) -> int:
        """Number of links (length of every per-link array)."""
        return self._n_links

    @property
    def in_flight(self) -> int:
        """Flows started and not yet completed."""
        return self._in_flight

    @property
    def link_bytes_B(self) -> FloatArray:
        """Bytes carried per link id by completed flows."""
        return np.array(self._bytes_B)

    @property
    def link_busy_s(self) -> FloatArray:
        """Seconds per link id during which at least one flow drained over it (up to now)."""
        busy = np.array(self._busy_s)
        now = self._env.now
        for link, flows in self._link_flows.items():
            if flows:
                busy[link] += now - self._busy_since[link]
        return busy

    @property
    def link_peak_util(self) -> FloatArray:
        """Highest fraction of each link's capacity used at any time (0..1)."""
        return self._peak_util.copy()

    def active_rates(self) -> dict[int, float]:
        """Current rate (B/s) of every draining flow, by sequence number."""
        return {
            seq: self._rate[seq] for seq in range(len(self._state)) if self._state[seq] == _ACTIVE
        }

    def active_links(self) -> dict[int, tuple[int, ...]]:
        """Links of every draining flow, by sequence number."""
        return {
            seq: self._spec[seq].links
            for seq in range(len(self._state))
            if self._state[seq] == _ACTIVE
        }

    def timeline_arrays(self) -> tuple[FloatArray, npt.NDArray[np.intp], FloatArray]:
        """Per-link load changes ``(time_s, link, load_Bps)`` (needs ``record_timeline``).

        Piecewise constant: a link carries ``load_Bps`` from ``time_s`` until its next row.
        Rows are in time order; links start at load 0.
        """
        if not self._tl_time:
            return np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0)
        sizes = [a.size for a in self._tl_links]
        return (
            np.repeat(np.array(self._tl_time), sizes),
            np.concatenate(self._tl_links),
            np.concatenate(self._tl_load),
        )

    # ------------------------------------------------------------------ submission
    def _submit(self, spec: FlowSpec, group: _Group, slot: int) -> None:
        links = spec.links
        if links and max(links) >= self._n_links:
            raise ValueError(f"Fabric: link id {max(links)} >= number of links {self._n_links}")
        seq = len(self._spec)
        now = self._env.now
        self._spec.append(spec)
        self._ulinks.append(links if len(set(links)) == len(links) else tuple(dict.fromkeys(links)))
        self._start_t.append(now)
        self._state.append(_WAITING)
        self._rem.append(spec.size_B)
        self._rate.append(0.0)
        self._last_t.append(now)
        self._ver.append(0)
        self._group.append(group)
        self._slot.append(slot)
        self._in_flight += 1
        join_t = now + spec.latency_s
        heapq.heappush(self._joins, (join_t, seq))
        self._arm(join_t)

    # ------------------------------------------------------------------ event loop
    def _run(self) -> Any:
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

    def _settle(self) -> None:
        """Handle every completion and join due now; recompute the touched components."""
        self.settles += 1
        t = self._env.now
        touched = self._touched
        finished: list[int] = []
        due, state, ver = self._due, self._state, self._ver
        while due and due[0][0] <= t:
            _, seq, v = heapq.heappop(due)
            if v == ver[seq] and state[seq] == _ACTIVE:
                self._deactivate(seq, t, touched)
                finished.append(seq)
        joins = self._joins
        while joins and joins[0][0] <= t:
            _, seq = heapq.heappop(joins)
            spec = self._spec[seq]
            if spec.size_B == 0.0 or (not spec.links and spec.max_rate_Bps == math.inf):
                state[seq] = _DONE
                finished.append(seq)
            elif not spec.links:  # capped local copy: a component of its own
                state[seq] = _ACTIVE
                self._set_rate(seq, t, spec.max_rate_Bps)
            else:
                self._activate(seq, t, touched)
        if not self._incremental:
            touched.update(k for k, v in self._link_flows.items() if v)
        component = self._component(touched)
        rem, rate, last_t = self._rem, self._rate, self._last_t
        for seq in component:
            dt = t - last_t[seq]
            if dt > 0.0:
                rem[seq] -= rate[seq] * dt
                last_t[seq] = t
            if rem[seq] <= DONE_RTOL * self._spec[seq].size_B:
                self._deactivate(seq, t, touched)
                finished.append(seq)
        if finished:
            # Completion events may start new flows at this same instant: recompute after them.
            self._complete(sorted(finished), t)
            self._arm(t)
            return
        if component or touched:
            self._recompute(component, touched, t)
        touched.clear()
        self._arm_next()

    def _arm_next(self) -> None:
        due, ver, state = self._due, self._ver, self._state
        while due and (due[0][2] != ver[due[0][1]] or state[due[0][1]] != _ACTIVE):
            heapq.heappop(due)
        t_next = due[0][0] if due else math.inf
        if self._joins:
            t_next = min(t_next, self._joins[0][0])
        if t_next < math.inf:
            self._arm(t_next)

    # ------------------------------------------------------------------ flow state changes
    def _activate(self, seq: int, t: float, touched: set[int]) -> None:
        self._state[seq] = _ACTIVE
        self._last_t[seq] = t
        link_flows = self._link_flows
        for link in self._ulinks[seq]:
            flows = link_flows.get(link)
            if flows is None:
                flows = link_flows[link] = set()
            if not flows:
                self._busy_since[link] = t
            flows.add(seq)
            touched.add(link)

    def _deactivate(self, seq: int, t: float, touched: set[int]) -> None:
        self._state[seq] = _DONE
        link_flows = self._link_flows
        for link in self._ulinks[seq]:
            flows = link_flows[link]
            flows.discard(seq)
            if not flows:
                self._busy_s[link] += t - self._busy_since[link]
            touched.add(link)

    def _set_rate(self, seq: int, t: float, rate_Bps: float) -> None:
        self._rate[seq] = rate_Bps
        self._last_t[seq] = t
        v = self._ver[seq] + 1
        self._ver[seq] = v
        heapq.heappush(self._due, (t + self._rem[seq] / rate_Bps, seq, v))

    def _component(self, touched: set[int]) -> list[int]:
        """Active flows reachable from the ``touched`` links through shared links, by seq."""
        link_flows, ulinks = self._link_flows, self._ulinks
        seen = set(touched)
        stack = list(touched)
        comp: set[int] = set()
        while stack:
            flows = link_flows.get(stack.pop())
            if not flows:
                continue
            for seq in flows:
                if seq in comp:
                    continue
                comp.add(seq)
                for link in ulinks[seq]:
                    if link not in seen:
                        seen.add(link)
                        stack.append(link)
        return sorted(comp)

    def _recompute(self, component: list[int], touched: set[int], t: float) -> None:
        """New max-min rates for ``component`` (all flows on its links), and link statistics."""
        self.recomputes += 1
        uniq = np.zeros(0, dtype=np.intp)
        load = np.zeros(0)
        if component:
            inc_flow: list[int] = []
            inc_link: list[int] = []
            specs = self._spec
            caps = []
            for i, seq in enumerate(component):
                links = specs[seq].links
                inc_flow.extend([i] * len(links))
                inc_link.extend(links)
                caps.append(specs[seq].max_rate_Bps)
            flow_idx = np.array(inc_flow, dtype=np.intp)
            uniq, local = np.unique(np.array(inc_link, dtype=np.intp), return_inverse=True)
            local = local.reshape(-1)
            cap = self._cap[uniq]
            rates = solve_incidence(flow_idx, local, len(component), cap, np.array(caps))
            for seq, r in zip(component, rates.tolist(), strict=True):
                self._set_rate(seq, t, r)
            load = np.bincount(local, weights=rates[flow_idx], minlength=uniq.size).astype(
                np.float64, copy=False
            )
            self._peak_util[uniq] = np.maximum(self._peak_util[uniq], load / cap)
        if self._record_timeline:
            idle = np.array(sorted(touched.difference(uniq.tolist())), dtype=np.intp)
            self._tl_time.append(t)
            self._tl_links.append(np.concatenate([uniq, idle]))
            self._tl_load.append(np.concatenate([load, np.zeros(idle.size)]))

    def _complete(self, finished: list[int], t: float) -> None:
        """Record and notify the ``finished`` flows (ascending seq)."""
        bytes_B = self._bytes_B
        for seq in finished:
            spec = self._spec[seq]
            for link in spec.links:
                bytes_B[link] += spec.size_B
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
            if self._record:
                self.records.append(rec)
            self._in_flight -= 1
            group = self._group[seq]
            self._group[seq] = None
            assert group is not None
            group.results[self._slot[seq]] = rec
            group.pending -= 1
            if group.pending == 0:
                group.event.succeed(rec if group.single else group.results)
