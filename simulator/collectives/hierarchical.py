"""Hierarchical all-reduce as one collective (``algo: hierarchical``), with ring phases.

The plan is the topology's one hierarchical all-reduce
(:func:`simulator.topology.partitions.two_level`, also rendered by the strategies'
:mod:`simulator.workload.strategies.hierarchical`), split by the keys the caller gives
(``hosts``: the ranks' hosts; a datacenter index per rank works the same way):

1. every part reduce-scatters the buffer over its ``m`` local ranks (a ring inside the part);
2. ranks with the same local index all-reduce their ``size / m`` shard across the ``h`` parts
   (``m`` independent rings, each through its own GPU/NIC);
3. every part all-gathers the buffer over its local ranks.

Every part must hold the same number of the group's ranks. Per rank it sends
``2 (m-1)/m * size`` bytes inside the part and ``2 (h-1)/(h m) * size`` across parts; latency
``2 (m-1) + 2 (h-1)`` steps, and one launch latency for the whole (the strategies' form pays
one per phase).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.collectives.schedule import Phase, Schedule, Transfer, uniform_phase
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.topology.partitions import Level, two_level

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset({CollectiveOp.ALL_REDUCE})


def _rings(rings: list[list[int]], channels: int, step_B: float) -> list[Transfer]:
    hops: list[Transfer] = []
    for c in range(channels):
        for ring in rings:
            k = len(ring)
            hops.extend(Transfer(ring[i], ring[(i + 1) % k], step_B, c) for i in range(k))
    return hops


def _ring_phase(level: Level, channels: int) -> Phase:
    """``level`` as rings on all its groups at once (a phase over one-rank groups is empty)."""
    n = len(level.groups[0])
    hops = _rings([list(g) for g in level.groups], channels, level.size_B / (n * channels))
    name = f"{'intra' if level.local else 'inter'}.{level.op.value}"
    if level.op is CollectiveOp.ALL_GATHER:
        return uniform_phase(name, hops, n - 1)
    depth = 2 * (n - 1) if level.op is CollectiveOp.ALL_REDUCE else n - 1
    # reduce_B: what each rank reduces, (n-1) chunks of size / n
    return uniform_phase(name, hops, depth, reduce_B=level.size_B * (n - 1) / n)


def hierarchical(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The hierarchical schedule of ``op`` (all_reduce only) on ``group`` split by ``hosts``."""
    if op is not CollectiveOp.ALL_REDUCE:
        raise ValueError(f"hierarchical does not implement {op.value}")
    plan = two_level(group, hosts)
    if not plan.equal:
        raise InputError(
            "hierarchical needs the same number of ranks on every host, got "
            + ", ".join(str(len(b)) for b in plan.parts),
            field="ranks",
        )
    channels = max(1, channels)
    phases = tuple(
        _ring_phase(level, channels) for level in plan.phases(size_B) if len(level.groups[0]) > 1
    )
    return Schedule(Algorithm.HIERARCHICAL, op, tuple(group), size_B, phases, channels)
