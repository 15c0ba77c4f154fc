"""Faults on a replayed trace: the measured steps of a recording, as if a host were slower.

A replay (:func:`simulator.studies.trace_replay.replay`) simulates the measured compute and
communication of every rank. :func:`apply_to_replay` gives it the ``faults:`` of a what-if:

* network faults (links down or degraded, from the start or at ``at`` seconds after the first
  replayed step starts) resolve on the replay's topology (:func:`apply_network_faults`);
* ``slow_ranks`` multiply every measured compute op of their ranks by ``compute_factor``
  (factors of several entries multiply).

Jitter and stalls are per-step draws of a many-step run (``commsim run --steps``); a replay
already holds the measured steps, so they are refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from simulator.core.errors import InputError
from simulator.core.ir import Compute, Program, Workload
from simulator.faults.compute import check_ranks
from simulator.faults.network import NetworkFaults, apply_network_faults
from simulator.faults.schema import FaultsConfig


def rank_factors(faults: FaultsConfig, world: int) -> list[float]:
    """Per rank, the product of the ``slow_ranks`` compute factors naming it (1.0: none)."""
    out = [1.0] * world
    for s in faults.slow_ranks:
        for r in s.ranks:
            out[r] *= s.compute_factor
    return out


def scale_compute(workload: Workload, factors: list[float]) -> Workload:
    """``workload`` with every compute op of rank ``r`` that has a duration x ``factors[r]``."""
    progs = []
    for p in workload.programs:
        f = factors[p.rank]
        ops = [
            replace(op, duration_s=op.duration_s * f)
            if isinstance(op, Compute) and op.duration_s is not None and f != 1.0
            else op
            for op in p.ops
        ]
        progs.append(Program(rank=p.rank, ops=ops))
    return workload.with_programs(progs)


def apply_to_replay(
    workload: Workload, topology: Any, faults: FaultsConfig
) -> tuple[Workload, NetworkFaults | None]:
    """The replayed ``workload`` with the compute faults applied, and the network faults.

    Raises:
        InputError: jitter or stalls (many-step draws), or a rank, link or node that does not
            exist (the field is named).
    """
    if faults.jitter is not None or faults.stalls:
        raise InputError(
            "a replay takes slow_ranks and network faults only (jitter and stalls are "
            "per-step draws of `commsim run --steps`)",
            field="faults",
        )
    world = workload.world_size
    check_ranks(faults, world)
    network = apply_network_faults(topology, faults, list(range(world)))
    if faults.slow_ranks:
        workload = scale_compute(workload, rank_factors(faults, world))
    return workload, network
