"""A blocking host (the rig recorder's execution): FSDP without run-ahead, a one-thread
parameter server, and the rig validation's tier 3 building strategies that way."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from simulator.config import scenario_from_dict
from simulator.core.ir import Collective, Compute, Recv, Send, Workload
from simulator.engine import simulate
from simulator.studies.trace_reshard import reshard, resharded_workload
from simulator.topology import load_topology
from simulator.traces.kineto import import_trace_dir
from simulator.workload.costmodel import CostModel
from simulator.workload.profile import LayerProfile, profile_from_model
from simulator.workload.strategies import build_job, job_context
from simulator.workload.strategies.options import (
    DataParallelConfig,
    DataParallelMode,
    ParameterServerConfig,
    PSMode,
    StrategyConfig,
    StrategyKind,
)

FIXTURE = Path(__file__).parent / "fixtures" / "traces" / "ddp-2-gloo"
CM = CostModel(peak_flops=100e12, hbm_Bps=2e12, efficiency=0.5)


def _profile() -> LayerProfile:
    sc = scenario_from_dict(
        {
            "name": "t",
            "topology": "rig-4host-2rack",
            "model": {"layers": 4, "hidden": 256, "heads": 8, "vocab": 512},
            "training": {"global_batch": 4, "micro_batch": 1, "seq_len": 512},
        }
    )
    return profile_from_model(sc.model_spec(), CM, micro_batch=1)


def _build(strategy: StrategyConfig, world: int, blocking: bool) -> Workload:
    ctx = job_context(_profile(), strategy, world, load_topology("rig-4host-2rack"), global_batch=4)
    ctx.blocking_host = blocking
    return build_job(ctx)


def _spans(ops: pd.DataFrame, rank: int, kinds: tuple[str, ...]) -> list[tuple[float, float]]:
    sel = ops[(ops["rank"] == rank) & ops["kind"].isin(kinds)]
    return sorted(zip(sel["start_s"], sel["end_s"], strict=True))


def _serial(spans: list[tuple[float, float]]) -> bool:
    return all(b[0] >= a[1] - 1e-12 for a, b in itertools.pairwise(spans))


PS_SYNC = StrategyConfig(
    kind=StrategyKind.PARAMETER_SERVER, parameter_server=ParameterServerConfig(mode=PSMode.SYNC)
)
FSDP = StrategyConfig(data_parallel=DataParallelConfig(mode=DataParallelMode.FSDP))


def test_one_thread_server_serves_one_worker_at_a_time() -> None:
    topo = load_topology("rig-4host-2rack")
    free = simulate(_build(PS_SYNC, 4, False), topo)
    one = simulate(_build(PS_SYNC, 4, True), topo)
    assert not _serial(_spans(free.ops, 0, ("send", "recv")))
    assert _serial(_spans(one.ops, 0, ("send", "recv")))
    # serving h1 (same rack) while the trunk carries h2's and h3's pushes is what it gives up
    assert one.step_time_s > free.step_time_s


def test_one_thread_server_keeps_the_server_ops_in_program_order() -> None:
    wl = _build(PS_SYNC, 4, True)
    server = [op for op in wl.programs[0].ops if isinstance(op, (Send, Recv))]
    assert {op.stream for op in server} == {"ps.srv0"}
    kinds = [type(op).__name__ for op in server[:6]]
    assert kinds == ["Recv"] * 3 + ["Send"] * 3


def test_async_server_is_unchanged_by_a_blocking_host() -> None:
    cfg = StrategyConfig(
        kind=StrategyKind.PARAMETER_SERVER,
        parameter_server=ParameterServerConfig(mode=PSMode.ASYNC),
    )
    a, b = _build(cfg, 4, False), _build(cfg, 4, True)
    assert [p.ops for p in a.programs] == [p.ops for p in b.programs]


def test_fsdp_with_a_blocking_host_gathers_on_demand_one_collective_at_a_time() -> None:
    wl = _build(FSDP, 2, True)
    colls = [op for op in wl.programs[0].ops if isinstance(op, Collective)]
    assert len({op.stream for op in colls}) == 1
    by_id = {op.id: op for op in wl.programs[0].ops}
    for op in colls:
        if op.name.startswith("zero3.ag.") and op.deps:
            # no prefetch: a gather waits for the compute just before it, not an earlier one
            (dep,) = op.deps
            later = [o for o in wl.programs[0].ops if o.id > dep and o.id < op.id]
            assert isinstance(by_id[dep], Compute)
            assert not any(isinstance(o, Compute) for o in later)
    res = simulate(wl, load_topology("rig-4host-2rack"))
    assert _serial(_spans(res.ops, 0, ("collective",)))


def test_fsdp_default_still_prefetches_on_two_streams() -> None:
    wl = _build(FSDP, 2, False)
    streams = {op.stream for op in wl.programs[0].ops if isinstance(op, Collective)}
    assert {"comm.dp.ag", "comm.dp.rs"} <= streams


def test_reshard_blocking_host_is_opt_in() -> None:
    imp = import_trace_dir(FIXTURE)
    topo = load_topology("rig-2host")
    plain = resharded_workload(imp, "fsdp", 2, topo)
    again = resharded_workload(imp, "fsdp", 2, topo, blocking_host=False)
    assert [p.ops for p in plain.programs] == [p.ops for p in again.programs]
    blocking = resharded_workload(imp, "fsdp", 2, topo, blocking_host=True)
    assert [p.ops for p in plain.programs] != [p.ops for p in blocking.programs]
    a = reshard(FIXTURE, strategy="fsdp", topology="rig-2host", backend="gloo")
    b = reshard(FIXTURE, strategy="fsdp", topology="rig-2host", backend="gloo", blocking_host=True)
    assert b.predicted_step_s >= a.predicted_step_s
