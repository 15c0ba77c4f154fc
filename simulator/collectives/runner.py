"""Running collectives: choosing the algorithm, and putting its flows on the fabric.

* :func:`choose` resolves ``auto`` (and the protocol) like NCCL's tuner: the candidate
  ``(algorithm, protocol)`` with the smallest contention-free time wins.
* :func:`run_collective` is a simpy generator (``yield env.process(run_collective(...))``):
  one collective of ``group`` on a shared :class:`simulator.network.Fabric`, at the requested
  fidelity. The engine calls it once per matched collective; its value is the algorithm name.
* :func:`run_collectives` runs the same collective on several disjoint groups at once (mirror
  groups) and finishes when all do.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import simpy

from simulator.collectives.analytical import PhaseCost, floor_s, phase_cost, phase_latency_s
from simulator.collectives.backend import BackendProfile, ProtocolProfile, load_backend
from simulator.collectives.flows import FlowPlanner, PlannedFlows, planner_for
from simulator.collectives.nvls import nvls_protocols
from simulator.collectives.registry import build_schedule, supports
from simulator.collectives.schedule import Schedule, pipeline
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp, Fidelity, coerce
from simulator.network import FlowSpec
from simulator.topology import Topology


@dataclass(frozen=True)
class Choice:
    """A resolved collective: its schedule, protocol and contention-free time estimate.

    ``planned``, ``costs`` and ``floors_s`` hold, per phase, the routed flows, the
    contention-free cost and the bandwidth-ceiling floor (reused by every run of it).
    """

    schedule: Schedule
    protocol: ProtocolProfile
    estimate_s: float
    planned: tuple[PlannedFlows, ...] = ()
    costs: tuple[PhaseCost, ...] = ()
    floors_s: tuple[float, ...] = ()


@dataclass
class RunInfo:
    """What one run did (the value of :func:`run_collective_info`'s process)."""

    algo: str = ""
    protocol: str = ""
    channels: int = 1
    n_flows: int = 0
    link_payload_B: np.ndarray | None = field(default=None, repr=False)


def check_group(topology: Topology, group: Sequence[int]) -> tuple[int, ...]:
    """``group`` as a tuple of valid, distinct ranks of ``topology``; else :class:`InputError`."""
    g = tuple(int(r) for r in group)
    if not g:
        raise InputError("a collective needs at least one rank", field="ranks")
    for r in g:
        if not 0 <= r < topology.num_ranks:
            raise InputError(
                f"rank {r} out of range 0..{topology.num_ranks - 1} of topology {topology.name}",
                field="ranks",
            )
    if len(set(g)) != len(g):
        raise InputError(f"a rank appears twice in {list(g)}", field="ranks")
    return g


def default_channels(topology: Topology, group: Sequence[int], profile: BackendProfile) -> int:
    """The profile's channel count; ``0`` means the most ranks the group has on one host."""
    if profile.channels > 0:
        return profile.channels
    per_host: dict[str, int] = {}
    for r in group:
        h = topology.host_of(r)
        per_host[h] = per_host.get(h, 0) + 1
    return max(per_host.values(), default=1)


def _schedule_op(op: CollectiveOp, profile: BackendProfile) -> CollectiveOp:
    if op is CollectiveOp.REDUCE_SCATTER and profile.reduce_scatter_as_all_reduce:
        return CollectiveOp.ALL_REDUCE
    return op


def choose(
    topology: Topology,
    op: CollectiveOp | str,
    group: Sequence[int],
    size_B: float,
    algo: Algorithm | str,
    profile: BackendProfile,
    *,
    channels: int | None = None,
    root: int = 0,
) -> Choice:
    """Resolve ``algo`` (``auto``: the profile's fastest candidate) and the fastest protocol.

    The estimate is the contention-free time of :func:`analytical.schedule_time`. With
    ``reduce_scatter_as_all_reduce`` a reduce_scatter is scheduled as an all_reduce of its
    input (the profile's all_reduce candidates apply).
    """
    op = coerce(CollectiveOp, op, field="op")
    want = coerce(Algorithm, algo, field="algo")
    group = check_group(topology, group)
    key = (id(profile), op, group, float(size_B), want, channels, root)
    per_topo = _CHOICES.setdefault(topology, {})
    hit = per_topo.get(key)
    if hit is not None and hit[0] is profile:
        return hit[1]
    choice = _choose(topology, op, group, size_B, want, profile, channels, root)
    if len(per_topo) >= _CHOICE_CACHE_SIZE:
        per_topo.clear()
    per_topo[key] = (profile, choice)
    return choice


#: Resolved collectives per topology (a training step repeats the same few collectives).
_CHOICES: weakref.WeakKeyDictionary[
    Topology, dict[tuple[Any, ...], tuple[BackendProfile, Choice]]
] = weakref.WeakKeyDictionary()
_CHOICE_CACHE_SIZE = 4096


def _choose(
    topology: Topology,
    op: CollectiveOp,
    group: tuple[int, ...],
    size_B: float,
    want: Algorithm,
    profile: BackendProfile,
    channels: int | None,
    root: int,
) -> Choice:
    sched_op = _schedule_op(op, profile)
    if want is Algorithm.AUTO:
        candidates = [a for a in profile.algorithms[sched_op] if supports(a, sched_op)]
    else:
        candidates = [want]
    n_ch = channels if channels is not None else default_channels(topology, group, profile)
    if n_ch < 1:
        raise InputError(f"channels must be >= 1, got {n_ch}", field="channels")
    hosts = [topology.host_of(r) for r in group]
    planner = planner_for(topology, profile)
    best: Choice | None = None
    n_hosts = len(set(hosts))
    min_base = min(p.base_latency_s for p in profile.protocols)
    for a in candidates:
        protocols = profile.protocols
        if a is Algorithm.NVLS:  # only where the switch reduces; its own protocol and efficiency
            protocols = nvls_protocols(topology, group, profile, explicit=want is a)
            if not protocols:
                continue
        cap = profile.max_algbw_Bps(a, n_hosts)
        if best is not None and cap is not None and min_base + size_B / cap >= best.estimate_s:
            continue  # its bandwidth ceiling alone makes it slower: no need to route it
        try:
            sched = build_schedule(a, sched_op, group, hosts, size_B, channels=n_ch, root=root)
        except InputError:
            if want is not Algorithm.AUTO:
                raise
            continue  # e.g. halving_doubling on a non-power-of-two group
        planned = tuple(planner.plan(p.flows) for p in sched.phases)
        total_B = sched.bytes_B
        floors = tuple(floor_s(p.bytes_B, total_B, size_B, cap) for p in sched.phases)
        costs = tuple(
            phase_cost(pl, p.depth, topology.capacity_Bps, f)
            for pl, p, f in zip(planned, sched.phases, floors, strict=True)
        )
        factor = profile.op_factor(sched_op)
        if factor != 1.0:  # the op reaches only this share of each protocol's throughput
            protocols = tuple(
                replace(p, bandwidth_factor=p.bandwidth_factor * factor) for p in protocols
            )
        for proto in protocols:
            t = (proto.base_latency_s + sum(c.time_s(proto) for c in costs)) if costs else 0.0
            if best is None or t < best.estimate_s:
                best = Choice(sched, proto, t, planned, costs, floors)
    if best is None:
        raise InputError(f"no algorithm of backend {profile.name} can run {op.value}", field="algo")
    return best


# -- concurrency limit (gloo's worker threads) -------------------------------------------

_SLOTS: weakref.WeakKeyDictionary[simpy.Environment, dict[tuple[int, ...], simpy.Resource]] = (
    weakref.WeakKeyDictionary()
)


def _slot(env: simpy.Environment, group: tuple[int, ...], capacity: int) -> simpy.Resource:
    per_env = _SLOTS.setdefault(env, {})
    key = tuple(sorted(group))
    res = per_env.get(key)
    if res is None:
        res = simpy.Resource(env, capacity=capacity)
        per_env[key] = res
    return res


# -- execution -----------------------------------------------------------------------------


def _start(
    env: simpy.Environment,
    fabric: Any,
    planned: PlannedFlows,
    latency_s: np.ndarray,
    bandwidth_factor: float,
    tag: str,
    floor_s: float = 0.0,
) -> simpy.Event:
    """Start the planned flows (each with its own latency); an event for all of them.

    ``floor_s > 0`` caps every flow's rate so that it needs at least ``floor_s`` to drain
    (a backend's algorithm-bandwidth ceiling).
    """
    specs = []
    waits: list[simpy.Event] = []
    for t, p, w, lat in zip(
        planned.transfers, planned.paths, planned.wire_B, latency_s, strict=True
    ):
        size = float(w) / bandwidth_factor
        if size <= 0.0 or not p.links:
            waits.append(env.timeout(float(lat)))
            continue
        specs.append(
            FlowSpec(
                links=p.links,
                size_B=size,
                latency_s=float(lat),
                max_rate_Bps=size / floor_s if floor_s > 0 else math.inf,
                tag=tag,
                src=t.src,
                dst=t.dst,
            )
        )
    if specs:
        waits.append(fabric.start_many(specs))
    return env.all_of(waits)


def run_collective_info(
    env: simpy.Environment,
    fabric: Any,
    topology: Topology,
    op: CollectiveOp | str,
    group: Sequence[int],
    size_B: float,
    algo: Algorithm | str = Algorithm.AUTO,
    backend: BackendProfile | str = "nccl",
    fidelity: Fidelity | str = Fidelity.FLOW,
    chunks: int = 1,
    root: int = 0,
    tag: str = "",
    channels: int | None = None,
) -> Generator[simpy.Event, Any, RunInfo]:
    """Like :func:`run_collective`, but its value is a :class:`RunInfo`."""
    profile = load_backend(backend)
    fid = coerce(Fidelity, fidelity, field="fidelity")
    if chunks < 1:
        raise InputError(f"chunks must be >= 1, got {chunks}", field="chunks")
    choice = choose(topology, op, group, size_B, algo, profile, channels=channels, root=root)
    sched, proto = choice.schedule, choice.protocol
    info = RunInfo(sched.algo.value, proto.name, sched.channels)
    planner = planner_for(topology, profile)
    tag = tag or f"{sched.op.value}.{sched.algo.value}"
    slot_req = None
    if profile.concurrency > 0:
        res = _slot(env, sched.group, profile.concurrency)
        slot_req = res.request()
        yield slot_req
    try:
        if sched.phases:
            yield env.timeout(proto.base_latency_s)
        payload = np.zeros(len(topology.links))
        for i, phase in enumerate(sched.phases):
            floor = choice.floors_s[i]
            if fid is Fidelity.ANALYTICAL:
                payload += choice.planned[i].link_payload_B(len(payload))
                yield env.timeout(choice.costs[i].time_s(proto))
            elif fid is Fidelity.FLOW:
                planned = choice.planned[i]
                lat = phase_latency_s(planned, phase.depth, proto)
                lats = np.full(len(planned.transfers), lat)
                info.n_flows += len(planned.transfers)
                payload += planned.link_payload_B(len(payload))
                yield _start(env, fabric, planned, lats, proto.bandwidth_factor, tag, floor)
            else:
                for step in pipeline(phase.steps(), chunks):
                    planned = _plan_step(planner, step)
                    info.n_flows += len(planned.transfers)
                    payload += planned.link_payload_B(len(payload))
                    lats = planned.hop_latency_s(proto)
                    # the backend's ceiling, shared out by the step's share of the phase's bytes
                    share = float(planned.payload_B.sum()) / phase.bytes_B if floor > 0 else 0.0
                    yield _start(
                        env, fabric, planned, lats, proto.bandwidth_factor, tag, floor * share
                    )
        copy_s = profile.local_copy_s(sched.op, size_B)
        if copy_s > 0:
            yield env.timeout(copy_s)
        info.link_payload_B = payload
    finally:
        if slot_req is not None:
            res.release(slot_req)
    return info


def _plan_step(planner: FlowPlanner, step: Sequence[Any]) -> PlannedFlows:
    return planner.plan(step)


def run_collective(
    env: simpy.Environment,
    fabric: Any,
    topology: Topology,
    op: CollectiveOp | str,
    group: Sequence[int],
    size_B: float,
    algo: Algorithm | str = Algorithm.AUTO,
    backend: BackendProfile | str = "nccl",
    fidelity: Fidelity | str = Fidelity.FLOW,
    chunks: int = 1,
    root: int = 0,
    tag: str = "",
    channels: int | None = None,
) -> Generator[simpy.Event, Any, str]:
    """One collective of ``group`` (global ranks) on the shared ``fabric``; for simpy.

    Use as ``algo_used = yield env.process(run_collective(...))``. ``size_B`` follows
    nccl-tests' convention; ``root`` is the group-local index of the root (broadcast/reduce);
    ``tag`` labels the flows. Waits for a slot when the backend limits concurrency (gloo),
    then its launch latency, then runs its phases. Returns the algorithm used.

    Raises :class:`InputError` for an unknown op/algorithm/fidelity, a rank out of range, or an
    algorithm that cannot run ``op`` on ``group``.
    """
    info = yield from run_collective_info(
        env,
        fabric,
        topology,
        op,
        group,
        size_B,
        algo,
        backend,
        fidelity,
        chunks,
        root,
        tag,
        channels,
    )
    return info.algo


def run_collectives(
    env: simpy.Environment,
    fabric: Any,
    topology: Topology,
    groups: Sequence[Sequence[int]],
    op: CollectiveOp | str,
    size_B: float,
    algo: Algorithm | str = Algorithm.AUTO,
    backend: BackendProfile | str = "nccl",
    fidelity: Fidelity | str = Fidelity.FLOW,
    chunks: int = 1,
    root: int = 0,
    tag: str = "",
    channels: int | None = None,
) -> Generator[simpy.Event, Any, list[str]]:
    """The same collective on several disjoint ``groups`` at once; ends when all have.

    Returns the algorithm used by each group. Raises :class:`InputError` if groups overlap.
    """
    seen: set[int] = set()
    for g in groups:
        if seen & set(g):
            raise InputError(f"groups overlap: {sorted(seen & set(g))}", field="groups")
        seen |= set(g)
    procs = [
        env.process(
            run_collective(
                env,
                fabric,
                topology,
                op,
                g,
                size_B,
                algo,
                backend,
                fidelity,
                chunks,
                root,
                tag,
                channels,
            )
        )
        for g in groups
    ]
    yield env.all_of(procs)
    return [str(p.value) for p in procs]
