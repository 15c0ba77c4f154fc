"""Direct (pairwise) algorithms: every rank talks to its peers at once.

* all_to_all: every rank sends ``size / n`` to each other rank (``size`` = per-rank send
  buffer), one step;
* send_recv: ``group = (src, dst)``, one transfer of ``size``;
* all_gather / reduce_scatter: each rank sends its ``size / n`` block to every other rank;
* all_reduce: a direct reduce-scatter then a direct all-gather;
* broadcast / reduce: the root sends to / receives from every rank;
* barrier: dissemination barrier, ``ceil(log2 n)`` steps of 4-byte tokens (rank ``i`` signals
  rank ``i + 2**k``), as MPI implementations do (Hensgen, Finkel & Manber 1988).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.collectives.schedule import Phase, Schedule, Step, Transfer, phase_from_steps
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset(CollectiveOp)

#: Bytes of one barrier token (a float, like torch's NCCL barrier all-reduces one element).
BARRIER_TOKEN_B = 4.0


def _exchange(group: Sequence[int], block_B: float) -> Step:
    return tuple(Transfer(s, d, block_B) for s in group for d in group if s != d)


def direct(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The direct schedule of ``op`` on ``group``."""
    n = len(group)
    phases: tuple[Phase, ...]
    if op is CollectiveOp.SEND_RECV:
        if n != 2:
            raise InputError(f"send_recv needs exactly 2 ranks (src, dst), got {n}", field="ranks")
        phases = (phase_from_steps("p2p", [(Transfer(group[0], group[1], size_B),)]),)
    elif n == 1:
        phases = ()
    elif op is CollectiveOp.ALL_TO_ALL or op is CollectiveOp.ALL_GATHER:
        phases = (phase_from_steps(f"direct.{op.value}", [_exchange(group, size_B / n)]),)
    elif op is CollectiveOp.REDUCE_SCATTER:
        phases = (
            phase_from_steps(
                "direct.reduce_scatter", [_exchange(group, size_B / n)], reduce_B=size_B
            ),
        )
    elif op is CollectiveOp.ALL_REDUCE:
        phases = (
            phase_from_steps(
                "direct.reduce_scatter", [_exchange(group, size_B / n)], reduce_B=size_B
            ),
            phase_from_steps("direct.all_gather", [_exchange(group, size_B / n)]),
        )
    elif op is CollectiveOp.BROADCAST:
        src = group[root]
        step = tuple(Transfer(src, d, size_B) for d in group if d != src)
        phases = (phase_from_steps("direct.broadcast", [step]),)
    elif op is CollectiveOp.REDUCE:
        dst = group[root]
        step = tuple(Transfer(s, dst, size_B) for s in group if s != dst)
        phases = (phase_from_steps("direct.reduce", [step], reduce_B=size_B * (n - 1)),)
    elif op is CollectiveOp.BARRIER:
        steps: list[Step] = []
        d = 1
        while d < n:
            steps.append(
                tuple(Transfer(group[i], group[(i + d) % n], BARRIER_TOKEN_B) for i in range(n))
            )
            d *= 2
        phases = (phase_from_steps("barrier", steps),)
    else:  # pragma: no cover - every op is handled above
        raise ValueError(f"direct does not implement {op.value}")
    return Schedule(Algorithm.DIRECT, op, tuple(group), size_B, phases, 1)
