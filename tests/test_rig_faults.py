"""Rig fault cases: case -> faults, tc and cgroup builders, replays under faults (no root)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.ir import Compute
from simulator.faults.network import apply_network_faults
from simulator.faults.schema import FaultsConfig
from simulator.faults.trace import apply_to_replay, rank_factors, scale_compute
from simulator.rig.cluster import plan_rig
from simulator.studies.rig_faults import (
    MARKS_FILE,
    CpuCgroup,
    FaultCase,
    FaultKind,
    change_at_s,
    cpu_cgroup_root,
    fault_scatter_png,
    fault_summary,
    first_step_start_s,
    make_cgroup,
    measured_compute_factor,
    nic_shapings,
    parse_fault_cases,
    tbf_change_args,
)
from simulator.studies.rig_validation import CaseResult
from simulator.studies.trace_replay import chained_workload, replay
from simulator.topology import load_topology
from simulator.traces.kineto import import_trace_dir

GLOO = Path(__file__).parent / "fixtures" / "traces" / "ddp-2-gloo"
RIG_RATE_BPS = 400e6 / 8  # topologies/rig-2host.yaml: 400 Mbit/s NICs


def test_parse_fault_cases() -> None:
    assert [c.name for c in parse_fault_cases("all")] == [
        "slow-nic-r1-x0.4",
        "cpu-throttle-r1-x0.5",
        "link-mid-r1-x0.4",
    ]
    assert parse_fault_cases("slow-nic:0.25@0") == [FaultCase(FaultKind.SLOW_NIC, 0, 0.25)]
    assert parse_fault_cases("cpu-throttle") == [FaultCase(FaultKind.CPU_THROTTLE, 1, 0.5)]
    for bad in ("bogus", "slow-nic:x", "slow-nic:1.5", "cpu-throttle@r", " , "):
        with pytest.raises(InputError):
            parse_fault_cases(bad)


def test_bad_faults_flag_exits_2_before_any_rig(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--topology", "rig-2host", "--faults", "flood"]) == 2
    assert "--faults" in capsys.readouterr().err


def test_slow_nic_degrades_both_directions_of_the_hosts_link() -> None:
    topo = load_topology("rig-2host")
    faults = FaultCase(FaultKind.SLOW_NIC, rank=1, factor=0.4).faults(topo)
    net = apply_network_faults(topo, faults)
    assert net is not None
    now = net.at(0.0)
    for lk, base in zip(now.links, topo.links, strict=True):
        slow = "h1" in (lk.src, lk.dst)
        assert lk.bandwidth_Bps == pytest.approx(base.bandwidth_Bps * (0.4 if slow else 1.0))


def test_link_mid_degrades_from_the_recorded_time() -> None:
    topo = load_topology("rig-2host")
    case = FaultCase(FaultKind.LINK_MID, rank=1, factor=0.5)
    net = apply_network_faults(topo, case.faults(topo, at_s=1.25))
    assert net is not None and net.changes
    assert net.at(1.0).links == topo.links
    assert [lk.bandwidth_Bps for lk in net.at(1.3).links if lk.src == "h1"] == [0.5 * RIG_RATE_BPS]
    # A change before the first replayed step degrades it from the start.
    assert all(f.at == 0.0 for f in case.faults(topo, at_s=-0.5).links)
    # The slow NIC itself never changes during the step.
    assert all(f.at == 0.0 for f in FaultCase(FaultKind.SLOW_NIC).faults(topo, at_s=2.0).links)


def test_tbf_change_keeps_the_qdisc_and_sets_the_new_rate() -> None:
    plan = plan_rig("rig-2host", run_id="abc123")
    s = nic_shapings(plan, 1, 0.4)[0]
    args = tbf_change_args(s, plan.mtu_B, 0.02)
    assert args[:6] == ["qdisc", "change", "dev", s.dev, "root", "tbf"]
    assert args[args.index("rate") + 1] == f"{round(0.4 * 400e6)}bit"
    assert args[args.index("latency") + 1] == "20.000ms"


def test_cpu_throttle_is_a_slow_rank_of_period_over_quota() -> None:
    topo = load_topology("rig-2host")
    faults = FaultCase(FaultKind.CPU_THROTTLE, rank=1, factor=0.25).faults(topo)
    assert rank_factors(faults, 2) == [1.0, 4.0]
    with pytest.raises(InputError, match="no rank 2"):
        FaultCase(FaultKind.CPU_THROTTLE, rank=2).faults(topo)


def test_nic_shapings_rescale_the_planned_rates() -> None:
    plan = plan_rig("rig-2host", run_id="abc123")
    shapes = nic_shapings(plan, 1, 0.5)
    assert len(shapes) == 2
    assert {s.ns for s in shapes} == {plan.hosts[1].ns, plan.switches[0].ns}
    assert all(s.rate_Bps == pytest.approx(0.5 * RIG_RATE_BPS) for s in shapes)
    assert all(s.ns != plan.hosts[0].ns for s in shapes)


def test_cgroup_writes_and_join() -> None:
    v2 = CpuCgroup(Path("/cg/x"), 2, 50_000, 100_000)
    assert v2.writes() == [(Path("/cg/x/cpu.max"), "50000 100000")]
    v1 = CpuCgroup(Path("/cg/cpu/x"), 1, 25_000, 100_000)
    assert v1.writes() == [
        (Path("/cg/cpu/x/cpu.cfs_period_us"), "100000"),
        (Path("/cg/cpu/x/cpu.cfs_quota_us"), "25000"),
    ]


def test_cgroup_root_prefers_v2_with_cpu(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no CPU cgroup"):
        cpu_cgroup_root(tmp_path)
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cpu_cgroup_root(tmp_path) == (1, tmp_path / "cpu")
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb")
    assert cpu_cgroup_root(tmp_path)[0] == 1  # a v2 mount without the cpu controller
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io")
    assert cpu_cgroup_root(tmp_path) == (2, tmp_path)
    cg = make_cgroup("cs-test", 0.5, tmp_path)
    assert (tmp_path / "cs-test" / "cpu.max").read_text() == "5000 10000"
    assert (cg.quota_us, cg.period_us) == (5_000, 10_000)
    cg.adopt([4242])
    assert (tmp_path / "cs-test" / "cgroup.procs").read_text() == "4242"


def test_scale_compute_touches_only_the_slow_ranks_compute() -> None:
    wl = chained_workload(imp := import_trace_dir(str(GLOO)), imp.good_steps).workload
    out = scale_compute(wl, [1.0, 3.0])
    for a, b in zip(wl.programs, out.programs, strict=True):
        for x, y in zip(a.ops, b.ops, strict=True):
            if isinstance(x, Compute) and x.duration_s is not None and a.rank == 1:
                assert isinstance(y, Compute) and y.duration_s is not None
                assert y.duration_s == pytest.approx(3.0 * x.duration_s)
            else:
                assert y == x


def test_replay_under_faults() -> None:
    healthy = replay(str(GLOO), topology="rig-2host", backend="gloo")
    same = replay(
        str(GLOO), topology="rig-2host", backend="gloo",
        faults=FaultsConfig.model_validate(
            {"links": [{"link": "h1-sw0", "state": "degraded", "bandwidth_factor": 1.0}]}
        ),
    )  # fmt: skip
    assert same.per_step == healthy.per_step
    topo = load_topology("rig-2host")
    for case in (FaultCase(FaultKind.SLOW_NIC, 1, 0.1), FaultCase(FaultKind.CPU_THROTTLE, 1, 0.5)):
        slow = replay(str(GLOO), topology=topo, backend="gloo", faults=case.faults(topo))
        for a, b in zip(healthy.per_step, slow.per_step, strict=True):
            assert b.predicted_s > a.predicted_s
    with pytest.raises(InputError, match="jitter"):
        apply_to_replay(
            chained_workload(imp := import_trace_dir(str(GLOO)), imp.good_steps).workload,
            topo,
            FaultsConfig.model_validate({"jitter": {"sigma": 0.1}}),
        )


def _case(err: float, strategy: str, kind: str) -> CaseResult:
    return CaseResult(
        tier="faults", case=f"{strategy}@rig-2host+{kind}-r1-x0.5", measured_s=1.0,
        predicted_s=1.0 + err / 100, error_pct=err, spread_pct=1.0, steps=8,
        topology="rig-2host", strategy=strategy, predicted_on="x", recorded="a", measured_from="b",
    )  # fmt: skip


def test_fault_summary_and_figure(tmp_path: Path) -> None:
    cases = [_case(-4.0, "ddp", "slow-nic"), _case(10.0, "ps-async", "cpu-throttle")]
    cases += [_case(2.0, "ddp", "cpu-throttle"), _case(1.0, "ddp", "link-mid")]
    s = fault_summary(cases)
    assert s.to_json() == {"n": 4, "median_abs_error_pct": 3.0, "max_abs_error_pct": 10.0}
    assert statistics.median(abs(c.error_pct) for c in cases) == s.median_abs_error_pct
    assert fault_summary([]).to_json() == {"n": 0}
    import matplotlib.pyplot as plt

    seen: list[str] = []
    real_savefig = plt.Figure.savefig

    def spy(fig: plt.Figure, *a: object, **k: object) -> None:
        legend = fig.axes[0].get_legend()
        assert legend is not None
        seen.extend(t.get_text() for t in legend.get_texts())
        real_savefig(fig, *a, **k)  # type: ignore[arg-type]

    plt.Figure.savefig = spy  # type: ignore[assignment,method-assign]
    try:
        png = fault_scatter_png(cases, tmp_path / "faults.png")
    finally:
        plt.Figure.savefig = real_savefig  # type: ignore[method-assign]
    assert png.stat().st_size > 0
    # Every case is drawn: one legend entry per (strategy, fault kind), plus the line and band.
    assert len(seen) == 4 + 2 and "ddp, link-mid" in seen


def test_change_time_is_read_against_the_traces_wall_clock(tmp_path: Path) -> None:
    import json
    import shutil

    d = tmp_path / "rec"
    shutil.copytree(GLOO, d)
    start = first_step_start_s(d)
    # ts + baseTimeNanoseconds: wall-clock seconds of late 2026 for this fixture.
    assert 1.79e9 < start < 1.8e9
    (d / MARKS_FILE).write_text(json.dumps({"launched_at_s": start - 5}))
    with pytest.raises(InputError, match="never changed"):
        change_at_s(d)
    (d / MARKS_FILE).write_text(json.dumps({"changed_at_s": start + 0.125}))
    assert change_at_s(d) == pytest.approx(0.125, abs=1e-6)


def test_compute_factor_measured_alone_overrides_the_quota(tmp_path: Path) -> None:
    import json

    topo = load_topology("rig-2host")
    case = FaultCase(FaultKind.CPU_THROTTLE, rank=1, factor=0.5)
    assert measured_compute_factor(tmp_path) is None
    (tmp_path / MARKS_FILE).write_text(json.dumps({"busy_free_s": 0.2, "busy_capped_s": 0.37}))
    f = measured_compute_factor(tmp_path)
    assert f == pytest.approx(1.85)
    assert rank_factors(case.faults(topo, compute_factor=f), 2) == [1.0, pytest.approx(1.85)]
