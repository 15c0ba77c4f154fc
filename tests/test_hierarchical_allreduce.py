"""The one hierarchical all-reduce (:func:`simulator.topology.partitions.two_level`) and its two
renderings: the collective ``algo: hierarchical`` and the strategies' three IR collectives.

Oracle: on a network where the phases do not contend, the hierarchical all-reduce takes the sum
of its phases, each computed on its own (a ring collective run alone). Host and datacenter levels.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_strategies_oracles import _build, _scenario

from simulator.cli import main
from simulator.collectives import simulate_collective
from simulator.collectives.analytical import schedule_time
from simulator.collectives.context import SimContext
from simulator.collectives.registry import build_schedule
from simulator.core.ir import Collective
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.engine import simulate
from simulator.topology import load_topology
from simulator.topology.partitions import datacenter_of_ranks, two_level

S = 2.0**30
RS, AR, AG = CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_REDUCE, CollectiveOp.ALL_GATHER


def test_plan_phases_sizes_and_groups() -> None:
    plan = two_level([0, 1, 2, 3, 4, 5], ["a", "a", "a", "b", "b", "b"])
    assert plan.equal
    assert plan.columns == ((0, 3), (1, 4), (2, 5))
    rs, ar, ag = plan.phases(S)
    assert (rs.op, rs.groups, rs.size_B) == (CollectiveOp.REDUCE_SCATTER, plan.parts, S)
    assert (ar.op, ar.groups, ar.size_B) == (CollectiveOp.ALL_REDUCE, plan.columns, S / 3)
    assert (ag.op, ag.groups, ag.size_B) == (CollectiveOp.ALL_GATHER, plan.parts, S)
    assert not two_level([0, 1, 2], ["a", "a", "b"]).equal


@pytest.mark.parametrize("fidelity", ["analytical", "flow"])
def test_collective_host_level_is_the_sum_of_its_phases(fidelity: str) -> None:
    """dgx-a100-2node: the hosts' NVLink rings and the 8 rails' cross rings share no link, so
    each phase takes what one of its rings takes alone. One collective pays one launch latency,
    the three phases run alone pay three."""
    t = load_topology("dgx-a100-2node")
    group = list(range(16))
    h = simulate_collective(t, "all_reduce", S, group, "hierarchical", fidelity=fidelity)
    host0, column0 = list(range(8)), [0, 8]
    phases = [(RS, host0, S), (AR, column0, S / 8), (AG, host0, S)]
    alone = [
        simulate_collective(t, op, size, g, "ring", fidelity=fidelity, channels=h.channels)
        for op, g, size in phases
    ]
    assert {a.protocol for a in alone} == {h.protocol}
    base = SimContext(t, "nccl").profile.protocol(h.protocol).base_latency_s
    assert h.time_s == pytest.approx(sum(a.time_s for a in alone) - 2 * base, rel=1e-12)


def test_collective_datacenter_level_is_the_sum_of_its_phases() -> None:
    """two-dc-wan, 2 ranks on each of 4 hosts, split by datacenter: the parts' rings run in
    group order (as the schedule's do), and the 4 cross rings of ``S / 4`` share the one WAN
    link, which carries what one cross ring of ``S`` alone carries."""
    t = load_topology("two-dc-wan")
    group = [0, 1, 8, 9, 16, 17, 24, 25]
    dc = datacenter_of_ranks(t)
    keys = [str(dc[r]) for r in group]
    ctx = SimContext(t, "nccl")
    proto = ctx.profile.protocol("simple")
    sched = build_schedule(
        Algorithm.HIERARCHICAL, CollectiveOp.ALL_REDUCE, group, keys, S, channels=2
    )
    assert [p.name for p in sched.phases] == [
        "intra.reduce_scatter",
        "inter.all_reduce",
        "intra.all_gather",
    ]
    # one part alone; one cross ring carrying all 4 columns' S / 4
    alone = [(RS, [0, 1, 8, 9], S), (AR, [0, 16], S), (AG, [0, 1, 8, 9], S)]
    total = proto.base_latency_s
    for op, g, size in alone:
        ring = build_schedule(Algorithm.RING, op, g, ["one"] * len(g), size, channels=2)
        total += schedule_time(ring, ctx.planner, proto) - proto.base_latency_s
    assert schedule_time(sched, ctx.planner, proto) == pytest.approx(total, rel=1e-12)


def _phase_rows(level: str, topology: str, world: int) -> tuple[Any, list[Collective], Any]:
    t = load_topology(topology)
    sc = _scenario({"dp": world, "data_parallel": {"hierarchical": level}}, batch=world)
    wl = _build(sc, world, t)
    ops = simulate(wl, t, fidelity="analytical").ops
    mine = [o for o in wl.programs[0].ops if isinstance(o, Collective)][:3]
    rows = ops[ops["rank"] == 0].set_index("name")
    return t, mine, rows


@pytest.mark.parametrize(
    ("level", "topology", "world"),
    [("node", "dgx-a100-2node", 16), ("datacenter", "two-dc-wan", 32)],
)
def test_strategy_emits_the_plan_and_runs_its_phases_back_to_back(
    level: str, topology: str, world: int
) -> None:
    t, mine, rows = _phase_rows(level, topology, world)
    part = tuple(range(8)) if level == "node" else tuple(range(16))
    k, column = len(part), (0, 8) if level == "node" else (0, 16)
    size = mine[0].size_B
    assert [c.name.rsplit(".", 1)[1] for c in mine] == ["rs_local", "ar_cross", "ag_local"]
    want = [(RS, part, size), (AR, column, size / k), (AG, part, size)]
    assert [(c.op, c.group, c.size_B) for c in mine] == want
    spans = [(rows.loc[c.name, "start_s"], rows.loc[c.name, "end_s"]) for c in mine]
    assert spans[0][1] == spans[1][0] and spans[1][1] == spans[2][0]
    # the local phases share no link with another part's: each takes what it takes alone
    for c, (a, b) in zip(mine[::2], spans[::2], strict=True):
        alone = simulate_collective(t, c.op, c.size_B, list(c.group), fidelity="analytical")
        assert b - a == pytest.approx(alone.time_s, rel=1e-9)


def test_strategy_host_level_cross_phase_takes_its_time_alone() -> None:
    """dgx-a100-2node: the 8 cross all-reduces run on 8 rails, so each takes its time alone."""
    t, mine, rows = _phase_rows("node", "dgx-a100-2node", 16)
    c = mine[1]
    alone = simulate_collective(t, c.op, c.size_B, list(c.group), fidelity="analytical")
    span = rows.loc[c.name, "end_s"] - rows.loc[c.name, "start_s"]
    assert span == pytest.approx(alone.time_s, rel=1e-9)


def test_unequal_hosts_exit_2_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--op", "all_reduce", "--size", "1MiB", "--algo", "hierarchical", "--ranks", "0-9"]
    rc = main(["collective", "--topology", "dgx-a100-2node", *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "same number of ranks on every host, got 8, 2" in err
    assert "ranks" in err
