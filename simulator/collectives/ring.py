"""Ring algorithms (NCCL-style, with multiple channels).

Each channel is a ring through every rank of the group. On a multi-host group, channel ``c``
rotates every host's local order by ``c``, so that different channels leave and enter the
hosts through different GPUs (hence different NICs/rails), as NCCL spreads its rings over all
NICs. A ring visits hosts in group order and the ranks of one host consecutively; odd hosts
(in group order) are traversed backwards, so each host-to-host hop connects GPUs of the same
local index (the same rail: no spine crossing on rail-optimized fabrics, as NCCL keeps a ring
on one NIC index across nodes). With an odd number of hosts the wrap-around hop changes rail.

Per channel and per step every rank sends ``size / (n * channels)`` bytes to its successor:
all_reduce ``2(n-1)`` steps (reduce-scatter then all-gather), reduce_scatter and all_gather
``n-1`` steps. Broadcast and reduce are a pipelined chain of ``n-1`` hops from / to the root
carrying the whole buffer (split over channels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from simulator.collectives.schedule import Phase, Schedule, Step, Transfer, uniform_phase
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.topology.partitions import split

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset(
    {
        CollectiveOp.ALL_REDUCE,
        CollectiveOp.REDUCE_SCATTER,
        CollectiveOp.ALL_GATHER,
        CollectiveOp.BROADCAST,
        CollectiveOp.REDUCE,
    }
)


def host_blocks(group: Sequence[int], hosts: Sequence[str]) -> list[list[int]]:
    """The group's ranks grouped by host, hosts in first-seen order, ranks in group order."""
    return split(group, hosts)


def ring_order(
    group: Sequence[int],
    hosts: Sequence[str],
    channel: int,
    blocks: list[list[int]] | None = None,
) -> list[int]:
    """The ring of ``channel``: hosts in order, each host's ranks rotated by ``channel``
    (reversed on odd hosts). ``blocks``: :func:`host_blocks` of the group, when known."""
    if blocks is None:
        blocks = host_blocks(group, hosts)
    if len(blocks) == 1:
        return list(group)
    order: list[int] = []
    for j, b in enumerate(blocks):
        k = channel % len(b)
        rotated = b[k:] + b[:k]
        # odd hosts run their chain backwards, so that every host-to-host hop joins GPUs of
        # the same local index (the same rail), like NCCL with NCCL_CROSS_NIC=0
        order.extend(rotated[::-1] if j % 2 else rotated)
    return order


def _ring_hops(
    group: Sequence[int], hosts: Sequence[str], channels: int, step_B: float
) -> list[Transfer]:
    hops: list[Transfer] = []
    n = len(group)
    blocks = host_blocks(group, hosts)  # once for every channel
    for c in range(channels):
        order = ring_order(group, hosts, c, blocks)
        hops.extend(Transfer(order[i], order[(i + 1) % n], step_B, c) for i in range(n))
    return hops


def _chain_hops(
    group: Sequence[int],
    hosts: Sequence[str],
    channels: int,
    root: int,
    towards_root: bool,
    step_B: float,
) -> list[Transfer]:
    hops: list[Transfer] = []
    n = len(group)
    root_rank = group[root]
    blocks = host_blocks(group, hosts)  # once for every channel
    for c in range(channels):
        order = ring_order(group, hosts, c, blocks)
        i0 = order.index(root_rank)
        chain = [order[(i0 + i) % n] for i in range(n)]
        for i in range(n - 1):
            a, b = chain[i], chain[i + 1]
            hops.append(Transfer(b, a, step_B, c) if towards_root else Transfer(a, b, step_B, c))
    return hops


def ring(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The ring schedule of ``op`` on ``group`` (``hosts[i]`` is the host of ``group[i]``)."""
    n = len(group)
    channels = max(1, channels)
    phases: tuple[Phase, ...]
    if n == 1:
        phases = ()
    elif op is CollectiveOp.ALL_REDUCE:
        hops = _ring_hops(group, hosts, channels, size_B / (n * channels))
        phases = (
            uniform_phase("ring.all_reduce", hops, 2 * (n - 1), reduce_B=size_B * (n - 1) / n),
        )
    elif op in (CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_GATHER):
        hops = _ring_hops(group, hosts, channels, size_B / (n * channels))
        red = size_B * (n - 1) / n if op is CollectiveOp.REDUCE_SCATTER else 0.0
        phases = (uniform_phase(f"ring.{op.value}", hops, n - 1, reduce_B=red),)
    elif op in (CollectiveOp.BROADCAST, CollectiveOp.REDUCE):
        towards = op is CollectiveOp.REDUCE
        hops = _chain_hops(group, hosts, channels, root, towards, size_B / channels)
        # A pipelined chain: every hop carries the whole buffer once; n-1 hops deep.
        phase = uniform_phase(f"ring.{op.value}", hops, 1, reduce_B=size_B if towards else 0.0)
        phases = (Phase(phase.name, phase.flows, n - 1, _chain_steps(hops, n - 1), phase.reduce_B),)
    else:
        raise ValueError(f"ring does not implement {op.value}")
    return Schedule(Algorithm.RING, op, tuple(group), size_B, phases, channels)


def _chain_steps(hops: list[Transfer], depth: int) -> Callable[[], list[Step]]:
    """Steps of un-pipelined chains: hop ``i`` of every channel's chain is step ``i``."""

    def build() -> list[Step]:
        steps: list[list[Transfer]] = [[] for _ in range(depth)]
        for j, t in enumerate(hops):
            steps[j % depth].append(t)
        return [tuple(s) for s in steps]

    return build
