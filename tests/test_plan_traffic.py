"""Plan.traffic and Plan.own_key: isolation and symmetry read each distinct launch once and
find what reading every op finds (the exact path)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from simulator.collectives.context import SimContext
from simulator.core.ir import Collective, Compute, Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine.collkey import coll_key, launch_signature
from simulator.engine.errors import WorkloadError
from simulator.engine.isolation import find_isolated
from simulator.engine.streams import Plan, build_plan
from simulator.engine.symmetry import _classes, find_copies
from simulator.topology import Topology, topology_from_dict
from tests.test_symmetry import _fat_tree, _workload


def _every_op(plan: Plan) -> Plan:
    """``plan`` with every op that launches traffic listed (what the passes read before)."""
    return replace(plan, traffic=[g for g, op in enumerate(plan.ops) if type(op) is not Compute])


def _hand_built() -> Workload:
    """Repeats on one stream and on two, mirrors, sends with and without mirrors, a receive
    from a rank without a program, and a collective with a match key (8 ranks, 2 simulated)."""
    progs = []
    for r in (0, 1):
        p = Program(rank=r)
        for i in range(3):
            p.collective("ar", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=1e6)
            p.collective(
                "ar2", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=1e6, stream=f"s{i % 2}"
            )
            p.collective(
                "dp",
                op=CollectiveOp.ALL_REDUCE,
                group=(0, 1),
                size_B=2e6,
                mirrors=[(2, 3)],
                match_key=f"dp{i}",
            )
            p.collective(
                "far", op=CollectiveOp.ALL_GATHER, group=(0, 1), size_B=3e6, mirrors=[(6, 7)]
            )
        progs.append(p)
    progs[0].send("a", peer=1, size_B=1e3, mirrors=[(2, 3)])
    progs[0].send("b", peer=1, size_B=1e3, mirrors=[(2, 3)])
    progs[0].send("c", peer=1, size_B=1e3)
    progs[0].send("c", peer=1, size_B=1e3)
    progs[0].recv("d", peer=2, size_B=1e3)
    progs[0].recv("d", peer=2, size_B=1e3)
    for _ in range(4):
        progs[1].recv("r", peer=0, size_B=1e3)
    return Workload(programs=progs, world=8)


def _dgx_pair() -> Topology:
    build = {"type": "cluster", "nodes": 1, "gpu": "H100-SXM", "nics_per_node": 8}
    build |= {"nic": "ib_ndr", "fabric": "rail_optimized", "switch_radix": 32}
    return topology_from_dict({"name": "one-dgx", "build": build})


@pytest.fixture(scope="module", params=["pipeline", "hand"])
def job(request: Any) -> tuple[Topology, Workload]:
    if request.param == "pipeline":
        topo = _fat_tree(8)
        return topo, _workload(topo, tp=8, pp=4, dp=2)
    return _dgx_pair(), _hand_built()


def test_own_key_is_the_collective_key(job: Any) -> None:
    topo, wl = job
    plan = build_plan(wl, topo.num_ranks)
    for g, op in enumerate(plan.ops):
        want = coll_key(op, op.group) if isinstance(op, Collective) else None
        assert plan.own_key[g] == want


def test_every_op_left_out_repeats_a_listed_one(job: Any) -> None:
    topo, wl = job
    plan = build_plan(wl, topo.num_ranks)
    listed = set(plan.traffic)
    assert plan.traffic == sorted(listed)
    first: dict[Any, int] = {}
    for g, op in enumerate(plan.ops):
        sig = launch_signature(op, plan.stream[g])
        if sig is None:
            assert g not in listed
            continue
        if sig not in first:
            first[sig] = g
            assert g in listed
        else:
            assert (g in listed) == bool(getattr(op, "mirrors", ()))
    assert len(listed) < sum(type(op) is not Compute for op in plan.ops)  # it skips some


def test_isolation_and_copies_as_when_reading_every_op(job: Any) -> None:
    topo, wl = job
    plan = build_plan(wl, topo.num_ranks)
    exact = _every_op(plan)
    ctx = SimContext(topo, "nccl", ranks=wl.world)
    assert find_isolated(plan, ctx) == find_isolated(exact, ctx)
    assert list(_classes(plan, ctx).items()) == list(_classes(exact, ctx).items())
    fast, slow = find_copies(plan, ctx), find_copies(exact, ctx)
    assert (fast.groups, fast.pairs) == (slow.groups, slow.pairs)
    assert len(fast.maps) == len(slow.maps)
    for (a, b), (c, d) in zip(fast.maps, slow.maps, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_hand_built_job_has_isolated_and_shared_traffic() -> None:
    """The hand-built job exercises both outcomes (so the comparison above means something)."""
    topo, wl = _dgx_pair(), _hand_built()
    plan = build_plan(wl, topo.num_ranks)
    iso = find_isolated(plan, SimContext(topo, "nccl", ranks=wl.world))
    assert {k[1] for k in iso} == {(6, 7)}  # alone on its links, launched from one stream


@pytest.mark.parametrize(
    ("group", "mirrors", "words"),
    [
        ((0, 0), (), "bad group (0, 0)"),
        ((0, 9), (), "bad group (0, 9)"),
        ((0, 1), ((2, 2),), "bad group (2, 2)"),
        ((0, 1), ((2, 3), (3, 8)), "bad group (3, 8)"),
        ((1, 2), (), "does not contain rank 0"),
    ],
)
def test_bad_groups_are_refused(group: Any, mirrors: Any, words: str) -> None:
    p = Program(rank=0)
    p.collective("ok", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=1.0)
    p.collective("x", op=CollectiveOp.ALL_REDUCE, group=group, size_B=1.0, mirrors=mirrors)
    with pytest.raises(WorkloadError, match=re.escape(words)):
        build_plan(Workload(programs=[p], world=8), 8)
