"""Hierarchical (two-level) all-reduce in a workload, and WAN-aware grouping.

The plan is the topology's one hierarchical all-reduce
(:func:`simulator.topology.partitions.two_level`, also rendered as the single collective
``algo: hierarchical`` by :mod:`simulator.collectives.hierarchical`): an all-reduce of ``S``
bytes over a group split into ``k``-rank partitions (hosts, or datacenters joined by WAN links)
runs as a reduce-scatter inside the partition (``S``), an all-reduce of ``S / k`` among the
ranks with the same index in every partition (across the slow level), and an all-gather inside
the partition (``S``) -- the scheme of Horovod's hierarchical all-reduce and of
2D/hierarchical rings (Jia et al. 2018, "Highly Scalable Deep Learning Training System with
Mixed-Precision"). Only ``1/k`` of the data crosses the slow level. Here each phase is its own
IR collective (``<name>.rs_local``, ``.ar_cross``, ``.ag_local``): the backend picks each
phase's algorithm and protocol, and timelines, Chakra and per-phase statistics see the phases.
Partitions are hosts (``host_of``) or datacenters (connected components once WAN links are
removed).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.core.vocab import CollectiveOp
from simulator.topology.partitions import TwoLevel, two_level
from simulator.workload.strategies.context import JobContext, RankBuilder, deps_of
from simulator.workload.strategies.options import Hierarchy


def partitions(ctx: JobContext, group: Sequence[int], level: Hierarchy) -> TwoLevel:
    """The hierarchical plan of ``group`` split by host or datacenter."""
    keys = [ctx.host(r) if level is Hierarchy.NODE else ctx.datacenter(r) for r in group]
    return two_level(group, keys)


def all_reduce(
    rb: RankBuilder,
    name: str,
    group: Sequence[int],
    size_B: float,
    *,
    level: Hierarchy,
    stream: str,
    deps: Sequence[int | None],
    category: str,
    mirrors: Sequence[Sequence[int]] = (),
) -> int | None:
    """All-reduce ``size_B`` over ``group``, hierarchically when ``level`` allows it.

    Falls back to a flat all-reduce when the partitions are unequal or trivial. When the job
    is folded, the phases of the other partitions, cross groups and mirrored groups are added
    as mirrors, so the slow level carries all ``k`` cross all-reduces.
    """
    rank = rb.prog.rank
    ctx = rb.ctx
    plan = partitions(ctx, group, level) if level is not Hierarchy.NONE else None
    if plan is None or len(plan.parts) <= 1 or not plan.equal or len(plan.parts[0]) == 1:
        return rb.collective(
            name,
            CollectiveOp.ALL_REDUCE,
            group,
            size_B,
            stream=stream,
            deps=deps_of(*deps),
            category=category,
            mirrors=mirrors,
        )
    mine = next(p for p in plan.parts if rank in p)
    cross = next(c for c in plan.columns if rank in c)
    local_m, cross_m = (
        _fold_mirrors(ctx, [group, *mirrors], level, mine, cross) if ctx.fold else ([], [])
    )
    after = deps_of(*deps)
    last: int | None = None
    for phase in plan.phases(size_B):
        last = rb.collective(
            f"{name}.{phase.tag}",
            phase.op,
            mine if phase.local else cross,
            phase.size_B,
            stream=stream,
            deps=after,
            category=category,
            mirrors=local_m if phase.local else cross_m,
        )
        after = deps_of(last)
    return last


def _fold_mirrors(
    ctx: JobContext,
    groups: Sequence[Sequence[int]],
    level: Hierarchy,
    mine: tuple[int, ...],
    cross: tuple[int, ...],
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Mirrors of a folded job's local and cross phases.

    Ranks without programs run the same phases at the same time: the other partitions' local
    phases and the other cross groups (which share the slow links), for every group in
    ``groups`` (the all-reduce's group and its mirrored groups) split like ``mine``.
    """
    k = len(mine)
    local_m: list[tuple[int, ...]] = []
    cross_m: list[tuple[int, ...]] = []
    for g in groups:
        plan = partitions(ctx, g, level)
        if not plan.equal or len(plan.parts[0]) != k:
            continue
        local_m += [p for p in plan.parts if p != mine]
        cross_m += [c for c in plan.columns if c != cross]
    return local_m, cross_m
