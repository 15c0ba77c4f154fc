"""The transport: every byte a simulation sends goes through one :class:`Transport`.

A transport binds a :class:`~simulator.collectives.context.SimContext` (topology, backend
profile, routes, resolved collectives) to one simpy environment and its
:class:`~simulator.network.Fabric`. The engine calls it for both kinds of traffic:

* :meth:`Transport.collective` (a simpy generator): waits for a concurrency slot when the
  backend limits them (gloo's worker threads), then the protocol's launch latency, then runs the
  schedule's phases through the fidelity's :class:`Executor`, then the backend's local copy;
* :meth:`Transport.send_recv`: a matched send/recv (and its mirror pairs) as fabric flows on
  ``topology.route(src, dst)``, with the backend's ``send_buffer_B`` (the send returns once only
  that much is left to deliver; the receive completes on delivery, or once the profile's
  ``send_recv`` hop floor has passed since the transfer started, the later: a receiver on a
  host with more ranks than cores waits for one, docs/rig.md "More ranks than cores").
  Point-to-point transfers pay the path's latency and its raw link bandwidth, not the
  backend's per-message latency or efficiency, at every fidelity (docs/decisions.md, "P2P
  through the transport").

Fidelity is an executor (:class:`AnalyticalExecutor`, :class:`FlowExecutor`,
:class:`ChunkExecutor`); every executor books the payload bytes it moves in the same per-link
statistics (:meth:`Transport.link_bytes_B`): flows through the fabric's counters, analytical
phases (which put nothing on the fabric) in the transport's own ledger.

:func:`run_alone` is one collective on a fresh environment and fabric (a lone run), used by
:func:`~simulator.collectives.simulate_collective` and the engine's isolated collectives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import simpy

from simulator.collectives.analytical import phase_latency_s
from simulator.collectives.choice import Choice
from simulator.collectives.context import SimContext
from simulator.collectives.flows import PlannedFlows
from simulator.collectives.schedule import Phase, pipeline
from simulator.core.arrays import FloatArray, IntArray
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp, Fidelity, coerce
from simulator.network import Fabric, FlowSpec
from simulator.network.flow import trusted_flow

#: what a simpy generator of the transport yields and is sent back
Steps = Generator[simpy.Event, object, None]


@dataclass
class RunInfo:
    """What one collective did (the value of :meth:`Transport.collective`'s process).

    ``link_payload_B``: payload bytes per link id, whatever the fidelity (None from a
    transport that keeps no payloads, see :class:`Transport`).
    """

    algo: str = ""
    protocol: str = ""
    channels: int = 1
    n_flows: int = 0
    link_payload_B: FloatArray | None = field(default=None, repr=False)


class Executor(Protocol):
    """Runs one phase of a resolved collective at some fidelity (a simpy generator)."""

    def phase(
        self,
        tr: Transport,
        choice: Choice,
        i: int,
        info: RunInfo,
        payload: FloatArray | None,
        tag: str,
    ) -> Steps:
        """Run phase ``i`` of ``choice``; add its payload bytes per link to ``payload``."""
        ...


class AnalyticalExecutor:
    """Closed-form alpha-beta time of the phase; nothing on the fabric."""

    def phase(
        self,
        tr: Transport,
        choice: Choice,
        i: int,
        info: RunInfo,
        payload: FloatArray | None,
        tag: str,
    ) -> Steps:
        """The phase's contention-free cost as a timeout."""
        if payload is not None:
            payload += choice.planned[i].link_payload_B(len(payload))
        yield tr.env.timeout(choice.costs[i].time_s(choice.protocol))


class FlowExecutor:
    """Every phase as concurrent flows on the shared fabric, one latency per phase."""

    def phase(
        self,
        tr: Transport,
        choice: Choice,
        i: int,
        info: RunInfo,
        payload: FloatArray | None,
        tag: str,
    ) -> Steps:
        """All transfers of the phase at once, each with the phase's latency."""
        planned, proto = choice.planned[i], choice.protocol
        lat = phase_latency_s(planned, choice.schedule.phases[i].depth, proto)
        lats = np.full(len(planned.transfers), lat)
        info.n_flows += len(planned.transfers)
        if payload is not None:
            payload += planned.link_payload_B(len(payload))
        yield tr.start_flows(planned, lats, proto.bandwidth_factor, tag, choice.floors_s[i])


@dataclass(frozen=True)
class ChunkExecutor:
    """Every step and chunk as its own flows, steps in sequence."""

    chunks: int = 1

    def phase(
        self,
        tr: Transport,
        choice: Choice,
        i: int,
        info: RunInfo,
        payload: FloatArray | None,
        tag: str,
    ) -> Steps:
        """The phase's steps, pipelined over ``chunks``, one after another."""
        phase: Phase = choice.schedule.phases[i]
        floor, proto = choice.floors_s[i], choice.protocol
        planner = tr.ctx.planner
        for step in pipeline(phase.steps(), self.chunks):
            planned = planner.plan(step)
            info.n_flows += len(planned.transfers)
            if payload is not None:
                payload += planned.link_payload_B(len(payload))
            lats = planned.hop_latency_s(proto)
            # the backend's ceiling, shared out by the step's share of the phase's bytes
            share = float(planned.payload_B.sum()) / phase.bytes_B if floor > 0 else 0.0
            yield tr.start_flows(planned, lats, proto.bandwidth_factor, tag, floor * share)


def executor_for(fidelity: Fidelity, chunks: int = 1) -> Executor:
    """The executor of ``fidelity`` (``chunks``: pipelining chunks at chunk fidelity)."""
    if fidelity is Fidelity.ANALYTICAL:
        return AnalyticalExecutor()
    if fidelity is Fidelity.FLOW:
        return FlowExecutor()
    return ChunkExecutor(chunks)


class Transport:
    """Collectives and point-to-point transfers of one simulation on one environment.

    Args:
        ctx: the simulation's context (topology, profile, routes, resolved collectives).
        env, fabric: the simpy environment and the fabric on it.
        fidelity: how finely collectives run (``analytical``, ``flow``, ``chunk``).
        chunks: pipelining chunks per collective (chunk fidelity), ``>= 1``.
        payloads: add up every collective's payload bytes per link for its
            :attr:`RunInfo.link_payload_B` (a pass over every flow's path); ``False`` when
            nobody reads them (the engine takes per-link bytes from the fabric). Always kept
            at analytical fidelity, whose link bytes are these.
        reuse_flows: at flow fidelity, build the flows of a resolved phase once and start
            the same ones again whenever the phase runs again with the same latencies (a
            data-parallel bucket runs the same phases as the bucket before it). For a fabric
            that keeps no flow records and reroutes nothing: such flows carry no tag.
    """

    def __init__(
        self,
        ctx: SimContext,
        env: simpy.Environment,
        fabric: Fabric,
        fidelity: Fidelity | str = Fidelity.FLOW,
        chunks: int = 1,
        *,
        payloads: bool = True,
        reuse_flows: bool = False,
    ) -> None:
        if chunks < 1:
            raise InputError(f"chunks must be >= 1, got {chunks}", field="chunks")
        self.ctx = ctx
        self.env = env
        self.fabric = fabric
        self.fidelity = coerce(Fidelity, fidelity, field="fidelity")
        self.chunks = chunks
        self.payloads = payloads or self.fidelity is Fidelity.ANALYTICAL
        self.executor = executor_for(self.fidelity, chunks)
        self.reuse_flows = reuse_flows and self.fidelity is Fidelity.FLOW
        #: (planned phase id, bandwidth factor, floor) -> (planned, latencies, flows built
        #: once seen twice, latencies of the flows that only wait); see ``reuse_flows``
        self._seen: dict[
            tuple[int, float, float],
            tuple[PlannedFlows, FloatArray, tuple[FlowSpec, ...] | None, list[float]],
        ] = {}
        self._slots: dict[tuple[int, ...], simpy.Resource] = {}
        self._ledger_B = np.zeros(len(ctx.topology.links))
        #: one-way latency of each point-to-point path already sent over, for the topology it
        #: was summed on (a network change swaps the context's topology: the cache restarts)
        self._path_lat: dict[tuple[int, ...], float] = {}
        self._path_lat_topology: object = ctx.topology

    # -- statistics ---------------------------------------------------------------------

    def link_bytes_B(self) -> FloatArray:
        """Payload bytes per link id of everything sent so far (fabric flows and ledger)."""
        return np.asarray(self.fabric.link_bytes_B, dtype=float) + self._ledger_B

    # -- collectives --------------------------------------------------------------------

    def _slot(self, group: tuple[int, ...], capacity: int) -> simpy.Resource:
        key = tuple(sorted(group))
        res = self._slots.get(key)
        if res is None:
            res = self._slots[key] = simpy.Resource(self.env, capacity=capacity)
        return res

    def collective(
        self,
        op: CollectiveOp | str,
        group: Sequence[int],
        size_B: float,
        algo: Algorithm | str = Algorithm.AUTO,
        *,
        root: int = 0,
        tag: str = "",
        channels: int | None = None,
    ) -> Generator[simpy.Event, object, RunInfo]:
        """One collective of ``group`` (global ranks); for ``env.process``.

        ``size_B`` follows nccl-tests' convention; ``root`` is the group-local index of the
        root (broadcast/reduce); ``tag`` labels the flows. Its value is a :class:`RunInfo`.

        Raises :class:`InputError` for an unknown op or algorithm, a rank out of range, or an
        algorithm that cannot run ``op`` on ``group``.
        """
        profile = self.ctx.profile
        choice = self.ctx.choose(op, group, size_B, algo, channels=channels, root=root)
        sched, proto = choice.schedule, choice.protocol
        info = RunInfo(sched.algo.value, proto.name, sched.channels)
        tag = tag or f"{sched.op.value}.{sched.algo.value}"
        slot_req = None
        if profile.concurrency > 0:
            res = self._slot(sched.group, profile.concurrency)
            slot_req = res.request()
            yield slot_req
        try:
            if sched.phases:
                yield self.env.timeout(proto.base_latency_s)
            payload = np.zeros(len(self.ctx.topology.links)) if self.payloads else None
            for i in range(len(sched.phases)):
                yield from self.executor.phase(self, choice, i, info, payload, tag)
            copy_s = profile.local_copy_s(sched.op, size_B)
            if copy_s > 0:
                yield self.env.timeout(copy_s)
            info.link_payload_B = payload
            if payload is not None and isinstance(self.executor, AnalyticalExecutor):
                # not on the fabric: book here
                self._ledger_B += payload
        finally:
            if slot_req is not None:
                res.release(slot_req)
        return info

    def collectives(
        self,
        groups: Sequence[Sequence[int]],
        op: CollectiveOp | str,
        size_B: float,
        algo: Algorithm | str = Algorithm.AUTO,
        *,
        root: int = 0,
        tag: str = "",
        channels: int | None = None,
    ) -> Generator[simpy.Event, object, list[str]]:
        """The same collective on several disjoint ``groups`` at once; ends when all have.

        Its value is the algorithm used by each group. :class:`InputError` if groups overlap.
        """
        seen: set[int] = set()
        for g in groups:
            if seen & set(g):
                raise InputError(f"groups overlap: {sorted(seen & set(g))}", field="groups")
            seen |= set(g)
        procs = [
            self.env.process(
                self.collective(op, g, size_B, algo, root=root, tag=tag, channels=channels)
            )
            for g in groups
        ]
        yield self.env.all_of(procs)
        return [_algo(p.value) for p in procs]

    def start_flows(
        self,
        planned: PlannedFlows,
        latency_s: FloatArray,
        bandwidth_factor: float,
        tag: str,
        floor_s: float = 0.0,
    ) -> simpy.Event:
        """Start the planned flows (each with its own latency); an event for all of them.

        ``floor_s > 0`` caps every flow's rate so that it needs at least ``floor_s`` to drain
        (a backend's algorithm-bandwidth ceiling).
        """
        lat_arr = np.asarray(latency_s, dtype=float)
        key = (id(planned), bandwidth_factor, floor_s)
        seen = self._seen.get(key) if self.reuse_flows else None
        if seen is not None and (seen[0] is not planned or not np.array_equal(seen[1], lat_arr)):
            seen = None
        if seen is not None and seen[2] is not None:  # the same flows again
            return self._start(seen[2], seen[3])
        specs: list[FlowSpec] = []
        waiting: list[float] = []
        # one numpy division for all sizes: the same IEEE quotient as float(w) / factor
        sizes: list[float] = (planned.wire_B / bandwidth_factor).tolist()
        lats: list[float] = lat_arr.tolist()
        tag = "" if self.reuse_flows else tag
        for t, p, size, lat in zip(planned.transfers, planned.paths, sizes, lats, strict=True):
            if size <= 0.0 or not p.links:
                waiting.append(lat)
                continue
            cap = size / floor_s if floor_s > 0 else math.inf
            # routed paths and checked sizes: no need to re-validate 0.8 million specs
            specs.append(trusted_flow(p.links, size, lat, cap, tag, t.src, t.dst))
        if not self.reuse_flows:
            return self._start(specs, waiting)
        kept = tuple(specs) if seen is not None else None  # built on the second run
        self._seen[key] = (planned, lat_arr.copy(), kept, waiting)
        return self._start(specs if kept is None else kept, waiting)

    def _start(self, specs: Sequence[FlowSpec], waiting: Sequence[float]) -> simpy.Event:
        """Start ``specs`` on the fabric, wait out ``waiting`` (flows that load no link); an
        event for all of them."""
        env = self.env
        waits: list[simpy.Event] = [env.timeout(lat) for lat in waiting]
        if specs:
            waits.append(self.fabric.start_many(specs, results=False))  # only waited for
        return env.all_of(waits)

    # -- point to point -----------------------------------------------------------------

    def _p2p_flows(
        self, pairs: Sequence[tuple[int, int]], part_B: float, latency: bool, tag: str
    ) -> list[FlowSpec]:
        topology = self.ctx.topology
        if topology is not self._path_lat_topology:
            self._path_lat.clear()
            self._path_lat_topology = topology
        lats = self._path_lat
        out = []
        for src, dst in dict.fromkeys(pairs):
            if src == dst:
                continue
            path = tuple(topology.route(src, dst))
            lat = 0.0
            if latency:
                lat = lats.get(path, -1.0)
                if lat < 0.0:
                    lat = lats[path] = topology.path_latency_s(path)
            out.append(FlowSpec(path, part_B, lat, tag=tag, src=src, dst=dst))
        return out

    def _start_p2p(self, specs: list[FlowSpec]) -> simpy.Event:
        if not specs:
            return self.env.timeout(0.0)
        return self.fabric.start_many(specs, results=False)  # only waited for

    def _woken(self, on_received: Callable[[], None]) -> Callable[[], None]:
        """``on_received`` held until the profile's ``send_recv`` hop floor has passed since
        now (the transfer's start): the bytes may be there earlier, but a receiver that waits
        for a core is woken no sooner (:meth:`BackendProfile.at_ranks`, docs/rig.md "More
        ranks than cores"). ``on_received`` itself when the profile has no such floor."""
        floor_s = self.ctx.profile.hop_floor(CollectiveOp.SEND_RECV)
        if floor_s <= 0.0:
            return on_received
        env, due_s = self.env, self.env.now + floor_s

        def woken() -> None:
            if env.now >= due_s:
                on_received()
                return
            env.timeout(due_s - env.now).callbacks.append(lambda _e: on_received())

        return woken

    def send_recv(
        self,
        pairs: Sequence[tuple[int, int]],
        size_B: float,
        tag: str,
        *,
        sender: bool,
        on_sent: Callable[[], None],
        on_received: Callable[[], None],
    ) -> None:
        """Move ``size_B`` bytes on every ``(src, dst)`` of ``pairs`` (duplicates once).

        ``on_sent`` is called when the send may return, ``on_received`` when the bytes are
        delivered (both at once without a send buffer), but no sooner than the profile's
        ``send_recv`` hop floor after now (:meth:`_woken`). ``sender=False``: the sending side
        has no program (a mirrored peer), so the whole message goes as one transfer.
        """
        buffer_B = min(self.ctx.profile.send_buffer_B, size_B)
        on_received = self._woken(on_received)
        if not sender or buffer_B <= 0.0:

            def both(_event: simpy.Event) -> None:
                on_sent()
                on_received()

            self._start_p2p(self._p2p_flows(pairs, size_B, True, tag)).callbacks.append(both)
            return
        # The send returns once only ``buffer_B`` is left to deliver (BackendProfile.send_buffer);
        # the rest of the stream goes on and the receive completes on delivery.
        head_B = size_B - buffer_B

        def tail(_event: simpy.Event | None = None) -> None:
            on_sent()
            rest = self._start_p2p(self._p2p_flows(pairs, buffer_B, head_B <= 0.0, tag))
            rest.callbacks.append(lambda _e: on_received())

        if head_B > 0.0:
            self._start_p2p(self._p2p_flows(pairs, head_B, True, tag)).callbacks.append(tail)
        else:
            tail()


def _algo(info: object) -> str:
    assert isinstance(info, RunInfo)
    return info.algo


def run_alone(
    ctx: SimContext,
    op: CollectiveOp | str,
    group: Sequence[int],
    size_B: float,
    algo: Algorithm | str = Algorithm.AUTO,
    *,
    fidelity: Fidelity | str = Fidelity.FLOW,
    chunks: int = 1,
    root: int = 0,
    tag: str = "",
    channels: int | None = None,
    record: bool = True,
    record_timeline: bool = False,
    link_group: IntArray | None = None,
    payloads: bool = True,
) -> tuple[Transport, RunInfo]:
    """One collective alone on a fresh environment and fabric, started at ``t = 0``.

    Returns the transport (its ``env.now`` is the duration; its fabric holds the per-link
    statistics, with ``record`` the flow records, with ``record_timeline`` the load timeline)
    and the :class:`RunInfo`. ``link_group``: see :class:`~simulator.network.Fabric`;
    ``payloads``: see :class:`Transport`.
    """
    env = simpy.Environment()
    fabric = Fabric(
        env,
        ctx.topology.capacity_Bps,
        record=record,
        record_timeline=record_timeline,
        link_group=link_group,
    )
    tr = Transport(ctx, env, fabric, fidelity, chunks, payloads=payloads)
    proc = env.process(
        tr.collective(op, group, size_B, algo, root=root, tag=tag, channels=channels)
    )
    env.run(until=proc)
    info = proc.value
    assert isinstance(info, RunInfo)
    return tr, info
