"""Hierarchical all-reduce (2D: intra-host, then inter-host, then intra-host).

1. every host reduce-scatters the buffer over its ``m`` local ranks (a ring inside the host);
2. ranks with the same local index all-reduce their ``size / m`` shard across the ``h`` hosts
   (``m`` independent rings, each through its own GPU/NIC);
3. every host all-gathers the buffer over its local ranks.

The host blocks are the topology's host partition (:func:`simulator.topology.partitions.split`
on the ranks' hosts), the same split the strategies' two-level all-reduce uses.
Every host must hold the same number of the group's ranks. Per rank it sends
``2 (m-1)/m * size`` bytes inside the host and ``2 (h-1)/(h m) * size`` across hosts; latency
``2 (m-1) + 2 (h-1)`` steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.collectives.ring import host_blocks
from simulator.collectives.schedule import Phase, Schedule, Transfer, uniform_phase
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp


def _rings(rings: list[list[int]], channels: int, step_B: float) -> list[Transfer]:
    hops: list[Transfer] = []
    for c in range(channels):
        for ring in rings:
            k = len(ring)
            hops.extend(Transfer(ring[i], ring[(i + 1) % k], step_B, c) for i in range(k))
    return hops


def hierarchical(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The hierarchical schedule of ``op`` (all_reduce only) on ``group``."""
    if op is not CollectiveOp.ALL_REDUCE:
        raise ValueError(f"hierarchical does not implement {op.value}")
    blocks = host_blocks(group, hosts)
    m = len(blocks[0])
    h = len(blocks)
    if any(len(b) != m for b in blocks):
        raise InputError(
            "hierarchical needs the same number of ranks on every host, got "
            + ", ".join(str(len(b)) for b in blocks),
            field="ranks",
        )
    channels = max(1, channels)
    phases: list[Phase] = []
    if m > 1:
        intra = _rings(blocks, channels, size_B / (m * channels))
        phases.append(
            uniform_phase("intra.reduce_scatter", intra, m - 1, reduce_B=size_B * (m - 1) / m)
        )
    if h > 1:
        columns = [[b[i] for b in blocks] for i in range(m)]
        inter = _rings(columns, channels, size_B / (m * h * channels))
        phases.append(
            uniform_phase(
                "inter.all_reduce", inter, 2 * (h - 1), reduce_B=size_B * (h - 1) / (h * m)
            )
        )
    if m > 1:
        intra = _rings(blocks, channels, size_B / (m * channels))
        phases.append(uniform_phase("intra.all_gather", intra, m - 1))
    return Schedule(Algorithm.HIERARCHICAL, op, tuple(group), size_B, tuple(phases), channels)
