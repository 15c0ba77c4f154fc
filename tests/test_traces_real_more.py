"""Importers on more real public traces (tests/fixtures/real, provenance in its README).

Every expected count, size and time below was read from the trace files themselves (host ops'
``Input Dims`` x element size, ``ProfilerStep`` durations, event categories), not from the
importer.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.vocab import CollectiveOp
from simulator.traces.events import load_kineto
from simulator.traces.kineto import import_trace_dir

REAL = Path(__file__).parent / "fixtures" / "real"
AR, A2A = CollectiveOp.ALL_REDUCE, CollectiveOp.ALL_TO_ALL


def _read(path: Path) -> dict:
    with gzip.open(path) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def dlrm():
    return import_trace_dir(REAL / "param-dlrm-8")


def test_dlrm_eight_ranks_all_to_all_and_all_reduce_sizes(dlrm):
    """param's DLRM run: 8 ranks (distributedInfo), one ProfilerStep, 5 all_to_all + 3 all-reduce.

    Sizes from the host ops: all_to_all 6144 float = 24576 B (twice), 24 long = 192 B,
    384 int = 1536 B, and an all_to_allv whose largest buffer on any rank is rank 3's 13312
    int = 53248 B; all-reduces 394241 / 112 / 226960 float (``nccl:all_reduce`` Input Dims).
    """
    assert dlrm.kind == "gpu" and dlrm.world == 8 and dlrm.mirrored == [] and dlrm.num_steps == 1
    expected = Counter(
        {
            (A2A, 24576.0, 8): 2,
            (A2A, 192.0, 8): 1,
            (A2A, 1536.0, 8): 1,
            (A2A, 53248.0, 8): 1,
            (AR, 1576964.0, 8): 1,
            (AR, 448.0, 8): 1,
            (AR, 907840.0, 8): 1,
        }
    )
    for r in range(8):
        comms = dlrm.timelines[r][0].comms
        assert Counter((c.op, c.size_B, len(c.group)) for c in comms) == expected
        assert [c.op for c in comms] == [A2A, A2A, A2A, A2A, AR, A2A, AR, AR]
    # the uneven all_to_allv: 7 ranks' sizes raised to rank 3's (counted, not silent)
    assert dlrm.summary.roles["all_to_all-size-equalised"] == 7
    assert dlrm.summary.roles["size-from:host-op"] == 64


def test_dlrm_step_times_are_each_ranks_profiler_step(dlrm):
    walls = [round(dlrm.timelines[r][0].wall_s * 1e6) for r in range(8)]
    assert walls == [14455, 19901, 13017, 19313, 17979, 17797, 13091, 12509]
    assert dlrm.measured_step_times_s() == pytest.approx([max(walls) * 1e-6], abs=1e-6)


def test_dlrm_replays_and_reports_collectives(capsys):
    rc = main(["replay", str(REAL / "param-dlrm-8"), "--topology", "dgx-a100", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["world"] == 8
    assert out["measured_step_s"] == pytest.approx(0.019901, abs=1e-6)
    kinds = Counter(c["kind"] for c in out["collectives"] for _ in range(c["count"]))
    assert kinds == {"all_to_all": 5, "all_reduce": 3}


def test_legacy_kineto_category_names_are_read():
    """Kineto of PyTorch 1.9 (2021) wrote ``Operator``/``Runtime``/``Kernel``/``Memcpy``/
    ``Memset`` and ``external id``; before 2026-12-05 the trace was read as a CPU trace."""
    raw = _read(next((REAL / "kineto-r50-legacy").iterdir()))
    cats = Counter(e.get("cat") for e in raw["traceEvents"] if e.get("ph") == "X")
    device = cats["Kernel"] + cats["Memcpy"] + cats["Memset"]
    assert device == 3032 and cats["Operator"] == 7876
    imp = import_trace_dir(REAL / "kineto-r50-legacy")
    assert imp.kind == "gpu" and imp.world == 1
    assert imp.summary.used["compute-kernel"] == device
    assert imp.summary.used["host-op"] == cats["Operator"]
    assert imp.summary.used["runtime-call"] == cats["Runtime"]
    # ProfilerStep#5 and #6 durations
    assert [(t.step, round(t.wall_s * 1e6)) for t in imp.timelines[0]] == [(5, 176078), (6, 173992)]
    # backward runs on the autograd thread: its kernels are bwd
    assert Counter(p.label.category for p in imp.timelines[0][0].pieces)["bwd"] > 0
    assert any("taken as rank 0" in n for n in imp.summary.notes)


def test_the_gpu_tail_of_a_step_is_counted_once(capsys):
    """The GPU runs ~12 ms behind the host: step 5's kernels end 187.948 ms after its
    ProfilerStep began (176.078 ms long). Step 6's lane starts when the GPU is free, not at
    its host start; before 2026-12-05 the tail was counted in both steps (step 6 predicted
    186.955 ms against 173.992 measured, on the untrimmed sample)."""
    imp = import_trace_dir(REAL / "kineto-r50-legacy")
    s5, s6 = imp.timelines[0]
    assert round((s5.end_s - s5.start_s) * 1e3, 3) == 187.948
    assert s6.start_s == s5.end_s
    argv = ["replay", str(REAL / "kineto-r50-legacy"), "--topology", "dgx-a100", "--json"]
    assert main(argv) == 0
    per_step = json.loads(capsys.readouterr().out)["per_step"]
    assert abs(per_step[1]["predicted_s"] / per_step[1]["measured_s"] - 1) < 0.01


def test_legacy_external_id_is_renamed():
    t = load_kineto(next((REAL / "kineto-r50-legacy").iterdir()))
    k = next(e for e in t.events if e.cat == "kernel")
    assert isinstance(k.args["External id"], int) and k.args["External id"] == k.args["external id"]


def test_rocm_trace_reads_hip_calls_and_the_autograd_thread():
    """MI250 / ROCm 6.2 trace (HTA): hip* runtime calls under ``cuda_runtime``, 14 kernels and
    2 copies, backward on a second thread, no distributedInfo and no rank in the name."""
    imp = import_trace_dir(REAL / "hta-amd-mi250")
    assert imp.kind == "gpu" and imp.world == 1
    assert imp.summary.used["compute-kernel"] == 16
    assert [round(t.wall_s * 1e6) for t in imp.timelines[0]] == [9288, 49]
    cats = Counter(p.label.category for p in imp.timelines[0][0].pieces)
    assert cats["bwd"] > 0 and cats["optim"] == 1


def test_hip_synchronisation_counts_as_a_host_sync():
    from simulator.traces.gpu import SYNC_CALLS, WAIT_CALLS

    assert "hipDeviceSynchronize" in SYNC_CALLS and "hipStreamWaitEvent" in WAIT_CALLS


def test_execution_trace_beside_kineto_is_left_out_and_said(capsys):
    """HTA's execution_trace pair: the ET (schema 1.0.1) is not read as a Kineto trace."""
    imp = import_trace_dir(REAL / "hta-et-pair")
    assert imp.world == 1 and imp.kind == "gpu"
    assert any("benchmark_simple_add_et.json.gz: torch-et" in n for n in imp.summary.notes)
    assert any("no ProfilerStep#N; the main thread's whole span" in n for n in imp.summary.notes)
    assert main(["replay", str(REAL / "hta-et-pair"), "--topology", "dgx-a100"]) == 0
    assert "not Kineto traces and were left out" in capsys.readouterr().out


def test_execution_traces_alone_are_refused(tmp_path, capsys):
    shutil.copy(REAL / "hta-et-pair" / "benchmark_simple_add_et.json.gz", tmp_path)
    with pytest.raises(InputError, match="only PyTorch execution traces"):
        import_trace_dir(tmp_path)
    assert main(["replay", str(tmp_path), "--topology", "dgx-a100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no times" in err[0]


def test_chakra_json_is_refused_with_the_format_named(tmp_path):
    (tmp_path / "chakra.0.json").write_text(json.dumps({"workload_graph": [], "ngpus": 8}))
    with pytest.raises(InputError, match="only Chakra JSON"):
        import_trace_dir(tmp_path)


def test_two_traces_without_ranks_are_refused(tmp_path):
    src = next((REAL / "hta-amd-mi250").iterdir())
    shutil.copy(src, tmp_path / "a.json.gz")
    shutil.copy(src, tmp_path / "b.json.gz")
    with pytest.raises(InputError, match="name the files rank<N>"):
        import_trace_dir(tmp_path)


def test_cpu_trace_with_accelerator_events_says_so(tmp_path):
    """A trace with no GPU kernel but device events of another kind (MTIA's
    ``mtia_runtime``) is read as CPU; the notes name the categories it did not simulate."""
    doc = {
        "distributedInfo": {"rank": 0, "world_size": 1},
        "traceEvents": [
            {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 1,
             "tid": 1, "ts": 0, "dur": 100},
            {"ph": "X", "cat": "cpu_op", "name": "aten::mul", "pid": 1, "tid": 1, "ts": 1,
             "dur": 10},
            {"ph": "X", "cat": "mtia_runtime", "name": "runFunction", "pid": 1, "tid": 1,
             "ts": 20, "dur": 10},
        ],
    }  # fmt: skip
    (tmp_path / "rank0.json").write_text(json.dumps(doc))
    imp = import_trace_dir(tmp_path)
    assert imp.kind == "cpu"
    assert any("mtia_runtime x1" in n for n in imp.summary.notes)


def test_execution_trace_schema_1_0_1_is_indexed():
    """Schema 1.0.1 (rf_id a key, inputs a list) was indexed as empty before 2026-12-05."""
    from simulator.traces.et import load_et

    path = REAL / "hta-et-pair" / "benchmark_simple_add_et.json.gz"
    raw = _read(path)
    assert raw["schema"] == "1.0.1"
    et = load_et(path)
    assert len(et.by_rf) == len({n["rf_id"] for n in raw["nodes"]}) > 0
    # aten::add (rf_id 22): inputs [6,7,0,65536,4,'cuda:0'] and [11,12,0,65536,4,'cuda:0']
    assert et.node(22)["name"] == "aten::add"
    assert et.input_bytes(22, 0) == 65536 * 4 and et.itemsize(22, 1) == 4


def test_link_et_on_a_gpu_trace_says_it_is_not_used():
    imp = import_trace_dir(REAL / "hta-et-pair", link_et=True)
    assert any("--link-et is used for CPU" in n for n in imp.summary.notes)


def test_nccl_host_ops_without_kernels_are_said(capsys):
    """HTA's rank_non_gpu: 6 nccl:all_to_all annotations, no CUDA activity: the replay has no
    collective, and the output says why instead of staying silent."""
    imp = import_trace_dir(REAL / "hta-nccl-host-only")
    assert imp.kind == "cpu" and imp.timelines[0][0].comms == []
    assert imp.summary.roles["nccl-host-op-without-kernels"] == 6
    assert main(["replay", str(REAL / "hta-nccl-host-only"), "--topology", "dgx-a100"]) == 0
    assert "6 NCCL host op(s) (nccl:*) but no GPU kernel" in capsys.readouterr().out


def test_host_synchronisation_blocks_the_host_region(dlrm):
    """DLRM rank 1 waits for comms 0-4 with host syncs (cudaStreamSynchronize) and for 5-7
    with stream waits. A host sync blocks the host: its region starts after the comms it
    waited for; a stream wait does not. Before 2026-12-05 every host region ran on through
    the syncs, and the 10 GbE replay was exactly the measured 19.901 ms (all hidden)."""
    prog = dlrm.workload(0).programs[1]
    by_id = {op.id: op for op in prog.ops}
    regions = {op.name: {by_id[d].name for d in op.deps} for op in prog.ops
               if op.name.startswith("host.region")}  # fmt: skip
    assert {"all_to_all.2", "all_to_all.3", "all_reduce.4"} <= regions["host.region.2"]
    assert regions["host.region.3"] == {"host.region.2"}
    assert "host.region.2.pre" in regions


def test_dlrm_on_a_slow_network_exposes_the_synchronised_comms(capsys):
    argv = ["replay", str(REAL / "param-dlrm-8"), "--topology", "ten-node-10gbe", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicted_step_s"] > out["measured_step_s"] + 1e-3


def test_all_gather_comm_size_is_one_ranks_part_both_ways(tmp_path):
    """ASTRA-sim's 8-rank all_gather microbenchmark gives comm_size 1 MiB = one rank's part
    (its Ring: final_data_size = data_size * nodes); the IR size is the 8 MiB output, and an
    exported all-gather writes the part back."""
    pytest.importorskip("google.protobuf")
    from simulator.core.ir import Program, Workload
    from simulator.traces.chakra import import_chakra_dir
    from simulator.traces.chakra.codec import _attrs, export_workload, read_et

    wl = import_chakra_dir(REAL / "astra-all_reduce-4npus_1MB")
    assert wl.programs[0].ops[0].size_B == 1048576  # all-reduce: the buffer, unchanged
    progs = []
    for r in range(4):
        p = Program(rank=r)
        p.collective("ag", op=CollectiveOp.ALL_GATHER, group=(0, 1, 2, 3), size_B=4 * 1048576)
        progs.append(p)
    export_workload(Workload(programs=progs, world=4), tmp_path)
    _, nodes = read_et(tmp_path / "commsim.0.et")
    (coll,) = [n for n in nodes if "comm_type" in _attrs(n)]
    assert _attrs(coll)["comm_size"] == 1048576
    assert import_chakra_dir(tmp_path).programs[0].ops[-1].size_B == 4 * 1048576


def test_rccl_msccl_kernels_are_collectives(tmp_path):
    """RCCL runs collectives as ``mscclKernel_<redop>_<type>_<proto>_<fullOps>`` kernels. The
    DLRM traces with their NCCL kernels renamed so give the same collectives (kinds and sizes
    from the host ops); before 2026-12-05 such kernels were compute."""
    for src in (REAL / "param-dlrm-8").iterdir():
        doc = _read(src)
        for e in doc["traceEvents"]:
            if e.get("cat") == "kernel" and e["name"].startswith("ncclKernel_"):
                e["name"] = "mscclKernel_Sum_float_Simple_false(ncclDevComm*, mscclAlgo*)"
        with gzip.open(tmp_path / src.name, "wt") as fh:
            json.dump(doc, fh)
    imp = import_trace_dir(tmp_path)
    ref = import_trace_dir(REAL / "param-dlrm-8")
    for r in range(8):
        got = [(c.op, c.size_B) for c in imp.timelines[r][0].comms]
        assert got == [(c.op, c.size_B) for c in ref.timelines[r][0].comms]
        assert len(got) == 8


def test_host_time_after_the_last_kernel_is_kept(capsys):
    """ROCm step 1: the last kernel (the optimizer's) ends 109.6 us before ProfilerStep#1
    does; step 2 (49 us) launches no kernel. With no wait in a step nothing else held that
    host time, and the replay came out 1.7 % short of the measured steps before 2026-12-05."""
    imp = import_trace_dir(REAL / "hta-amd-mi250")
    assert imp.summary.roles["host-tail-after-last-kernel"] == 2
    s1, s2 = imp.timelines[0]
    assert round((s1.pieces[-1].end_s - s1.pieces[-1].start_s) * 1e6, 3) == 109.638
    assert len(s2.pieces) == 1 and round(s2.pieces[0].end_s - s2.pieces[0].start_s, 9) == 49.073e-6
    argv = ["replay", str(REAL / "hta-amd-mi250"), "--topology", "dgx-a100", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicted_step_s"] == pytest.approx(out["measured_step_s"], rel=1e-9)


def test_the_same_note_of_several_files_is_one_line(tmp_path):
    src = REAL / "hta-et-pair" / "benchmark_simple_add_trace.json.gz"
    for r in range(3):
        doc = _read(src)
        doc["distributedInfo"] = {"rank": r, "world_size": 3}
        (tmp_path / f"rank{r}.json").write_text(json.dumps(doc))
    notes = import_trace_dir(tmp_path).summary.notes
    assert notes == [
        "rank0.json and 2 other file(s): no ProfilerStep#N; the main thread's whole span is "
        "taken as one step"
    ]


def _cpu_trace_with_tensorlist_allreduce(pid: int) -> dict:
    """A minimal gloo-style trace: one step, one all-reduce of a TensorList (Kineto leaves it
    untyped), whose record-function id is 22 (``aten::add`` in HTA's 1.0.1 ET)."""
    ev = [
        {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": pid,
         "tid": pid, "ts": 0, "dur": 1000},
        {"ph": "X", "cat": "cpu_op", "name": "c10d::allreduce_", "pid": pid, "tid": pid,
         "ts": 10, "dur": 50, "args": {"Record function id": 22,
                                       "Input type": ["TensorList", "", "", "Scalar"],
                                       "Input Dims": [[[65536]], [], [], []]}},
    ]  # fmt: skip
    return {"distributedInfo": {"rank": 0, "world_size": 1}, "traceEvents": ev}


def test_link_et_pairs_an_execution_trace_by_pid(tmp_path):
    """--link-et finds the ET of any name whose pid is the trace's process, and reads schema
    1.0.1; the TensorList's element size (4 B) comes from it."""
    et = REAL / "hta-et-pair" / "benchmark_simple_add_et.json.gz"
    assert _read(et)["pid"] == 563677
    shutil.copy(et, tmp_path)
    (tmp_path / "trace.json").write_text(json.dumps(_cpu_trace_with_tensorlist_allreduce(563677)))
    imp = import_trace_dir(tmp_path, link_et=True)
    assert imp.kind == "cpu" and [c.size_B for c in imp.timelines[0][0].comms] == [65536 * 4]
    assert imp.summary.roles["et-linked-comm"] == 1
    # another process: no ET, the size is unknown (0 B) and both facts are said
    (tmp_path / "trace.json").write_text(json.dumps(_cpu_trace_with_tensorlist_allreduce(1)))
    notes = import_trace_dir(tmp_path, link_et=True).summary.notes
    assert any("--link-et: no execution trace for rank 0" in n for n in notes)
    assert any("1 collective(s) have no size" in n for n in notes)


def test_one_step_whose_gpu_was_busy_before_it_starts_when_the_gpu_is_free(capsys):
    """HTA's ``ns_resolution_trace`` step 103 (one step kept): the GPU runs ~89 ms behind the
    host, so the step's first kernel (launched 0.934 ms into the 95.697 ms ProfilerStep)
    starts 88.687 ms after its launch, held by the unrecorded previous step's kernels. The
    lane starts that lead-in before the first kernel; before 2026-12-06 it started at the
    ProfilerStep and the replay predicted 185.192 ms (+93.5 %)."""
    imp = import_trace_dir(REAL / "hta-autograd-1")
    (tl,) = imp.timelines[0]
    # from the first kernel's start less the lead-in (to its launch call's return) to the
    # last kernel's end (89.494 ms after the ProfilerStep's end)
    assert round((tl.end_s - tl.start_s) * 1e3, 3) == 96.519
    assert round((tl.pieces[0].end_s - tl.pieces[0].start_s) * 1e6) == 954  # lead-in, kernel
    assert imp.summary.roles["gpu-busy-before-first-step"] == 1
    argv = ["replay", str(REAL / "hta-autograd-1"), "--topology", "dgx-a100", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["error_pct"]) < 2.0


def test_torch213_gloo_with_stack_memory_and_a_subgroup():
    """torch 2.13 CPU (gloo, 2 ranks) profiled with ``with_stack``, ``profile_memory``,
    ``with_flops`` and ``tensorboard_trace_handler(use_gzip=True)``: 407 ``python_function``
    frames per rank were each counted as an unknown name before 2026-12-06; the subgroup
    all-reduce (``pg_config`` group '1' of 1 rank) has no group in the trace and is said."""
    imp = import_trace_dir(REAL / "torch213-gloo-stack-2")
    assert imp.kind == "cpu" and imp.world == 2 and imp.num_steps == 1
    assert imp.summary.unknown == {} and imp.summary.skipped["python-frame"] == 2 * 407
    assert any("pg_config lists process groups of 1 of the 2 ranks" in n for n in imp.summary.notes)
    # c10d Input Dims x 4 B (float); all_gather: its 2000-element output, all_to_all: 800
    sizes = sorted((c.op.value, c.size_B) for c in imp.timelines[0][0].comms)
    assert sizes == sorted(
        [
            ("all_reduce", 131328 * 4),
            ("all_reduce", 131584 * 4),
            ("all_reduce", 4000),
            ("broadcast", 4000),
            ("all_gather", 8000),
            ("all_to_all", 3200),
            ("barrier", 0),
        ]
    )


def test_communication_kernels_outside_nccl_are_said(tmp_path):
    """DeepSeek's public ``train.json`` (EP64 over DeepEP, no NCCL) has 32 ``dpsk::ep::
    internode::*`` kernels and no collective; they are simulated as compute, and until
    2026-12-06 nothing said so. That file carries no licence, so HTA's one-step trace stands
    in with two of its kernels renamed as DeepEP's."""
    src = REAL / "hta-autograd-1" / "rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
    doc = json.loads(gzip.decompress(src.read_bytes()))
    ks = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    ks[0]["name"] = "void dpsk::ep::internode::dispatch<false, 8, true, 8>(int4*, float*)"
    ks[1]["name"] = "void dpsk::ep::internode::combine<false, 8>(int4*, float*)"
    (tmp_path / "rank-0.json").write_text(json.dumps(doc))
    imp = import_trace_dir(tmp_path)
    assert imp.summary.roles["comm-like-kernel-as-compute"] == 2
    (note,) = [n for n in imp.summary.notes if "look like communication" in n]
    assert "dpsk::ep::internode::dispatch" in note and "rank-0.json: 2 kernels" in note
    assert imp.timelines[0][0].comms == []
    plain = import_trace_dir(REAL / "hta-autograd-1")
    assert plain.summary.roles["comm-like-kernel-as-compute"] == 0


def test_a_first_step_whose_host_waited_for_the_earlier_work_keeps_it():
    """Kineto's 2021 ResNet-50 sample with 4 loader workers, ProfilerStep#5 (the first
    recorded): its first copy is a pageable ``cudaMemcpyAsync`` whose call lasts 39.996 ms and
    returns after the copy started (36.436 ms after the call): the host waited for the
    warm-up step's GPU work inside the measured 181.565 ms. That wait stays the step's (a
    lane started after it predicted 146.2 ms, -19 %)."""
    imp = import_trace_dir(REAL / "kineto-r50-workers4")
    (tl,) = imp.timelines[0]
    assert imp.summary.roles["gpu-busy-before-first-step"] == 0
    assert round(tl.wall_s * 1e3, 3) == 181.565
    assert round((tl.end_s - tl.start_s) * 1e3, 3) == round(181.565 + 0.741, 3)


def test_a_last_step_whose_gpu_outlasts_it_is_said():
    """HTA's 2-rank all_to_all step: the kernels end 57.1 ms after the 100.3 ms ProfilerStep;
    the replay simulates 157.4 ms of GPU work (+56.9 %) and, until 2026-12-06, said nothing.
    ``hta-autograd-1`` also ends 89.5 ms late, but its lane starts as late (the earlier
    step's work held it), so its span is the measured one and nothing is said."""
    imp = import_trace_dir(REAL / "hta-a2a-2", mirror_missing=True)
    assert imp.summary.roles["gpu-tail-after-last-step"] == 1
    (note,) = [n for n in imp.summary.notes if "after its ProfilerStep" in n]
    assert "end 57.1 ms after" in note and "(157.4 ms)" in note and "100.3 ms measured" in note
    quiet = import_trace_dir(REAL / "hta-autograd-1")
    assert quiet.summary.roles["gpu-tail-after-last-step"] == 0
