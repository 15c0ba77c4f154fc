"""Real torch recordings on CPU (gloo, 2 local ranks): every strategy, import and replay.

All recordings are made once per module (tiny GPT: 2 layers, width 64, 2 measured steps).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")

from simulator.core.ir import Collective, Compute, Recv, Send
from simulator.core.vocab import CollectiveOp
from simulator.topology import load_topology
from simulator.traces.kineto import import_trace_dir
from simulator.traces.models import GPTConfig
from simulator.traces.recipe import RecordConfig, RecordStrategy
from simulator.traces.record import record
from simulator.traces.replay import replay

pytestmark = pytest.mark.torch

TINY = GPTConfig(vocab=256, d_model=64, n_head=4, n_layer=2, seq_len=32, batch=4)


def _cfg(strategy: RecordStrategy, out: Path, **kw: object) -> RecordConfig:
    base: dict[str, object] = dict(
        world=2,
        strategy=strategy,
        steps=2,
        warmup_steps=1,
        out_dir=str(out),
        gpt=TINY,
        bucket_cap_mb=0.05,
        microbatches=2,
        execution_trace=False,
    )
    base.update(kw)
    return RecordConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    out = {}
    for s in RecordStrategy:
        d = root / s.value
        record(_cfg(s, d, execution_trace=s is RecordStrategy.DDP), timeout_s=300)
        out[s] = d
    return out


def _comm_kinds(path: Path) -> Counter[str]:
    imp = import_trace_dir(path)
    kinds: Counter[str] = Counter()
    for prog in imp.workload(0).programs:
        for op in prog.ops:
            if isinstance(op, Collective):
                kinds[op.op.value] += 1
            elif isinstance(op, Send | Recv):
                kinds[type(op).__name__.lower()] += 1
    return kinds


def test_manifest_and_files(recordings):
    d = recordings[RecordStrategy.DDP]
    man = json.loads((d / "manifest.json").read_text())
    assert man["world"] == 2 and man["strategy"] == "ddp" and man["backend"] == "gloo"
    assert man["torch_version"] and len(man["hostnames"]) == 2
    assert [len(t) for t in man["step_times_s"]] == [2, 2]
    assert man["measured_step_s"] > 0 and man["model_config"]["n_layer"] == 2
    for r in range(2):
        assert (d / f"rank{r}.trace.json").is_file() and (d / f"rank{r}.et.json").is_file()


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (RecordStrategy.DDP, {"all_reduce"}),
        (RecordStrategy.DDP_FP16, {"all_reduce"}),
        (RecordStrategy.DDP_POWERSGD, {"all_reduce"}),
        (RecordStrategy.FSDP, {"all_gather", "reduce_scatter"}),
        (RecordStrategy.TP, {"all_reduce"}),
        (RecordStrategy.PP_GPIPE, {"send", "recv"}),
        (RecordStrategy.PP_1F1B, {"send", "recv"}),
        (RecordStrategy.PS_SYNC, {"send", "recv"}),
        (RecordStrategy.PS_ASYNC, {"send", "recv"}),
    ],
)
def test_each_strategy_imports_its_communication(recordings, strategy, expected):
    kinds = _comm_kinds(recordings[strategy])
    assert expected <= set(kinds)
    imp = import_trace_dir(recordings[strategy])
    s = imp.summary
    assert sum(s.used.values()) + sum(s.skipped.values()) == s.events_total
    assert not s.unknown, s.unknown
    for k in range(imp.num_steps):
        imp.workload(k).validate()


def test_fp16_hook_halves_the_bytes(recordings):
    def total(s: RecordStrategy) -> float:
        wl = import_trace_dir(recordings[s]).workload(1)
        return sum(
            op.size_B
            for op in wl.programs[0].ops
            if isinstance(op, Collective) and op.op is CollectiveOp.ALL_REDUCE
        )

    assert total(RecordStrategy.DDP_FP16) == pytest.approx(total(RecordStrategy.DDP) / 2)
    assert total(RecordStrategy.DDP_POWERSGD) < total(RecordStrategy.DDP) / 2


def test_pipeline_sends_activation_shaped_messages(recordings):
    wl = import_trace_dir(recordings[RecordStrategy.PP_1F1B]).workload(0)
    sizes = {op.size_B for p in wl.programs for op in p.ops if isinstance(op, Send | Recv)}
    # micro-batch of 2 sequences x 32 tokens x width 64, fp32
    assert sizes == {2 * 32 * 64 * 4}
    s0 = [op for op in wl.programs[0].ops if isinstance(op, Send)]
    assert len(s0) == 2 and all(op.peer == 1 for op in s0)


@pytest.mark.parametrize("strategy", [RecordStrategy.PP_1F1B, RecordStrategy.PP_GPIPE])
def test_pipeline_labels_every_micro_batch_forward(recordings, strategy):
    # Under 1F1B the last stage runs micro-batch 1's forward after micro-batch 0's backward;
    # its layers are still forward compute of their layer.
    wl = import_trace_dir(recordings[strategy]).workload(0)
    for rank, layer in ((0, 0), (1, 1)):
        fwd = [
            op
            for op in wl.programs[rank].ops
            if isinstance(op, Compute) and op.category == "fwd" and op.layer == layer
        ]
        assert len(fwd) >= 2, (rank, [(type(o).__name__, o.name) for o in wl.programs[rank].ops])


def test_execution_trace_links_every_collective(recordings):
    imp = import_trace_dir(recordings[RecordStrategy.DDP], link_et=True)
    roles = imp.summary.roles
    assert roles["et-nodes"] > 0
    assert roles["et-linked-comm"] == roles["comm-op"] > 0
    assert roles["et-unlinked-comm"] == 0


@pytest.mark.parametrize("strategy", list(RecordStrategy))
def test_replay_on_loopback_is_sane(recordings, strategy):
    out = replay(str(recordings[strategy]))
    assert out["topology"] == "loopback-2" and out["backend"] == "gloo"
    # The importer leaves out a step whose ranks recorded different collective sequences
    # (seen with PowerSGD on gloo, docs/traces.md); it must say so, and keep the others.
    assert out["steps"] >= 1 and out["steps"] + len(out.get("steps_left_out", [])) == 2
    assert out["predicted_step_s"] > 0
    # sanity, not the fidelity figure (that one is measured in benchmarks/bench_traces.py)
    assert 0.25 < out["predicted_step_s"] / out["measured_step_s"] < 4
    assert all(c["count"] > 0 and c["measured_s"] >= 0 for c in out["collectives"])


@pytest.mark.parametrize("strategy", [RecordStrategy.PS_SYNC, RecordStrategy.PP_1F1B])
def test_replay_chains_the_steps(recordings, strategy):
    from simulator.engine import simulate
    from simulator.traces.replay import chained_workload

    imp = import_trace_dir(recordings[strategy])
    steps = imp.good_steps
    chain = chained_workload(imp, steps)
    chain.workload.validate()
    one = [len(imp.workload(k).programs[r].ops) for k in steps for r in range(imp.world)]
    assert sum(len(p.ops) for p in chain.workload.programs) == sum(one) + len(steps) * imp.world
    out = replay(str(recordings[strategy]))
    # The first step starts on every rank at 0, as a step simulated alone does.
    alone = simulate(imp.workload(steps[0]), load_topology("loopback-2"), backend="gloo")
    assert out["per_step"][0]["predicted_s"] == pytest.approx(alone.step_time_s, rel=1e-9)
    # A later step lasts from each rank's end of the step before, never less than nothing.
    assert all(p["predicted_s"] > 0 for p in out["per_step"])


def _alive(marker: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker in (p / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(p.name))
            except OSError:
                continue
    return [pid for pid in pids if pid != os.getpid()]


def test_failing_rank_stops_everything(tmp_path):
    cfg = _cfg(RecordStrategy.DDP, tmp_path / "bad", model="no_such_module_xyz:make")
    with pytest.raises(RuntimeError, match=r"rank \d exited"):
        record(cfg, timeout_s=60)
    assert _alive(str(tmp_path / "bad")) == []


def test_recordings_speak_the_profilers_dialect(recordings):
    """Steps are ProfilerStep#i (torch.profiler's schedule), so HTA reads our recordings."""
    d = recordings[RecordStrategy.DDP]
    doc = json.loads((d / "rank0.trace.json").read_text())
    steps = sorted(e["name"] for e in doc["traceEvents"] if e.get("name", "").startswith("Profi"))
    assert steps == ["ProfilerStep#1", "ProfilerStep#2"]
    hta = pytest.importorskip("hta.trace_analysis")  # the [hta] extra
    files = {r: f"rank{r}.trace.json" for r in range(2)}
    ta = hta.TraceAnalysis(trace_files=files, trace_dir=str(d))
    assert sorted(ta.t.traces) == [0, 1]
    names = ta.t.get_trace(0)["name"].map(ta.t.symbol_table.sym_table.__getitem__)
    assert names.str.startswith("ProfilerStep#").any()
