"""Closed-form alpha-beta costs: test oracles and the ``analytical`` fidelity.

The pure closed forms (``ring_all_reduce_time`` ...) take a uniform per-step latency ``alpha``
(seconds) and a per-link bandwidth (bytes/second) and are the textbook alpha-beta models
(Thakur, Rabenseifner & Gropp 2005; Patarasuk & Yuan 2009).

:func:`phase_time` generalises them to any schedule on any topology, without contention from
other traffic: a phase costs ``depth`` times the mean per-step latency of its hops, plus its
busiest link's wire-equivalent bytes divided by that link's capacity. On a uniform ring that
is exactly ``2 (n-1) (alpha + S / (n B))`` for an all-reduce.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from simulator.collectives.backend import ProtocolProfile
from simulator.collectives.flows import FlowPlanner, PlannedFlows, mean_or_zero
from simulator.collectives.schedule import Phase, Schedule
from simulator.core.arrays import FloatArray
from simulator.topology import LinkKind

_KIND = attrgetter("kind")
_LATENCY = attrgetter("latency_s")


def ring_all_reduce_time(size_B: float, n: int, alpha_s: float, bandwidth_Bps: float) -> float:
    """Ring all-reduce: ``2 (n-1) (alpha + S / (n B))`` seconds."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) * (alpha_s + size_B / (n * bandwidth_Bps))


def ring_all_gather_time(size_B: float, n: int, alpha_s: float, bandwidth_Bps: float) -> float:
    """Ring all-gather or reduce-scatter of ``S`` (output resp. input): ``(n-1)(a + S/(nB))``."""
    if n <= 1:
        return 0.0
    return (n - 1) * (alpha_s + size_B / (n * bandwidth_Bps))


def halving_doubling_all_reduce_time(
    size_B: float, n: int, alpha_s: float, bandwidth_Bps: float
) -> float:
    """Rabenseifner on ``n = 2**k``: ``2 log2(n) alpha + 2 (n-1)/n S / B`` seconds."""
    if n <= 1:
        return 0.0
    return 2 * math.log2(n) * alpha_s + 2 * (n - 1) / n * size_B / bandwidth_Bps


def direct_all_to_all_time(size_B: float, n: int, alpha_s: float, bandwidth_Bps: float) -> float:
    """Pairwise all-to-all of a per-rank buffer ``S``: ``alpha + (n-1)/n S / B`` seconds."""
    if n <= 1:
        return 0.0
    return alpha_s + (n - 1) / n * size_B / bandwidth_Bps


def phase_latency_s(planned: PlannedFlows, depth: int, protocol: ProtocolProfile) -> float:
    """``depth`` times the mean per-step latency (path + protocol step) of the phase's hops."""
    return depth * mean_or_zero(planned.hop_latency_s(protocol))


@dataclass(frozen=True, slots=True)
class PhaseCost:
    """A routed phase reduced to what its contention-free time needs (protocol-independent).

    ``mean_path_latency_s``: mean path latency of its hops; ``kind_share``: fraction of hops per
    link class; ``busy_s``: its busiest link's wire-equivalent bytes / capacity (bandwidth
    factor 1); ``floor_s``: the backend's bandwidth-ceiling floor on the transfer time.
    """

    depth: int
    mean_path_latency_s: float
    kind_share: tuple[tuple[LinkKind, float], ...]
    busy_s: float
    floor_s: float

    def time_s(self, protocol: ProtocolProfile) -> float:
        """Seconds at ``protocol``: latency of ``depth`` steps plus the bandwidth term."""
        step = sum(share * protocol.step_latency_s[k] for k, share in self.kind_share)
        bw = max(self.busy_s / protocol.bandwidth_factor, self.floor_s)
        return self.depth * (self.mean_path_latency_s + step) + bw


def phase_cost(
    planned: PlannedFlows, depth: int, capacity_Bps: FloatArray, floor: float = 0.0
) -> PhaseCost:
    """The :class:`PhaseCost` of routed flows on links of ``capacity_Bps``."""
    n = len(planned.paths)
    if n == 0:
        return PhaseCost(depth, 0.0, (), floor, floor)
    load = planned.link_load_B(len(capacity_Bps))
    busy = np.divide(load, capacity_Bps, out=np.zeros_like(load), where=capacity_Bps > 0)
    # read in C (a 16,384-rank tree has 262,128 paths); kinds in order of first appearance
    counts: dict[LinkKind, int] = Counter(map(_KIND, planned.paths))
    latency = np.fromiter(map(_LATENCY, planned.paths), dtype=float, count=n)
    return PhaseCost(
        depth=depth,
        mean_path_latency_s=float(np.mean(latency)),
        kind_share=tuple((k, c / n) for k, c in counts.items()),
        busy_s=float(busy.max()) if len(busy) else 0.0,
        floor_s=floor,
    )


def phase_time(
    phase: Phase,
    planner: FlowPlanner,
    protocol: ProtocolProfile,
    min_transfer_s: float = 0.0,
) -> tuple[float, PlannedFlows]:
    """Contention-free time of one phase (seconds) and its routed flows.

    ``min_transfer_s``: a floor on the bandwidth term (a backend's algorithm-bandwidth cap).
    """
    planned = planner.plan(phase.flows)
    cost = phase_cost(planned, phase.depth, planner.topology.capacity_Bps, min_transfer_s)
    return cost.time_s(protocol), planned


def schedule_costs(
    schedule: Schedule, planner: FlowPlanner, max_algbw_Bps: float | None = None
) -> list[PhaseCost]:
    """The :class:`PhaseCost` of every phase (route once, then price any protocol)."""
    total = schedule.bytes_B
    cap = planner.topology.capacity_Bps
    return [
        phase_cost(
            planner.plan(p.flows),
            p.depth,
            cap,
            floor_s(p.bytes_B, total, schedule.size_B, max_algbw_Bps),
        )
        for p in schedule.phases
    ]


def schedule_time(
    schedule: Schedule,
    planner: FlowPlanner,
    protocol: ProtocolProfile,
    max_algbw_Bps: float | None = None,
) -> float:
    """Contention-free time of a whole schedule: launch latency plus its phases, seconds.

    ``max_algbw_Bps`` caps the algorithm bandwidth (each phase takes at least its share).
    """
    if not schedule.phases:
        return 0.0
    costs = schedule_costs(schedule, planner, max_algbw_Bps)
    return protocol.base_latency_s + sum(c.time_s(protocol) for c in costs)


def floor_s(phase_B: float, total_B: float, size_B: float, cap: float | None) -> float:
    """A phase's share of ``size_B / cap`` (by its share of the schedule's bytes)."""
    if cap is None or total_B <= 0:
        return 0.0
    return size_B / cap * phase_B / total_B
