"""Hierarchical (two-level) all-reduce and WAN-aware grouping.

An all-reduce of ``S`` bytes over a group split into ``k``-rank partitions (hosts, or
datacenters joined by WAN links) runs as: reduce-scatter inside the partition (``S``), an
all-reduce of ``S / k`` among the ranks with the same index in every partition (across the
slow level), and an all-gather inside the partition (``S``) -- the scheme of Horovod's
hierarchical all-reduce and of 2D/hierarchical rings (Jia et al. 2018, "Highly Scalable Deep
Learning Training System with Mixed-Precision"). Only ``1/k`` of the data crosses the slow level.
Partitions are found from the topology (:mod:`simulator.topology.partitions`, shared with the
collective schedule :mod:`simulator.collectives.hierarchical`): hosts (``host_of``) or
datacenters (connected components once WAN links are removed).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.core.vocab import CollectiveOp
from simulator.topology.partitions import split
from simulator.workload.strategies.context import JobContext, RankBuilder, deps_of
from simulator.workload.strategies.options import Hierarchy


def partitions(ctx: JobContext, group: Sequence[int], level: Hierarchy) -> list[list[int]]:
    """Split ``group`` by host or datacenter, keeping group order inside each part."""
    keys = [ctx.host(r) if level is Hierarchy.NODE else ctx.datacenter(r) for r in group]
    return split(group, keys)


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
    parts = partitions(ctx, group, level) if level is not Hierarchy.NONE else [list(group)]
    sizes = {len(p) for p in parts}
    if len(parts) <= 1 or len(sizes) != 1 or sizes == {1}:
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
    k = len(parts[0])
    mine = next(p for p in parts if rank in p)
    idx = mine.index(rank)
    cross = [p[idx] for p in parts]
    local_m, cross_m = (
        _fold_mirrors(ctx, [group, *mirrors], level, mine, cross) if ctx.fold else ([], [])
    )
    a = rb.collective(
        f"{name}.rs_local",
        CollectiveOp.REDUCE_SCATTER,
        mine,
        size_B,
        stream=stream,
        deps=deps_of(*deps),
        category=category,
        mirrors=local_m,
    )
    b = rb.collective(
        f"{name}.ar_cross",
        CollectiveOp.ALL_REDUCE,
        cross,
        size_B / k,
        stream=stream,
        deps=deps_of(a),
        category=category,
        mirrors=cross_m,
    )
    return rb.collective(
        f"{name}.ag_local",
        CollectiveOp.ALL_GATHER,
        mine,
        size_B,
        stream=stream,
        deps=deps_of(b),
        category=category,
        mirrors=local_m,
    )


def _fold_mirrors(
    ctx: JobContext,
    groups: Sequence[Sequence[int]],
    level: Hierarchy,
    mine: list[int],
    cross: list[int],
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
        g_parts = partitions(ctx, g, level)
        if len({len(p) for p in g_parts}) != 1 or len(g_parts[0]) != k:
            continue
        local_m += [tuple(p) for p in g_parts if p != mine]
        cross_m += [
            tuple(p[i] for p in g_parts) for i in range(k) if [p[i] for p in g_parts] != cross
        ]
    return local_m, cross_m
