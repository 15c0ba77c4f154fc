"""Recursive halving-doubling (Rabenseifner; Thakur, Rabenseifner & Gropp 2005).

On ``p = 2**k`` ranks, the reduce-scatter halves the buffer ``k`` times: at step ``j`` rank
``i`` exchanges ``size / 2**(j+1)`` bytes with rank ``i XOR p / 2**(j+1)``; the all-gather
doubles it back in reverse order. An all-reduce is both: ``2 log2 p`` steps, ``2 (p-1)/p * size``
bytes sent per rank (as much as a ring, with far fewer steps).

A group of ``n = p + r`` ranks (``p`` the largest power of two) folds first: the ``r`` extra
ranks (the last ``r`` in group order) send their whole buffer to a partner among the first ``r``
and receive the result at the end (two more steps). reduce_scatter and all_gather alone need a
power-of-two group.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.collectives.schedule import Phase, Schedule, Step, Transfer, phase_from_steps
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset(
    {CollectiveOp.ALL_REDUCE, CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_GATHER}
)


def _halving_steps(ranks: Sequence[int], size_B: float) -> list[Step]:
    p = len(ranks)
    steps: list[Step] = []
    d = p // 2
    chunk = size_B / 2
    while d >= 1:
        steps.append(tuple(Transfer(ranks[i], ranks[i ^ d], chunk) for i in range(p)))
        d //= 2
        chunk /= 2
    return steps


def _doubling_steps(ranks: Sequence[int], size_B: float) -> list[Step]:
    p = len(ranks)
    steps: list[Step] = []
    d = 1
    chunk = size_B / p
    while d < p:
        steps.append(tuple(Transfer(ranks[i], ranks[i ^ d], chunk) for i in range(p)))
        d *= 2
        chunk *= 2
    return steps


def halving_doubling(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The halving-doubling schedule of ``op`` (all_reduce, reduce_scatter, all_gather)."""
    n = len(group)
    p = 1 << (n.bit_length() - 1)
    r = n - p
    core, extra = list(group[:p]), list(group[p:])
    phases: tuple[Phase, ...]
    if n == 1:
        phases = ()
    elif op is CollectiveOp.ALL_REDUCE:
        fold = [tuple(Transfer(extra[i], core[i], size_B) for i in range(r))] if r else []
        unfold = [tuple(Transfer(core[i], extra[i], size_B) for i in range(r))] if r else []
        phases = (
            phase_from_steps(
                "hd.reduce_scatter", fold + _halving_steps(core, size_B), reduce_B=size_B
            ),
            phase_from_steps("hd.all_gather", _doubling_steps(core, size_B) + unfold),
        )
    elif op in (CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_GATHER):
        if r:
            raise InputError(
                f"halving_doubling {op.value} needs a power-of-two group, got {n} ranks",
                field="algo",
            )
        if op is CollectiveOp.REDUCE_SCATTER:
            phases = (
                phase_from_steps(
                    "hd.reduce_scatter", _halving_steps(core, size_B), reduce_B=size_B
                ),
            )
        else:
            phases = (phase_from_steps("hd.all_gather", _doubling_steps(core, size_B)),)
    else:
        raise ValueError(f"halving_doubling does not implement {op.value}")
    return Schedule(Algorithm.HALVING_DOUBLING, op, tuple(group), size_B, phases, 1)
