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

import numpy as np

from simulator.collectives.backend import ProtocolProfile
from simulator.collectives.flows import FlowPlanner, PlannedFlows, mean_or_zero
from simulator.collectives.schedule import Phase, Schedule


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
    cap = planner.topology.capacity_Bps
    load = planned.link_load_B(len(cap)) / protocol.bandwidth_factor
    busy = np.divide(load, cap, out=np.zeros_like(load), where=cap > 0)
    bw_term = max(float(busy.max()) if len(busy) else 0.0, min_transfer_s)
    return phase_latency_s(planned, phase.depth, protocol) + bw_term, planned


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
    total = schedule.bytes_B
    return protocol.base_latency_s + sum(
        phase_time(p, planner, protocol, floor_s(p.bytes_B, total, schedule.size_B, max_algbw_Bps))[
            0
        ]
        for p in schedule.phases
    )


def floor_s(phase_B: float, total_B: float, size_B: float, cap: float | None) -> float:
    """A phase's share of ``size_B / cap`` (by its share of the schedule's bytes)."""
    if cap is None or total_B <= 0:
        return 0.0
    return size_B / cap * phase_B / total_B
