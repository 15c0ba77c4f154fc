"""Trace import, Chakra round trips, re-sharding and the replay CLI on committed fixtures.

No torch needed: ``tests/fixtures/traces/ddp-2-gloo`` is a real (gzipped) 2-rank gloo
recording, ``nccl-2`` a synthetic NCCL-format trace (see make_nccl_fixture.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.ir import Collective, Compute, Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.traces.chakra import (
    export_workload,
    import_chakra_dir,
    program_from_nodes,
    program_to_nodes,
    read_et,
)
from simulator.traces.chakra.schema import Node
from simulator.traces.kineto import import_trace_dir
from simulator.traces.timeline import CommEvent, Label, Piece, StepTimeline, Wait, build_program

FIX = Path(__file__).parent / "fixtures" / "traces"
GLOO = FIX / "ddp-2-gloo"
NCCL = FIX / "nccl-2"


@pytest.fixture(scope="module")
def gloo():
    return import_trace_dir(GLOO)


@pytest.fixture(scope="module")
def nccl():
    return import_trace_dir(NCCL)


def test_gloo_fixture_becomes_ddp_programs(gloo):
    assert gloo.kind == "cpu" and gloo.world == 2 and gloo.num_steps == 1
    wl = gloo.workload(0)
    wl.validate()
    for prog in wl.programs:
        colls = [op for op in prog.ops if isinstance(op, Collective)]
        # DDP's first step after warm-up broadcasts its rebuilt bucket order (2 small
        # broadcasts), then all-reduces 8 buckets of 0.05 MiB
        kinds = Counter(c.op for c in colls)
        assert kinds == {CollectiveOp.ALL_REDUCE: 8, CollectiveOp.BROADCAST: 2}
        assert all(c.group == (0, 1) and c.size_B > 0 and c.size_B % 4 == 0 for c in colls)
        by_id = {op.id: op for op in prog.ops}
        # bucket readiness: each all-reduce waits for the backward compute that launched it
        for c in colls:
            if c.op is CollectiveOp.ALL_REDUCE:
                assert any(by_id[d].category == "bwd" for d in c.deps)
        # the optimizer reads every synchronised gradient
        optim = next(op for op in prog.ops if op.category == "optim")
        assert {c.id for c in colls} <= set(optim.deps)
        compute = [op for op in prog.ops if isinstance(op, Compute)]
        assert all(op.duration_s is not None and op.duration_s >= 0 for op in compute)
        total = sum(op.duration_s or 0.0 for op in compute)
        tl = gloo.timelines[prog.rank][0]
        assert 0 < total <= tl.duration_s
    # both ranks issue the same collective sizes in the same order (rendezvous matches)
    sizes = [[op.size_B for op in p.ops if isinstance(op, Collective)] for p in wl.programs]
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("path", [GLOO, NCCL])
def test_every_event_is_accounted_for(path):
    s = import_trace_dir(path).summary
    assert sum(s.used.values()) + sum(s.skipped.values()) == s.events_total


def test_nccl_fixture(nccl):
    assert nccl.kind == "gpu" and nccl.num_steps == 2
    prog = nccl.workload(1).programs[1]
    colls = [op for op in prog.ops if isinstance(op, Collective)]
    assert len(colls) == 1
    ar = colls[0]
    assert ar.op is CollectiveOp.ALL_REDUCE and ar.size_B == 4 * 2**20 and ar.group == (0, 1)
    by_id = {op.id: op for op in prog.ops}
    assert [by_id[d].category for d in ar.deps] == ["bwd"]
    optim = next(op for op in prog.ops if op.category == "optim")
    assert ar.id in optim.deps
    fwd = next(op for op in prog.ops if op.category == "fwd")
    # the step starts at ProfilerStep's host start: 0.5 ms before the 2 ms forward kernel
    assert fwd.layer == 0 and fwd.duration_s == pytest.approx(2.5e-3)
    # backward was launched from pt_autograd_0; DDP's stream wait is the only wait
    assert any(op.category == "bwd" for op in prog.ops)
    assert [w.comm for w in nccl.timelines[1][1].waits] == [0]
    assert nccl.timelines[1][1].wall_s == pytest.approx(9.5e-3)
    # the unknown NCCL kernel is reported, not dropped
    assert nccl.summary.unknown["nccl:ncclDevKernel_Frobnicate(ncclDevComm*)"] == 4
    assert nccl.summary.skipped["unknown-nccl-kernel"] == 4


def test_timeline_cuts_at_launch_and_waits():
    tl = StepTimeline(rank=0, step=0, start_s=0.0, end_s=10.0)
    tl.pieces = [Piece(0.0, 4.0, Label("bwd", 1)), Piece(6.0, 7.0, Label("optim"))]
    tl.comms = [
        CommEvent(
            op=CollectiveOp.ALL_REDUCE,
            size_B=8.0,
            launch_s=3.0,
            start_s=3.0,
            end_s=5.9,
            stream="comm.0",
            name="ar",
            group=(0, 1),
        )
    ]
    tl.waits = [Wait(4.0, 5.9, 0)]
    prog, ids = build_program(tl)
    ops = prog.ops
    assert [type(o).__name__ for o in ops] == ["Compute", "Collective", "Compute", "Compute"]
    assert ops[0].duration_s == pytest.approx(3.0)  # cut at the launch
    assert ops[1].deps == (0,)
    assert ops[2].duration_s == pytest.approx(1.0) and ops[2].deps == (0,)
    assert set(ops[3].deps) == {1, 2}  # waits on the all-reduce
    assert ids == {0: 1}


def _mixed_program(rank: int) -> Program:
    p = Program(rank=rank)
    a = p.compute(
        "fwd",
        duration_s=1.25e-3,
        flops=3e9,
        bytes_accessed_B=1e6,
        layer=2,
        microbatch=1,
        category="fwd",
    )
    for op in (
        CollectiveOp.ALL_REDUCE,
        CollectiveOp.ALL_GATHER,
        CollectiveOp.REDUCE_SCATTER,
        CollectiveOp.BROADCAST,
        CollectiveOp.REDUCE,
        CollectiveOp.ALL_TO_ALL,
        CollectiveOp.BARRIER,
    ):
        p.collective(
            f"c.{op}",
            op=op,
            group=(0, 1),
            size_B=1234.5,
            deps=(a,),
            algo="ring" if op is CollectiveOp.ALL_REDUCE else "auto",
            root=1,
            stream="comm.dp",
            category="dp",
        )
    p.send("s", peer=1 - rank, size_B=77.0, tag=3, deps=(a,), stream="comm.send")
    p.recv("r", peer=1 - rank, size_B=77.0, tag=3, stream="comm.recv")
    p.compute("model", flops=1e9)  # no measured duration: cost model decides
    return p


@pytest.mark.parametrize("source", ["fixture", "mixed"])
def test_chakra_round_trip_is_exact(tmp_path, gloo, source):
    if source == "fixture":
        wl = gloo.workload(0)
    else:
        wl = Workload(programs=[_mixed_program(0), _mixed_program(1)], metadata={"x": 1})
    paths = export_workload(wl, tmp_path)
    assert [p.name for p in paths] == ["commsim.0.et", "commsim.1.et"]
    gm, nodes = read_et(paths[0])
    # one node per op, plus the process_group:init metadata node first
    assert gm.version and len(nodes) == len(wl.programs[0].ops) + 1
    assert nodes[0].name == "process_group:init" and nodes[0].type == 1
    back = import_chakra_dir(tmp_path)
    assert back.world_size == 2
    for a, b in zip(wl.programs, back.programs, strict=True):
        assert a.ops == b.ops


def test_chakra_nodes_speak_chakra():
    nodes = program_to_nodes(_mixed_program(0))
    pg = nodes[0]
    assert pg.name == "process_group:init" and pg.type == 1  # METADATA_NODE
    # the form ASTRA-sim's issue_pytorch_pg_metadata strips (2 chars each side) and parses
    assert json.loads(pg.inputs.values[2:-2]) == [{"pg_name": "0", "ranks": [0, 1]}]
    by = {n.name: n for n in nodes}
    ar = by["c.all_reduce"]
    attrs = {a.name: a for a in ar.attr}
    assert ar.type == 7 and attrs["comm_type"].int64_val == 0  # COMM_COLL_NODE, ALL_REDUCE
    assert attrs["comm_size"].int64_val == 1234  # bytes, whole
    assert attrs["pg_name"].string_val == "0"
    assert by["fwd"].duration_micros == 1250
    send = by["s"]
    sa = {a.name: a for a in send.attr}
    assert send.type == 5 and sa["comm_dst"].int32_val == 1 and sa["comm_src"].int32_val == 0
    assert sa["comm_tag"].WhichOneof("value") == "int32_val" and sa["comm_tag"].int32_val == 3
    # stream order is in data_deps (Chakra's feeder reads no ctrl_deps), groups exist first
    ag = by["c.all_gather"]
    assert set(ag.data_deps) == {by["fwd"].id, ar.id, pg.id} and list(ag.ctrl_deps) == []


def test_chakra_attribute_types_are_the_feeders():
    """Every Chakra attribute we write has the value type Chakra's feeder reads."""
    from simulator.traces.chakra.codec import FEEDER_TYPES

    seen = set()
    for n in program_to_nodes(_mixed_program(0)):
        for a in n.attr:
            if not a.name.startswith("commsim."):
                assert a.WhichOneof("value") == FEEDER_TYPES[a.name], a.name
                seen.add(a.name)
    assert seen >= {"is_cpu_op", "num_ops", "tensor_size", "comm_type", "comm_size"}
    assert seen >= {"comm_src", "comm_dst", "comm_tag", "pg_name"}


def test_foreign_chakra_nodes_import():
    comp = Node(id=10, name="gemm", type=4, duration_micros=250)
    mem = Node(id=11, name="load", type=2)
    mem.ctrl_deps.append(10)
    coll = Node(id=12, name="ar", type=7)
    coll.data_deps.append(11)
    a = coll.attr.add(name="comm_type")
    a.int64_val = 7  # REDUCE_SCATTER
    b = coll.attr.add(name="comm_size")
    b.int64_val = 4096
    skipped: Counter[str] = Counter()
    prog = program_from_nodes(0, [comp, mem, coll], world=4, skipped=skipped)
    assert prog.ops[0].duration_s == pytest.approx(250e-6)
    # ctrl_deps are parent links in Chakra, not ordering: the load depends on nothing
    assert prog.ops[1].duration_s == 0.0 and prog.ops[1].deps == ()
    rs = prog.ops[2]
    assert isinstance(rs, Collective) and rs.op is CollectiveOp.REDUCE_SCATTER
    assert rs.group == (0, 1, 2, 3) and rs.size_B == 4096 and rs.deps == (1,)
    assert skipped["chakra-node-type-2"] == 1 and skipped["collective"] == 1


def test_chakra_truncated_file_is_an_input_error(tmp_path, gloo):
    (path,) = export_workload(Workload(programs=[gloo.workload(0).programs[0]], world=2), tmp_path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(InputError, match="truncated"):
        read_et(path)


def test_chakra_dir_replays_through_the_cli(tmp_path, capsys):
    progs = [_mixed_program(r) for r in (0, 1)]
    timed = [Program(rank=p.rank, ops=p.ops[:-1]) for p in progs]  # all ops with durations
    export_workload(Workload(programs=timed), tmp_path / "ok")
    assert main(["replay", str(tmp_path / "ok"), "--topology", "loopback-2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "chakra" and out["world"] == 2 and out["predicted_step_s"] > 1.25e-3
    # a compute node with neither duration nor cost model is bad input, not a traceback
    export_workload(Workload(programs=progs), tmp_path / "bad")
    assert main(["replay", str(tmp_path / "bad"), "--topology", "loopback-2"]) == 2
    assert "no duration" in capsys.readouterr().err


def test_reshard_profile_and_strategies(gloo):
    from simulator.engine import simulate
    from simulator.studies.trace_reshard import layer_profile, resharded_workload
    from simulator.topology import load_topology

    prof = layer_profile(gloo)
    assert prof.num_layers == 2 and prof.micro_batch == 4 and prof.hidden == 64
    assert all(lc.fwd_s > 0 and lc.bwd_s > 0 and lc.params > 0 for lc in prof.layers)
    topo = load_topology("loopback-4")
    for strategy in ("ddp", "fsdp", "tp", "pp-1f1b", "ps-sync"):
        wl = resharded_workload(gloo, strategy, 4, topo)
        res = simulate(wl, topo, backend="gloo", record=False)
        assert res.step_time_s > 0


def test_cli_replay_json(capsys):
    assert main(["replay", str(GLOO), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "measured_step_s",
        "predicted_step_s",
        "error_pct",
        "collectives",
        "import_summary",
        "per_step",
    ):
        assert key in out
    assert out["topology"] == "loopback-2" and out["backend"] == "gloo"
    kinds = {c["kind"] for c in out["collectives"]}
    assert kinds == {"all_reduce", "broadcast"}
    assert sum(c["count"] for c in out["collectives"]) == 10
    assert out["measured_step_s"] == pytest.approx(0.026291311999557365)


def test_cli_reshard_json(capsys):
    assert (
        main(
            [
                "replay",
                str(GLOO),
                "--strategy",
                "fsdp",
                "--world",
                "4",
                "--topology",
                "loopback-4",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"] == "fsdp" and out["world"] == 4 and out["predicted_step_s"] > 0


def test_cli_reshard_defaults_world(capsys):
    """--strategy alone keeps the recording's world; with --topology it takes all its ranks."""
    assert main(["replay", str(GLOO), "--strategy", "fsdp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["world"] == out["recorded_world"] == 2 and out["strategy"] == "fsdp"
    assert (
        main(["replay", str(GLOO), "--strategy", "fsdp", "--topology", "loopback-4", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["world"] == 4
    assert main(["replay", str(GLOO), "--world", "4", "--topology", "loopback-4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "ddp"  # the recorded strategy


def test_cli_bad_inputs(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing")]) == 2
    assert main(["replay", str(tmp_path)]) == 2  # no rank files
    err = capsys.readouterr().err
    assert "no Kineto trace files" in err
    assert main(["replay", str(GLOO), "--strategy", "fsdp", "--world", "64"]) == 2  # > ranks
    assert main(["replay", str(GLOO), "--strategy", "nope", "--world", "2"]) == 2


def test_cli_record_rejects_bad_config_before_running(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["record", "--world", "3", "--strategy", "tp", "--out", str(tmp_path)]) == 2
    assert "n_head" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_traces_package_does_not_import_torch():
    code = (
        "import sys, simulator.traces, simulator.traces.kineto, simulator.studies.trace_replay, "
        "simulator.studies.trace_reshard, simulator.traces.chakra, simulator.traces.record, "
        "simulator.cli.replay, simulator.cli.record; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _tl(rank: int, sizes: list[float], cb: tuple[int, ...] = ()) -> StepTimeline:
    tl = StepTimeline(rank=rank, step=0, start_s=0.0, end_s=1.0)
    tl.pieces = [Piece(0.0, 0.5, Label("bwd"))]
    for i, size in enumerate(sizes):
        name = f"all_reduce.{'cb' if i in cb else i}"
        tl.comms.append(
            CommEvent(
                op=CollectiveOp.ALL_REDUCE,
                size_B=size,
                launch_s=0.1 * i,
                start_s=0.1 * i,
                end_s=0.1 * i + 0.05,
                stream="comm",
                name=name,
                group=(0, 1),
            )
        )
    return tl


def test_reconcile_drops_callback_spans_then_flags_the_step():
    from simulator.traces.events import ImportSummary
    from simulator.traces.kineto import _reconcile

    summary = ImportSummary()
    # rank 0 saw a callback-issued collective that rank 1's profiler missed: dropped
    tls = [[_tl(0, [8.0, 4.0, 8.0], cb=(1,))], [_tl(1, [8.0, 8.0])]]
    assert _reconcile(tls, summary) == []
    assert [c.size_B for c in tls[0][0].comms] == [8.0, 8.0]
    assert summary.roles["dropped-callback-comm"] == 1
    # launches that differ: the step is left out, not guessed
    tls = [[_tl(0, [8.0, 4.0])], [_tl(1, [8.0, 8.0])]]
    assert _reconcile(tls, summary) == [0]


def test_tp_reshard_follows_the_recorders_plan():
    """The recorder shards q, k, v as three ColwiseParallel linears: 6 TP all-reduces a layer."""
    from simulator.studies.trace_reshard import strategy_config
    from simulator.traces.models import GPTConfig
    from simulator.workload.strategies.options import QKVLayout

    cfg = strategy_config("tp", 2, GPTConfig(n_head=4), 25.0)
    assert cfg.tp == 2 and cfg.tensor.qkv is QKVLayout.SEPARATE


@pytest.mark.parametrize("resume_before_end_us", [0, 300, 900])
def test_lane_resuming_just_before_the_gloo_span_closes_is_a_wait(tmp_path, resume_before_end_us):
    """gloo wakes the waiting thread before it closes its ``gloo:`` span; on a busy machine
    the waiter can resume first (up to 0.6 ms in our 4-host recordings). The gap is a wait on
    that all_reduce, not compute."""
    from simulator.traces.cpu import cpu_timelines
    from simulator.traces.events import ImportSummary, load_kineto

    span_end = 6260
    resume = span_end - resume_before_end_us

    def op(name, ts, dur, tid=1, cat="cpu_op", **args):
        return {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": 1, "tid": tid,
                "args": args}  # fmt: skip

    events = [
        op("commsim.step#0", 0, resume + 1450, cat="user_annotation"),
        op("aten::mm", 100, 1000),
        op("c10d::allreduce_", 1200, 50, **{"Input Dims": [[1024]], "Input type": ["float"]}),
        op("gloo:all_reduce", 1260, span_end - 1260, tid=2, cat="user_annotation"),
        op("aten::add", resume, 200),
        op("aten::mm", resume + 400, 1000),  # a 200 us gap: not a second wait on the same op
    ]
    path = tmp_path / "rank0.trace.json"
    path.write_text(json.dumps({"traceEvents": events}))
    (tl,) = cpu_timelines(load_kineto(path), 0, 2, ImportSummary())
    assert len(tl.comms) == 1 and len(tl.waits) == 1
    wait = tl.waits[0]
    assert wait.comm == 0
    assert wait.start_s == pytest.approx(1250e-6) and wait.end_s == pytest.approx(resume * 1e-6)
    busy = sum(p.end_s - p.start_s for p in tl.pieces)
    # ops and short gaps (100 us before each mm and the launch, 200 us after the wait, 50 us
    # before the step ends) are busy; no wait time is
    assert busy == pytest.approx((100 + 1000 + 100 + 50 + 200 + 200 + 1000 + 50) * 1e-6, abs=2e-6)


@pytest.mark.parametrize("container", ["autograd::engine::evaluate_function: ViewBackward0",
                                       "FSDP::post_backward_reduce (blocks.0)"])  # fmt: skip
def test_wait_inside_an_op_or_fsdp_scope_is_a_wait(tmp_path, container):
    """FSDP2 launches a collective and blocks on it inside an autograd hook (or in a Python
    hook under an ``FSDP::`` annotation): the lane shows no gap, only one long op. The stretch
    with no nested op during which the launched collective finishes is a wait."""
    from simulator.traces.cpu import cpu_timelines
    from simulator.traces.events import ImportSummary, load_kineto

    cat = "user_annotation" if container.startswith("FSDP::") else "cpu_op"
    launch = {"Input Dims": [[4096], [1024]], "Input type": ["float", "float"]}

    def op(name, ts, dur, tid=1, cat="cpu_op", **args):
        return {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": 1, "tid": tid,
                "args": args}  # fmt: skip

    events = [
        op("commsim.step#0", 0, 60000, cat="user_annotation"),
        op(container, 1000, 50000, cat=cat),
        op("aten::cat", 1000, 2000),  # copy-in
        op("c10d::allgather_into_tensor_coalesced_", 3000, 100, **launch),
        op("gloo:all_gather", 3200, 40000, tid=2, cat="user_annotation"),  # ends at 43.2 ms
        op("aten::mm", 51000, 2000),
    ]
    path = tmp_path / "rank0.trace.json"
    path.write_text(json.dumps({"traceEvents": events}))
    summary = ImportSummary()
    (tl,) = cpu_timelines(load_kineto(path), 0, 2, summary)
    assert len(tl.comms) == 1
    assert [(w.comm, round(w.start_s * 1e3, 3), round(w.end_s * 1e3, 3)) for w in tl.waits] == [
        (0, 3.1, 43.2)
    ]
    assert summary.roles["inner-wait"] == 1
    busy = sum(p.end_s - p.start_s for p in tl.pieces)
    # everything but the wait: 1 ms before the container, its 3.1 ms of ops, the 7.8 ms
    # wake-up and untraced rest, the last op, and the 7 ms to the step's end
    assert busy == pytest.approx((60000 - 40100) * 1e-6, abs=2e-6)


def test_a_send_closing_after_the_lane_resumed_was_not_waited_for(tmp_path):
    """send/recv spans are asynchronous on the lane itself: one that closes just after the lane
    resumed did not wake it. Waiting on it made a 1F1B replay deadlock (both stages waiting on
    their sends before posting their receives)."""
    from simulator.traces.cpu import cpu_timelines
    from simulator.traces.events import ImportSummary, load_kineto

    def op(name, ts, dur, tid=1, cat="cpu_op", **args):
        return {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": 1, "tid": tid,
                "args": args}  # fmt: skip

    events = [
        op("commsim.step#0", 0, 8000, cat="user_annotation"),
        op("c10d::send", 1000, 50, **{"Input Dims": [[1024]], "Input type": ["float"]}),
        op("gloo:send", 1050, 5450, cat="user_annotation"),  # closes at 6.5 ms
        op("aten::mm", 1100, 900),
        op("aten::add", 6000, 1900),  # resumes 0.5 ms before the send's span closes
    ]
    path = tmp_path / "rank0.trace.json"
    path.write_text(json.dumps({"traceEvents": events}))
    (tl,) = cpu_timelines(load_kineto(path), 0, 2, ImportSummary())
    assert [c.op for c in tl.comms] == ["send"]
    assert tl.waits == []


def test_cli_replay_out_writes_timeline_and_tables(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["replay", str(GLOO), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["out"] == str(out)
    for name in ("result.json", "timeline.json", "timeline.png", "links.png", "ops.csv"):
        assert (out / name).is_file(), name
    assert json.loads((out / "result.json").read_text())["steps"] == res["steps"]
    # a directory commsim did not write is refused, untouched
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["replay", str(GLOO), "--out", str(mine)]) == 2
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_reshard_chakra_out_writes_the_resharded_workload(tmp_path, capsys):
    out = tmp_path / "et"
    argv = ["replay", str(GLOO), "--strategy", "fsdp", "--world", "4", "--topology", "loopback-4"]
    assert main([*argv, "--chakra-out", str(out), "--json"]) == 0
    capsys.readouterr()
    back = import_chakra_dir(out)
    assert back.world_size == 4 and len(back.programs) == 4  # not the recorded 2 ranks


def test_foreign_chakra_groups_from_pg_name_and_process_group_init():
    """Chakra's converter form: a METADATA node lists the groups; pg_name picks one."""
    meta = Node(id=1, name="process_group:init", type=1)
    meta.inputs.values = "['" + json.dumps([{"pg_name": "3", "ranks": [0, 2]}]) + "']"
    coll = Node(id=2, name="ag", type=7)
    for name, kind, value in (
        ("comm_type", "int64_val", 2),
        ("comm_size", "int64_val", 64),
        ("pg_name", "string_val", "3"),
        ("is_cpu_op", "bool_val", False),
    ):
        a = coll.attr.add(name=name)
        setattr(a, kind, value)
    prog = program_from_nodes(0, [coll, meta], world=4)  # any file order
    (ag,) = [op for op in prog.ops if isinstance(op, Collective)]
    assert ag.op is CollectiveOp.ALL_GATHER and ag.group == (0, 2)


def test_reshard_scaling_laws(gloo):
    """Re-sharding moves bytes as the strategies' laws say: a DDP rank all-reduces its full
    gradient at any world size, FSDP all-gathers the parameters twice (forward, backward) per
    reduce-scatter of the gradient, and a TP all-reduce carries one activation (sequence x
    batch x hidden) whatever the TP degree."""
    from simulator.core.ir import Collective
    from simulator.studies.trace_reshard import layer_profile, resharded_workload
    from simulator.topology import load_topology

    topo = load_topology("dgx-a100-8node")
    prof = layer_profile(gloo)

    def bytes_of(strategy: str, world: int) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for op in resharded_workload(gloo, strategy, world, topo).programs[0].ops:
            if isinstance(op, Collective):
                key = (op.op.value, op.category)
                out[key] = out.get(key, 0.0) + op.size_B
        return out

    grad_B = 4 * (sum(lc.params for lc in prof.layers) + prof.embed_params + prof.head_params)
    for world in (2, 8, 64):
        assert bytes_of("ddp", world)[("all_reduce", "dp")] == pytest.approx(grad_B, rel=1e-5)
        fsdp = bytes_of("fsdp", world)
        assert fsdp[("all_gather", "dp")] == pytest.approx(2 * fsdp[("reduce_scatter", "dp")])
    activation_B = prof.seq_len * prof.micro_batch * prof.hidden * 4  # fp32
    tp2, tp4 = bytes_of("tp", 2)[("all_reduce", "tp")], bytes_of("tp", 4)[("all_reduce", "tp")]
    assert tp2 == tp4 and tp2 % activation_B == 0


def test_reshard_past_the_recorded_topology_names_the_fix(capsys):
    assert main(["replay", str(GLOO), "--world", "4"]) == 2
    err = capsys.readouterr().err
    assert "the recording's topology loopback-2" in err and "give --topology" in err


def test_reshard_onto_gpus_with_gloo_says_so(capsys):
    argv = ["replay", str(GLOO), "--strategy", "fsdp", "--topology", "dgx-a100"]
    assert main(argv) == 0
    assert "add --backend nccl" in capsys.readouterr().out
    for extra in (["--backend", "nccl"], ["--json"]):
        assert main([*argv, *extra]) == 0
        assert "add --backend nccl" not in capsys.readouterr().out
    assert main([*argv[:-1], "loopback-4"]) == 0  # CPU hosts: gloo is what they run
    assert "note" not in capsys.readouterr().out
