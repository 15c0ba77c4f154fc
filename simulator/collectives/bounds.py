"""Lower bounds on a candidate's contention-free time, before its flows are routed.

:func:`~simulator.collectives.choice.resolve` routes every candidate algorithm to price it
(:func:`~simulator.collectives.analytical.phase_cost`); on thousands of ranks, routing a
candidate that cannot win (a ring of 4,096 ranks pays 8,190 step latencies) costs more than the
rest of the collective. :func:`schedule_lower_bound_s` bounds
:meth:`~simulator.collectives.analytical.PhaseCost.time_s` from the schedule alone:

* latency: every phase with transfers pays ``depth`` times at least the protocol's smallest
  per-step latency (a phase's step latency is a share-weighted mean over its paths' kinds, and
  its mean path latency is >= 0);
* bandwidth: a phase's busiest link carries at least, for every source rank, the
  wire-equivalent bytes that rank sends over the summed capacity of the links leaving it (the
  maximum of ``load / capacity`` over those links is at least their ratio of sums); wire bytes
  are at least payload divided by the largest link efficiency;
* each phase's time is at least its floor (the backend's bandwidth ceiling).

The bound is a proof, not an estimate: a candidate whose bound exceeds the best time found is
slower, so skipping it changes no choice (tested against the exhaustive resolver).
"""

from __future__ import annotations

import math
from operator import attrgetter

import numpy as np

from simulator.collectives.backend import ProtocolProfile
from simulator.collectives.flows import FlowPlanner
from simulator.collectives.schedule import Schedule
from simulator.core.arrays import FloatArray

_SRC, _DST, _SIZE = attrgetter("src"), attrgetter("dst"), attrgetter("size_B")


def rank_out_capacity_Bps(planner: FlowPlanner) -> FloatArray:
    """Per rank: summed capacity of the links leaving its node, B/s; ``inf`` (no bound) where
    one of them has no capacity (its load would not count towards the busiest link)."""
    cached: FloatArray | None = getattr(planner, "_out_cap", None)
    if cached is not None:
        return cached
    topo = planner.topology
    index = {node: r for r, node in enumerate(topo.ranks)}
    out = np.zeros(topo.num_ranks)
    for lk in topo.links:
        r = index.get(lk.src)
        if r is None:
            continue
        cap = float(topo.capacity_Bps[lk.id])
        out[r] = out[r] + cap if cap > 0 and out[r] < math.inf else math.inf
    out[out <= 0] = math.inf
    planner._out_cap = out  # type: ignore[attr-defined]
    return out


def _busy_lower_bound_s(planner: FlowPlanner, schedule: Schedule) -> list[float]:
    """Per phase: a lower bound on its busiest link's wire bytes / capacity, s."""
    out_cap = rank_out_capacity_Bps(planner)
    eff_max = float(planner._eff.max()) if planner._eff.size else 1.0
    wire_per_payload = 1.0 / eff_max if eff_max > 0 else 1.0
    bounds = []
    for phase in schedule.phases:
        # bytes sent per source rank, self transfers left out; bincount adds in transfer
        # order, as a running sum per rank would (the same floats)
        fl = phase.flows
        src = np.fromiter(map(_SRC, fl), dtype=np.int64, count=len(fl))
        dst = np.fromiter(map(_DST, fl), dtype=np.int64, count=len(fl))
        size = np.fromiter(map(_SIZE, fl), dtype=float, count=len(fl))
        away = src != dst
        sent = np.bincount(src[away], weights=size[away], minlength=len(out_cap))
        best = float((sent / out_cap).max()) if away.any() else 0.0
        bounds.append(best * wire_per_payload)
    return bounds


def schedule_lower_bound_s(
    planner: FlowPlanner,
    schedule: Schedule,
    protocols: tuple[ProtocolProfile, ...],
    floors_s: tuple[float, ...],
) -> float:
    """A lower bound on ``min over protocols`` of the candidate's estimate (``base latency +
    sum of its phases' time_s``), s. See the module docstring."""
    busy = _busy_lower_bound_s(planner, schedule)
    best = math.inf
    for proto in protocols:
        step = min(proto.step_latency_s.values(), default=0.0)
        t = proto.base_latency_s if schedule.phases else 0.0
        for phase, b, floor in zip(schedule.phases, busy, floors_s, strict=True):
            lat = phase.depth * max(step, 0.0) if phase.flows else 0.0
            t += lat + max(b / proto.bandwidth_factor, floor)
        best = min(best, t)
    return best
