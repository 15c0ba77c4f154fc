"""Small pure helpers shared by every collective algorithm (the enums live in
:mod:`simulator.core.vocab`).

``busbw_factor`` follows nccl-tests' PERFORMANCE.md: the bus bandwidth of a collective is its
algorithm bandwidth (``size_B / time_s``) times a factor that makes it comparable with the
bandwidth of the slowest link, whatever the number of ranks.
"""

from __future__ import annotations

from simulator.core.errors import InputError
from simulator.core.vocab import CollectiveOp, coerce


def busbw_factor(op: CollectiveOp | str, n: int) -> float:
    """busbw / algbw as nccl-tests' PERFORMANCE.md defines it for ``n`` ranks.

    all_reduce ``2(n-1)/n``; all_gather, reduce_scatter, all_to_all ``(n-1)/n``;
    broadcast, reduce, send_recv ``1``; barrier ``1`` (it moves no payload).
    """
    op = coerce(CollectiveOp, op, field="op")
    if n < 1:
        raise InputError(f"a collective needs at least one rank, got {n}", field="ranks")
    if op is CollectiveOp.ALL_REDUCE:
        return 2.0 * (n - 1) / n
    if op in (CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_TO_ALL):
        return (n - 1) / n
    return 1.0
