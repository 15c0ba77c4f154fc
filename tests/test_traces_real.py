"""Importers on real public traces (tests/fixtures/real, see its README for provenance).

Every expected count and size below was read by hand from the trace files (kernel args or the
``nccl:<op>`` / ``c10d::<op>`` host ops' ``Input Dims`` x element size), not from the importer.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.vocab import CollectiveOp
from simulator.traces.kineto import import_trace_dir

REAL = Path(__file__).parent / "fixtures" / "real"
AR, A2A, AG, RS, BC = (
    CollectiveOp.ALL_REDUCE,
    CollectiveOp.ALL_TO_ALL,
    CollectiveOp.ALL_GATHER,
    CollectiveOp.REDUCE_SCATTER,
    CollectiveOp.BROADCAST,
)


def _colls(imp, rank: int, step: int) -> Counter:
    return Counter((c.op, c.size_B, len(c.group)) for c in imp.timelines[rank][step].comms)


@pytest.fixture(scope="module")
def a100():
    return import_trace_dir(REAL / "hta-a100-ddp", mirror_missing=True)


def test_new_format_a100_ddp_sizes_groups_and_steps(a100):
    """New kernel format: sizes from the kernel (In msg nelems x dtype), groups from it."""
    assert a100.kind == "gpu" and a100.world == 2 and a100.mirrored == [1]
    assert a100.summary.roles["size-from:kernel"] == 14
    # per step: DDP's 2 buffer broadcasts and 5 gradient buckets (fp32), group [0, 1]
    # 8196000 = 2049000 x 4 B (the first record_param_comms), 26550272 = 6637568 x 4 B
    expected = Counter(
        {
            (BC, 212480.0, 2): 1,
            (BC, 424.0, 2): 1,
            (AR, 8196000.0, 2): 1,
            (AR, 9724160.0, 2): 1,
            (AR, 26255360.0, 2): 1,
            (AR, 26550272.0, 2): 1,
            (AR, 31502336.0, 2): 1,
        }
    )
    for k in range(2):
        assert _colls(a100, 0, k) == expected
        assert all(c.group == (0, 1) for c in a100.timelines[0][k].comms)
    # the measured step is ProfilerStep#4/#5's wall time (222.442 ms, 219.727 ms)
    assert [round(t.wall_s * 1e3, 3) for t in a100.timelines[0]] == [222.442, 219.727]


def test_backward_is_found_on_the_autograd_thread(a100):
    """Backward runs on pt_autograd_0: its kernels are bwd, not fwd."""
    cats = Counter(p.label.category for p in a100.timelines[0][0].pieces)
    assert cats["bwd"] > 0 and cats["fwd"] > 0 and cats["optim"] > 0
    prog = a100.workload(0).programs[0]
    by_id = {op.id: op for op in prog.ops}
    ars = [op for op in prog.ops if getattr(op, "op", None) is AR]
    # every bucket's all-reduce is launched by backward compute
    assert all(by_id[d].category == "bwd" for op in ars for d in op.deps)


def test_waits_are_only_ddp_stream_waits(a100):
    """One wait per bucket (DDP's cudaStreamWaitEvent after backward), no gap heuristics."""
    for k in range(2):
        tl = a100.timelines[0][k]
        assert sorted(w.comm for w in tl.waits) == [i for i, c in enumerate(tl.comms) if c.op is AR]


def test_a100_replays_within_5_percent_of_profiler_step(capsys):
    rc = main(
        [
            "replay",
            str(REAL / "hta-a100-ddp"),
            "--mirror-ranks",
            "--topology",
            "dgx-a100",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mirrored_ranks"] == [1]
    assert out["measured_step_s"] == pytest.approx((0.222442 + 0.219727) / 2, rel=1e-4)
    assert abs(out["error_pct"]) < 5


def test_partial_rank_set_needs_the_option(capsys):
    assert main(["replay", str(REAL / "hta-a100-ddp"), "--topology", "dgx-a100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ranks [0] of a world of 2" in err[0] and "--mirror-ranks" in err[0]


def test_gpu_trace_without_manifest_needs_a_topology(capsys):
    assert main(["replay", str(REAL / "hta-a100-ddp"), "--mirror-ranks"]) == 2
    err = capsys.readouterr().err
    assert "--topology" in err and "nccl" in err and "Traceback" not in err


def test_old_format_without_any_size_is_refused(capsys):
    """Old kernels, no record_shapes: the all-reduce's size is nowhere -> exit 2, no zeros."""
    with pytest.raises(InputError, match=r"trace_8_rank_1\.json\.gz.*no size for all_reduce"):
        import_trace_dir(REAL / "hta-v100-ddp-nosize", mirror_missing=True)
    d = str(REAL / "hta-v100-ddp-nosize")
    assert main(["replay", d, "--mirror-ranks", "--topology", "dgx-a100"]) == 2
    err = capsys.readouterr().err
    assert "ncclKernel_AllReduce_RING_LL_Sum_float" in err and "Traceback" not in err


#: Step 0 of trace_diff test (rank 1 of 2) and control (rank 3 of 8): old kernels, all_to_all
#: run as ncclKernel_SendRecv; sizes from nccl:all_to_all / nccl:all_reduce Input Dims (fp32).
A2A_STEP = {
    (A2A, 4009984.0): 1,  # [1002496] int
    (A2A, 60401000.0): 1,  # [15100250] int
    (A2A, 4096.0): 1,  # [1024] int
    (A2A, 262748.0): 2,  # [65687] int, [65687] float
    (A2A, 290422784.0): 1,  # [72605696] float
    (AR, 181240752.0): 1,  # [45310188] float
    (AR, 1068160.0): 1,  # [267040] float
    (AR, 17728292.0): 1,  # [4432073] float
}


@pytest.mark.parametrize(
    ("name", "world", "first_a2a"),
    [("hta-a2a-2", 2, 285245440.0), ("hta-a2a-8", 8, 288882688.0)],
)
def test_sendrecv_kernels_are_all_to_all(name, world, first_a2a):
    imp = import_trace_dir(REAL / name, mirror_missing=True)
    given = next(r for r in range(imp.world) if r not in imp.mirrored)
    assert imp.world == world and given == (1 if world == 2 else 3)
    got = Counter((c.op, c.size_B) for c in imp.timelines[given][0].comms)
    assert got == Counter({**A2A_STEP, (A2A, first_a2a): 1})
    assert all(len(c.group) == world for c in imp.timelines[given][0].comms)
    assert imp.summary.unknown == Counter()


def test_collectives_run_as_sendrecv_with_sub_groups():
    """16 ranks: all-gather/reduce-scatter of 8 ranks (output/input ratio 8 in c10d's dims)."""
    imp = import_trace_dir(REAL / "hta-a2a-16", mirror_missing=True)
    got = Counter(_colls(imp, 0, 0))
    assert got[(AG, 16777216.0, 8)] == 1  # c10d::_allgather_base_ out [65536, 64] x 4 B
    assert got[(RS, 100663296.0, 8)] == 1
    # 11 nccl:all_to_all host ops in the step, 2 of them of [0] elements: no kernel ran for
    # those, so 9 all_to_all kernels; plus 2 all-reduce, 2 all-gather, 2 reduce-scatter
    assert sum(n for (op, _, _), n in got.items() if op is A2A) == 9
    assert sum(got.values()) == 15
    assert imp.summary.roles["group-assumed-contiguous"] == 4
    ag = next(c for c in imp.timelines[9][0].comms if c.op is AG)
    assert ag.group == tuple(range(8, 16))  # the mirrored rank 9 is in the second block


def test_two_of_128_ranks_with_inconsistent_buckets():
    """The two given ranks launched different all-reduces: both steps are set aside."""
    imp = import_trace_dir(REAL / "hta-sampled-128", mirror_missing=True)
    assert imp.world == 128 and len(imp.mirrored) == 126
    got = _colls(imp, 0, 0)
    assert got[(AG, 1073741824.0, 64)] == 1  # [1073741824] int8 out of [16777216] in
    assert got[(AR, 78473228.0, 128)] == 1 and got[(AR, 107822144.0, 128)] == 1
    assert imp.bad_steps == [0, 1]


def test_world_of_one_backward_thread_and_any_file_name():
    imp = import_trace_dir(REAL / "hta-autograd-1")
    assert imp.world == 1 and imp.num_steps == 1 and imp.timelines[0][0].comms == []
    cats = Counter(p.label.category for p in imp.timelines[0][0].pieces)
    assert cats["bwd"] > 0 and cats["fwd"] > 0


def test_cpu_rank_34_of_300_from_distributed_info():
    imp = import_trace_dir(REAL / "hta-cpu-gloo-300", mirror_missing=True)
    assert imp.kind == "cpu" and imp.world == 300 and 34 not in imp.mirrored
    assert len(imp.mirrored) == 299


def test_no_zero_byte_collective_anywhere():
    """Figure: 0 tracebacks, 0 zero-byte collectives on every Kineto trace of the corpus."""
    for d in sorted(REAL.glob("hta-*")):
        try:
            imp = import_trace_dir(d, mirror_missing=True)
        except InputError:
            assert d.name == "hta-v100-ddp-nosize"
            continue
        for tls in imp.timelines:
            for tl in tls:
                assert all(c.size_B > 0 for c in tl.comms), d.name


def test_rank_from_file_name_when_distributed_info_has_none(tmp_path):
    src = REAL / "hta-autograd-1" / "rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
    doc = json.loads(gzip.decompress(src.read_bytes()))
    doc.pop("distributedInfo")
    (tmp_path / "job_rank_0.json").write_text(json.dumps(doc))
    imp = import_trace_dir(tmp_path)
    assert imp.world == 1 and imp.num_steps == 1


# ---- Chakra ETs: Chakra's PyTorch converter and ASTRA-sim's examples ----------------------


def _chakra(name: str, world: int | None = None):
    from simulator.traces.chakra import import_chakra_dir

    roles: Counter = Counter()
    return import_chakra_dir(REAL / name, roles, world=world), roles


@pytest.mark.parametrize(
    ("name", "op", "world"),
    [
        ("astra-all_reduce-4npus_1MB", AR, 4),
        ("astra-all_gather-4npus_1MB", AG, 4),
        ("astra-reduce_scatter-4npus_1MB", RS, 4),
        ("astra-all_to_all-8npus_1MB", A2A, 8),
    ],
)
def test_astra_sim_microbenchmarks_run(name, op, world, capsys):
    wl, _ = _chakra(name)
    assert wl.world_size == world
    # one COMM_COLL_NODE of comm_size 1048576 per rank; an all-gather's comm_size is one
    # rank's part in ASTRA-sim (Ring.cc: final_data_size = data_size * nodes_in_ring), the IR
    # size is the gathered output
    size = 1048576 * (world if op is AG else 1)
    for prog in wl.programs:
        (c,) = prog.ops
        assert c.op is op and c.size_B == size and c.group == tuple(range(world))
    assert main(["replay", str(REAL / name), "--topology", "dgx-a100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predicted_step_s"] > 0


def test_astra_sim_custom_ring_all_reduce_runs(capsys):
    """A ring all-reduce written as SEND/RECV nodes: sends do not wait for the receiver."""
    from simulator.core.ir import Recv, Send

    wl, roles = _chakra("astra-custom-ring-8")
    assert wl.world_size == 8 and roles["send"] == roles["recv"] == 8 * 14  # 2 (n - 1) steps
    for prog in wl.programs:
        p2p = [op for op in prog.ops if isinstance(op, Send | Recv)]
        assert len(p2p) == 28 and {op.size_B for op in p2p} == {131072.0}  # 1 MiB / 8
    assert main(["replay", str(REAL / "astra-custom-ring-8"), "--topology", "dgx-a100"]) == 0
    assert "predicted step" in capsys.readouterr().out


def test_chakra_converter_et_has_chakras_semantics():
    """Chakra's PyTorch converter: order by data_deps (53 point forward in the file), parents
    in ctrl_deps, CPU and GPU on separate resources, CPU-side c10d nodes not collectives."""
    from simulator.core.ir import Collective, Compute

    wl, roles = _chakra("chakra-converter", world=2)
    (prog,) = wl.programs
    colls = Counter((op.op, op.size_B) for op in prog.ops if isinstance(op, Collective))
    # the 7 GPU COMM_COLL_NODEs (comm_type, comm_size) of this DDP step, as in hta-a100-ddp
    assert colls == Counter(
        {
            (BC, 212480.0): 1,
            (BC, 424.0): 1,
            (AR, 8196000.0): 1,
            (AR, 31502336.0): 1,
            (AR, 26255360.0): 1,
            (AR, 26550272.0): 1,
            (AR, 9724160.0): 1,
        }
    )
    assert roles["chakra-cpu-comm-node"] == 14  # c10d::broadcast_/allreduce_ (0)/(1) host ops
    assert roles["nested-cpu-op"] > 0
    streams = Counter(op.stream for op in prog.ops if isinstance(op, Compute))
    assert streams["cpu"] > 0 and streams["compute"] > 0
    from simulator.engine import simulate
    from simulator.topology import load_topology

    res = simulate(wl, load_topology("dgx-a100"), backend="nccl")
    cpu = sum(op.duration_s or 0 for op in prog.ops if op.stream == "cpu")
    gpu = sum(op.duration_s or 0 for op in prog.ops if op.stream == "compute")
    # each resource runs one op at a time; the two overlap (not one serial stream)
    assert max(cpu, gpu) <= res.step_time_s < cpu + gpu


def test_one_rank_chakra_directory_warns(capsys):
    wl, _ = _chakra("chakra-converter")
    assert wl.world_size == 1 and "costs nothing" in wl.metadata["warnings"][0]
    assert main(["replay", str(REAL / "chakra-converter"), "--topology", "dgx-a100"]) == 0
    assert "costs nothing" in capsys.readouterr().err


def test_slower_network_exposes_only_what_the_trace_waits_for(capsys):
    """10 GbE: DDP's all-reduces end before the host finishes its step: nothing exposed.

    With the former gap heuristic (27 waits inside backward) the same what-if added 97.6 ms
    (main at e64108a, rank 0 copied as rank 1: 214.0 ms on dgx-a100, 311.6 ms on 10 GbE).
    """
    d = str(REAL / "hta-a100-ddp")
    assert main(["replay", d, "--mirror-ranks", "--topology", "ten-node-10gbe", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicted_step_s"] == pytest.approx(out["measured_step_s"], rel=0.01)


def test_export_of_a_real_trace_round_trips_exactly(tmp_path, a100):
    """Every measured step goes out (stream order in data_deps, pg_name) and comes back."""
    from simulator.studies.trace_replay import chained_workload
    from simulator.traces.chakra import import_chakra_dir

    out = tmp_path / "et"
    d = str(REAL / "hta-a100-ddp")
    argv = ["replay", d, "--mirror-ranks", "--topology", "dgx-a100", "--chakra-out", str(out)]
    assert main([*argv, "--json"]) == 0
    want = chained_workload(a100, a100.good_steps).workload
    back = import_chakra_dir(out)
    assert back.world_size == 2
    for a, b in zip(want.programs, back.programs, strict=True):
        assert a.ops == b.ops
    assert sum(1 for op in back.programs[0].ops if getattr(op, "op", None) is AR) == 10


def test_chakra_replay_says_where_the_step_goes(capsys):
    """A Chakra (or re-sharded) replay printed its step time alone: what its communication
    costs, the point of a what-if to another world size, was only in --json."""
    assert main(["replay", str(REAL / "astra-custom-ring-8"), "--topology", "dgx-a100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "predicted step" in out[0]
    assert out[1].startswith("  compute ") and "exposed communication" in out[1]
    assert "in all), bubble / idle " in out[1]
