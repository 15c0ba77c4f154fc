"""Pruned algorithm choice (lower bounds before routing) picks exactly what routing every
candidate picks: same algorithm, protocol, estimate and phase costs."""

from __future__ import annotations

import itertools

import pytest

from simulator.collectives.bounds import schedule_lower_bound_s
from simulator.collectives.choice import resolve
from simulator.collectives.context import SimContext
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.topology import load_topology

OPS = [
    CollectiveOp.ALL_REDUCE,
    CollectiveOp.ALL_GATHER,
    CollectiveOp.REDUCE_SCATTER,
    CollectiveOp.BROADCAST,
    CollectiveOp.REDUCE,
    CollectiveOp.ALL_TO_ALL,
]
SIZES = [1.0, 4096.0, 2.0**20, 2.0**24, 2.0**27, 2.0**30, 2.0**34]


def _groups(n: int) -> list[tuple[int, ...]]:
    if n > 64:  # large trees: few groups (routing every candidate is what is slow)
        return [tuple(range(n)), tuple(range(1, n, 7))]
    out = [tuple(range(n)), tuple(range(0, n, 2)), tuple(range(min(n, 3)))]
    if n > 16:
        out += [tuple(range(0, n, 8)), tuple(range(16))]
    return [g for g in dict.fromkeys(out) if g]


@pytest.mark.parametrize(
    ("topo_name", "backend"),
    [
        ("dgx-a100-8node", "nccl"),
        ("dgx-h100-32node", "nccl"),
        ("fat-tree-1024", "nccl"),
        ("two-dc-wan", "nccl"),
        ("dgx-a100-2node", "gloo"),
        ("ten-node-10gbe", "gloo"),
        ("roce-2to1", "nccl"),
    ],
)
def test_pruned_choice_is_the_exhaustive_choice(topo_name: str, backend: str) -> None:
    topo = load_topology(topo_name)
    pruned_ctx = SimContext(topo, backend, ranks=topo.num_ranks)
    full_ctx = SimContext(topo, backend, ranks=topo.num_ranks)
    seen_algos = set()
    ops = OPS if topo.num_ranks <= 64 else [CollectiveOp.ALL_REDUCE, CollectiveOp.REDUCE]
    for g, op, size in itertools.product(_groups(topo.num_ranks), ops, SIZES):
        args = (op, g, size, Algorithm.AUTO, None, 0)
        a = resolve(pruned_ctx.planner, *args, prune=True)
        b = resolve(full_ctx.planner, *args, prune=False)
        assert a.schedule.algo is b.schedule.algo, (g, op, size)
        assert a.protocol == b.protocol, (g, op, size)
        assert a.estimate_s == b.estimate_s, (g, op, size)
        assert a.costs == b.costs and a.floors_s == b.floors_s
        seen_algos.add(a.schedule.algo)
    if topo_name == "fat-tree-1024":
        assert {Algorithm.RING, Algorithm.TREE} <= seen_algos  # both win somewhere


def test_bound_never_exceeds_the_estimate() -> None:
    """Every candidate's bound is at most its own routed estimate (what makes pruning exact)."""
    from simulator.collectives.choice import _Resolver

    for topo_name in ("dgx-h100-32node", "dgx-a100-8node", "two-dc-wan"):
        topo = load_topology(topo_name)
        ctx = SimContext(topo, "nccl", ranks=topo.num_ranks)
        for g, size in itertools.product(_groups(topo.num_ranks), SIZES):
            for algo in ctx.profile.algorithms[CollectiveOp.ALL_REDUCE]:
                auto = Algorithm.AUTO
                r = _Resolver(ctx.planner, CollectiveOp.ALL_REDUCE, g, size, auto, None, 0)
                protocols = r.protocols(algo)
                sched = r.schedule(algo) if protocols else None
                if sched is None:
                    continue
                cap = ctx.profile.max_algbw_Bps(algo, r.n_hosts)
                lb = schedule_lower_bound_s(ctx.planner, sched, protocols, r.floors(sched, cap))
                r.price(0, sched, protocols, cap)
                assert r.best is not None
                assert lb <= r.best[0] * (1 + 1e-12), (topo_name, len(g), size, algo)
                assert lb > 0.0  # and it says something
