"""Which algorithm implements which collective: a small registry keyed by enums."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from simulator.collectives.direct import direct
from simulator.collectives.halving_doubling import halving_doubling
from simulator.collectives.hierarchical import hierarchical
from simulator.collectives.nvls import nvls
from simulator.collectives.ring import ring
from simulator.collectives.schedule import Schedule
from simulator.collectives.tree import tree
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp

Op = CollectiveOp


class Builder(Protocol):
    """Builds the schedule of one collective (pure; see :mod:`simulator.collectives.schedule`)."""

    def __call__(
        self,
        op: CollectiveOp,
        group: Sequence[int],
        hosts: Sequence[str],
        size_B: float,
        *,
        channels: int = ...,
        root: int = ...,
    ) -> Schedule: ...


#: algorithm -> (builder, the ops it implements)
ALGORITHMS: dict[Algorithm, tuple[Builder, frozenset[CollectiveOp]]] = {
    Algorithm.RING: (
        ring,
        frozenset({Op.ALL_REDUCE, Op.REDUCE_SCATTER, Op.ALL_GATHER, Op.BROADCAST, Op.REDUCE}),
    ),
    Algorithm.TREE: (tree, frozenset({Op.ALL_REDUCE, Op.BROADCAST, Op.REDUCE})),
    Algorithm.HALVING_DOUBLING: (
        halving_doubling,
        frozenset({Op.ALL_REDUCE, Op.REDUCE_SCATTER, Op.ALL_GATHER}),
    ),
    Algorithm.DIRECT: (direct, frozenset(Op)),
    Algorithm.HIERARCHICAL: (hierarchical, frozenset({Op.ALL_REDUCE})),
    Algorithm.NVLS: (nvls, frozenset({Op.ALL_REDUCE})),
}


def supports(algo: Algorithm, op: CollectiveOp) -> bool:
    """Whether ``algo`` implements ``op``."""
    return algo in ALGORITHMS and op in ALGORITHMS[algo][1]


def build_schedule(
    algo: Algorithm,
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The schedule of ``op`` by ``algo``; :class:`InputError` if ``algo`` cannot do ``op``."""
    if algo is Algorithm.AUTO:
        raise ValueError("resolve 'auto' with a backend profile before building a schedule")
    if not supports(algo, op):
        ok = ", ".join(a.value for a in ALGORITHMS if supports(a, op))
        raise InputError(f"{algo.value} does not implement {op.value} (use {ok})", field="algo")
    if size_B < 0:
        raise InputError(f"size must be >= 0 bytes, got {size_B}", field="size")
    if not 0 <= root < len(group):
        raise InputError(f"root {root} is not a group index (0..{len(group) - 1})", field="root")
    builder = ALGORITHMS[algo][0]
    return builder(op, group, hosts, float(size_B), channels=channels, root=root)
