"""Resolving a collective: the algorithm, the protocol and the routed flows of every phase.

:func:`resolve` works like NCCL's tuner: the candidate ``(algorithm, protocol)`` with the smallest
contention-free time wins (``auto``; an explicit algorithm only picks the protocol). It is pure:
callers that resolve the same collective often keep the :class:`Choice`
(:class:`~simulator.collectives.context.SimContext` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from simulator.collectives.analytical import PhaseCost, floor_s, phase_cost
from simulator.collectives.backend import BackendProfile, ProtocolProfile
from simulator.collectives.flows import FlowPlanner, PlannedFlows
from simulator.collectives.nvls import nvls_protocols
from simulator.collectives.registry import build_schedule, supports
from simulator.collectives.schedule import Schedule
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp
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


def resolve(
    planner: FlowPlanner,
    op: CollectiveOp,
    group: tuple[int, ...],
    size_B: float,
    want: Algorithm,
    channels: int | None,
    root: int,
) -> Choice:
    """Resolve ``want`` (``auto``: the profile's fastest candidate) and the fastest protocol.

    ``planner`` binds the topology and the backend profile. The estimate is the
    contention-free time of :func:`~simulator.collectives.analytical.schedule_time`. With
    ``reduce_scatter_as_all_reduce`` a reduce_scatter is scheduled as an all_reduce of its
    input (the profile's all_reduce candidates apply).
    """
    topology, profile = planner.topology, planner.profile
    sched_op = _schedule_op(op, profile)
    if want is Algorithm.AUTO:
        candidates = [a for a in profile.algorithms[sched_op] if supports(a, sched_op)]
    else:
        candidates = [want]
    n_ch = channels if channels is not None else default_channels(topology, group, profile)
    if n_ch < 1:
        raise InputError(f"channels must be >= 1, got {n_ch}", field="channels")
    hosts = [topology.host_of(r) for r in group]
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
