"""Resolving a collective: the algorithm, the protocol and the routed flows of every phase.

:func:`resolve` works like NCCL's tuner: the candidate ``(algorithm, protocol)`` with the smallest
contention-free time wins (``auto``; an explicit algorithm only picks the protocol). It is pure:
callers that resolve the same collective often keep the :class:`Choice`
(:class:`~simulator.collectives.context.SimContext` does).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, replace

from simulator.collectives.analytical import PhaseCost, floor_s, phase_cost
from simulator.collectives.backend import BackendProfile, ProtocolProfile
from simulator.collectives.bounds import schedule_lower_bound_s
from simulator.collectives.flows import FlowPlanner, PlannedFlows
from simulator.collectives.nvls import nvls_protocols, nvls_tree_efficiency, nvls_tree_protocols
from simulator.collectives.nvls_tree import nvls_tree
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
    *,
    prune: bool = True,
) -> Choice:
    """Resolve ``want`` (``auto``: the profile's fastest candidate) and the fastest protocol.

    ``planner`` binds the topology and the backend profile. The estimate is the
    contention-free time of :func:`~simulator.collectives.analytical.schedule_time`. With
    ``reduce_scatter_as_all_reduce`` a reduce_scatter is scheduled as an all_reduce of its
    input (the profile's all_reduce candidates apply). The winner is the smallest estimate,
    ties to the earlier candidate and protocol in the profile's order.

    ``prune`` (default) prices candidates in order of a lower bound on their time
    (:func:`~simulator.collectives.bounds.schedule_lower_bound_s`) and routes none whose
    bound exceeds the best time found; ``prune=False`` routes every candidate in the
    profile's order (one loop, :meth:`_Resolver.search`). Both return the same choice (the
    bound is proven, and tested).
    """
    r = _Resolver(planner, op, group, size_B, want, channels, root)
    r.search(prune)
    if r.best is None:
        raise InputError(
            f"no algorithm of backend {r.profile.name} can run {op.value}", field="algo"
        )
    return r.best[3]


def candidate_routes(
    planner: FlowPlanner,
    op: CollectiveOp,
    group: tuple[int, ...],
    size_B: float,
    want: Algorithm,
    channels: int | None,
    root: int,
) -> set[tuple[int, int, int]]:
    """The ``(src, dst, channel)`` of every transfer of every candidate :func:`resolve` may
    route for this collective (it routes those its lower bound does not rule out): what to
    route ahead, together with other collectives' (:meth:`FlowPlanner.route_ahead`). Empty
    where resolving would raise (it raises then, where it is resolved)."""
    try:
        r = _Resolver(planner, op, group, size_B, want, channels, root)
        out: set[tuple[int, int, int]] = set()
        for a in r.candidates:
            sched = r.schedule(a) if r.protocols(a) else None
            for phase in sched.phases if sched is not None else ():
                out.update((t.src, t.dst, t.channel) for t in phase.flows)
    except InputError:
        return set()
    return out


#: Relative slack on a lower bound before it rules a candidate out (floating-point rounding of
#: the bound's sums against the estimate's; far below any real difference between candidates).
_BOUND_RTOL = 1e-9


class _Resolver:
    """One :func:`resolve` call: the candidates, and the best ``(time, candidate, protocol,
    choice)`` priced so far."""

    def __init__(
        self,
        planner: FlowPlanner,
        op: CollectiveOp,
        group: tuple[int, ...],
        size_B: float,
        want: Algorithm,
        channels: int | None,
        root: int,
    ) -> None:
        self.planner, self.want, self.group, self.size_B, self.root = (
            planner, want, group, size_B, root
        )  # fmt: skip
        topology, profile = planner.topology, planner.profile
        self.topology, self.profile = topology, profile
        self.op = op
        self.sched_op = _schedule_op(op, profile)
        if want is Algorithm.AUTO:
            self.candidates = [
                a for a in profile.algorithms[self.sched_op] if supports(a, self.sched_op)
            ]
        else:
            self.candidates = [want]
        n_ch = channels if channels is not None else default_channels(topology, group, profile)
        if n_ch < 1:
            raise InputError(f"channels must be >= 1, got {n_ch}", field="channels")
        self.n_ch = n_ch
        self.hosts = [topology.host_of(r) for r in group]
        self.n_hosts = len(set(self.hosts))
        self.min_base = min(p.base_latency_s for p in profile.protocols)
        self.best: tuple[float, int, int, Choice] | None = None

    def protocols(self, a: Algorithm) -> tuple[ProtocolProfile, ...]:
        profile = self.profile
        protocols = tuple(profile.protocols)
        if a is Algorithm.NVLS:  # only where the switch reduces; its own protocol and efficiency
            protocols = tuple(
                nvls_protocols(
                    self.topology, self.group, profile, explicit=self.want is a, size_B=self.size_B
                )
            )
        elif a is Algorithm.NVLS_TREE:  # NVLS in every node, a tree between them
            protocols = nvls_tree_protocols(
                self.topology, self.group, profile, explicit=self.want is a, size_B=self.size_B
            )
        factor = profile.op_factor(self.sched_op)
        if factor != 1.0:  # the op reaches only this share of each protocol's throughput
            protocols = tuple(
                replace(p, bandwidth_factor=p.bandwidth_factor * factor) for p in protocols
            )
        return protocols

    def schedule(self, a: Algorithm) -> Schedule | None:
        try:
            if a is Algorithm.NVLS_TREE and self.sched_op is CollectiveOp.ALL_REDUCE:
                # NVLS's efficiency slows the NVLink part only: its bytes scaled by 1 / eff
                eff = nvls_tree_efficiency(self.topology, self.group, self.profile) or 1.0
                return nvls_tree(
                    self.sched_op, self.group, self.hosts, self.size_B, channels=self.n_ch,
                    intra_scale=1.0 / eff,
                )  # fmt: skip
            return build_schedule(
                a, self.sched_op, self.group, self.hosts, self.size_B, channels=self.n_ch,
                root=self.root,
            )  # fmt: skip
        except InputError:
            if self.want is not Algorithm.AUTO:
                raise
            return None  # e.g. halving_doubling on a non-power-of-two group

    def floors(self, sched: Schedule, cap: float | None) -> tuple[float, ...]:
        """Per phase, the least time its transfers take: the bandwidth ceiling's share, or
        ``depth`` hops at the profile's ``hop_floor`` of the op asked for, the larger."""
        total_B = sched.bytes_B
        hop = self.profile.hop_floor(self.op)
        return tuple(
            max(floor_s(p.bytes_B, total_B, self.size_B, cap), p.depth * hop) for p in sched.phases
        )

    def price(
        self, idx: int, sched: Schedule, protocols: tuple[ProtocolProfile, ...], cap: float | None
    ) -> None:
        """Route ``sched`` and keep its protocols' times if one beats the best so far."""
        planned = tuple(self.planner.plan(p.flows) for p in sched.phases)
        floors = self.floors(sched, cap)
        costs = tuple(
            phase_cost(pl, p.depth, self.topology.capacity_Bps, f)
            for pl, p, f in zip(planned, sched.phases, floors, strict=True)
        )
        for j, proto in enumerate(protocols):
            t = (proto.base_latency_s + sum(c.time_s(proto) for c in costs)) if costs else 0.0
            if self.best is None or (t, idx, j) < self.best[:3]:
                self.best = (t, idx, j, Choice(sched, proto, t, planned, costs, floors))

    def search(self, prune: bool) -> None:
        """Candidates in order of their lower bound, lazily: first the ceiling's bound, then,
        once built, the schedule's; a popped bound above the best time ends the search (every
        bound left is at least as large). ``prune=False`` makes every bound 0: candidates come
        in the profile's order and each is routed (the exact mode)."""
        heap: list[tuple[float, int, Schedule | None]] = []
        caps = [self.profile.max_algbw_Bps(a, self.n_hosts) for a in self.candidates]
        for idx, cap in enumerate(caps):
            ceiling = self.min_base + self.size_B / cap if prune and cap else 0.0
            heapq.heappush(heap, (ceiling, idx, None))
        protos: dict[int, tuple[ProtocolProfile, ...]] = {}
        while heap:
            bound, idx, sched = heapq.heappop(heap)
            if self.best is not None and bound > self.best[0] * (1.0 + _BOUND_RTOL):
                return
            if sched is not None:
                self.price(idx, sched, protos[idx], caps[idx])
                continue
            a = self.candidates[idx]
            protocols = protos[idx] = self.protocols(a)
            sched = self.schedule(a) if protocols else None
            if sched is not None:
                lb = 0.0
                if prune:
                    floors = self.floors(sched, caps[idx])
                    lb = schedule_lower_bound_s(self.planner, sched, protocols, floors)
                heapq.heappush(heap, (max(bound, lb), idx, sched))
