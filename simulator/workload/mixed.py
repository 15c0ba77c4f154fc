"""Mixed hardware: one job whose ranks run on different GPU models (issue 17, deliver 4).

The scenario's builder builds the same job once per GPU model present (the programs have the
same ops, names and dependencies; only the compute durations differ, each priced by that GPU's
roofline and efficiency) and :func:`compose` takes every rank's program from the build of its
own GPU. Nothing is a hand-typed speed factor: a rank on an A100 carries the A100's durations op
by op, so memory-bound and compute-bound kernels each keep their own ratio.

:func:`balance_dp` is the what-if that gives data-parallel replicas uneven shares of the global
batch: replica ``d`` runs ``n_d`` of the ``dp * m`` micro-batches of a step (``m`` per replica
when even), with ``n_d`` chosen so that the slowest replica finishes as early as whole micro-
batches allow (:func:`shares`; each replica at least one). Its forward and backward ops then
take ``n_d / m`` times as long (the same kernels run ``n_d`` times instead of ``m``), the
optimizer and every communication op keep their cost (gradients have the model's size whatever
the batch). Valid where no communication happens per micro-batch: data parallelism without
pipeline stages, with gradients reduced once per step (DDP-style buckets, ZeRO-1/2); the builder
refuses other layouts.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import replace

from simulator.core.ir import Compute, Program, Workload

#: Compute categories whose time grows with the number of micro-batches a replica runs.
PER_MICROBATCH = frozenset({"fwd", "bwd", "recompute"})


def compose(builds: Mapping[str, Workload], gpu_of_rank: Sequence[str]) -> Workload:
    """One workload whose rank ``r`` program comes from ``builds[gpu_of_rank[r]]``.

    Raises:
        ValueError: the builds are folded (a program per representative rank) or their programs
            differ in anything but durations.
    """
    first = next(iter(builds.values()))
    world = first.world_size
    for gpu, wl in builds.items():
        if len(wl.programs) != world:
            raise ValueError(f"the {gpu} build is folded ({len(wl.programs)} of {world} ranks)")
    progs: list[Program] = []
    for r in range(world):
        p = builds[gpu_of_rank[r]].programs[r]
        ref = first.programs[r]
        if [o.name for o in p.ops] != [o.name for o in ref.ops]:
            raise ValueError(f"rank {r}: the builds per GPU model have different ops")
        progs.append(p)
    return first.with_programs(progs)


def compute_time_s(program: Program) -> float:
    """Seconds of per-micro-batch compute (:data:`PER_MICROBATCH`) in ``program``."""
    return sum(
        float(op.duration_s or 0.0)
        for op in program.ops
        if isinstance(op, Compute) and op.category in PER_MICROBATCH
    )


def shares(speeds: Sequence[float], total: int) -> list[int]:
    """Whole micro-batches per replica, summing to ``total``, that make the slowest replica
    (``n_d / speed_d``) as fast as it can be; every replica runs at least one.

    Greedy: each next micro-batch goes to the replica that would finish it first (ties to the
    lower index). For identical micro-batches on machines of different speeds this minimises
    the largest ``n_d / speed_d`` (uniform-machine scheduling of equal jobs).

    Raises:
        ValueError: fewer micro-batches than replicas, or a speed that is not > 0.
    """
    n = len(speeds)
    if total < n:
        raise ValueError(f"{total} micro-batches cannot give each of {n} replicas one")
    if any(s <= 0 for s in speeds):
        raise ValueError("every replica needs a speed > 0")
    out = [1] * n
    heap = [((1 + 1) / s, i) for i, s in enumerate(speeds)]
    heapq.heapify(heap)
    for _ in range(total - n):
        _, i = heapq.heappop(heap)
        out[i] += 1
        heapq.heappush(heap, ((out[i] + 1) / speeds[i], i))
    return out


def balance_dp(
    workload: Workload, replicas: Sequence[Sequence[int]], microbatches: int
) -> tuple[Workload, list[int]]:
    """Give each replica (a list of ranks) micro-batches in proportion to its speed.

    A replica's time per step is its slowest rank's per-micro-batch compute; its speed is the
    inverse. Returns the re-timed workload and the micro-batches per replica.

    Args:
        workload: an unfolded workload, ``microbatches`` micro-batches per replica and step.
        replicas: the data-parallel replicas, each the ranks that share one model copy.
        microbatches: ``m``, micro-batches each replica runs when the split is even.
    """
    times = [max(compute_time_s(workload.programs[r]) for r in rep) for rep in replicas]
    n = shares([1.0 / t for t in times], microbatches * len(replicas))
    scale = {r: n_d / microbatches for rep, n_d in zip(replicas, n, strict=True) for r in rep}
    progs = []
    for p in workload.programs:
        k = scale[p.rank]
        ops = [
            replace(op, duration_s=float(op.duration_s or 0.0) * k)
            if isinstance(op, Compute) and op.category in PER_MICROBATCH
            else op
            for op in p.ops
        ]
        progs.append(Program(rank=p.rank, ops=ops))
    return workload.with_programs(progs), n
