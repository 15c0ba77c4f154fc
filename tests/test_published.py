"""Published measurements reproduced from spec-sheet hardware (validation ladder, rung 4).

Each row of ``simulator/data/published.yaml`` is simulated and must land inside its band:
nccl-tests bus bandwidths within 10 %, training throughput within 15 %. A row the model honestly
misses is marked ``xfail(strict=True)`` below with its measured error, so it is visible in every
run and the test fails loudly the day the model starts to hit it (then remove the mark).
"""

from __future__ import annotations

import os

import pytest

from simulator.config import scenario_from_dict
from simulator.core.errors import InputError
from simulator.studies.published import (
    TOLERANCE_PCT,
    Kind,
    Metric,
    load_references,
    mcore_iteration_flops,
    megatron_iteration_flops,
    megatron_params,
    predict_training,
    reference_names,
    tflops_per_gpu,
    tokens_per_s_per_gpu,
    training_scenario,
    validate_published,
)

#: Rows the current model misses, with the error measured by
#: ``python -m simulator.studies.published NAME`` (see docs/published-fidelity.md).
KNOWN_MISSES: dict[str, str] = {
    # small messages: each Azure curve (one process driving 8 GPUs, -g 8) sits on a
    # size-independent floor per all-reduce above NCCL's tuning-model latency (commsim's); its
    # cause is not separable from these curves (docs/published-fidelity.md, "Misses")
    "azure-nd-h200-v5-allreduce-64k": "+23.5%: NVLS latency 23 us (NCCL tuner) vs ~31 measured",
    "azure-nd-a100-v4-allreduce-64k": "+67.3%: LL ring 25.4 us predicted vs 42.5 us measured",
    # ND H100 v5 (NCCL 2.18.5): ~42 us per all-reduce from 64 KiB to 1 MiB
    "azure-nd-h100-v5-allreduce-64k": "+69.0%: NVLS 24.9 us predicted vs 42.2 us measured",
    "azure-nd-h100-v5-allreduce-1m": "+15.8%: NVLS 36.3 us predicted vs 42.0 us measured",
    # medium messages on A100: rings are priced at the plateau rate plus NCCL's latencies;
    # NCCL 2.18.5's own tuning model misses this point by more (+55 %)
    "azure-nd-a100-v4-allreduce-16m": "+40.0%: no medium-size ring inefficiency modelled",
    # h = 2048, TP 1: 0.1-0.3 ms GEMMs per layer; the one H100 GEMM efficiency (set at
    # h = 12288) and no per-kernel overhead make it fast; causal flash attention (2026-12-06,
    # pub21) took the attention core it had over-priced (+7.8 % before)
    "megatron-core-gpt-1.7b-h100-48gpu": "+15.0%: small-GEMM efficiency not modelled",
    # ND GB200 v6 (4 GPUs, -g 4, NCCL 2.25.1, forced rings): the same floor (15.4-17.8 us from
    # 1 KiB to 512 KiB) and the same medium-size shortfall as on A100; at 1 MiB the model is slow:
    # NCCL's per-step hwLat is added to the catalog's NVLink path latency, which is itself of
    # hwLat's order (docs/decisions.md 2026-12-06 "NCCL latencies of 2.18")
    "azure-nd-gb200-v6-allreduce-64k": "+19.8%: LL ring 14.4 us predicted vs 17.2 us measured",
    "azure-nd-gb200-v6-allreduce-1m": "-14.7%: LL ring 22.9 us predicted vs 19.5 us measured",
    "azure-nd-gb200-v6-allreduce-16m": "+10.4%: no medium-size ring inefficiency modelled",
    "azure-nd-gb200-v6-allreduce-256m": "+10.2%: no medium-size ring inefficiency modelled",
    # FP8 Nemotron-4 15B at DP 512 (fp822): +11.3 % at 16 GPUs (the FP8 GEMM efficiency set at
    # h = 12288 meets h = 6144) plus 0.21 s of data-parallel traffic exposed (0.013 s at DP 4;
    # the BF16 run 0.10 s): the BF16 gradient reduce-scatters over 512 ranks fit less under the
    # shorter FP8 backward; the published 16 -> 2048 GPU step grows by 0.08 s in both dtypes
    "dgxc-nemotron4-15b-h100-2048gpu-fp8": "+15.9%: FP8 15B GEMMs slow, DP over 512 exposed",
    # AWS p5 all_to_all over EFA: each GPU's 4x 100 Gb/s reach 0.85 (2 nodes) and 0.89 (8 nodes)
    # of 400 Gb/s against the profile's Ethernet efficiency 0.75, set from RoCE on A100 (#495);
    # no EFA figure sets a constant (docs/decisions.md 2026-12-06 "AWS p5 all_to_all")
    "aws-p5-alltoall-2node": "-11.4%: Ethernet efficiency 0.75 (RoCE) vs ~0.85 on EFA",
    "aws-p5-alltoall-8node": "-15.7%: Ethernet efficiency 0.75 (RoCE) vs ~0.89 on EFA",
    # held-out rows added 2026-12-06 (nccl23). p5 all_reduce over EFA, the algorithm the
    # aws-ofi-nccl tuner's p5 table gives (nccl25): 8 nodes at 8 GiB a ring above the ring's
    # 0.75 x 400 GB/s, the same EFA shortfall as the all_to_all rows (2 nodes and 32 nodes
    # at 8 GiB: NVLSTree, in band since nccl25)
    "aws-p5-allreduce-8node-8g": "-16.3%: Ethernet efficiency 0.75 (RoCE) too low for EFA",
    # GCP A3 Mega over GPUDirect-TCPXO (NCCL_ALGO=Ring,Tree profile): a ~123 us floor per
    # all-reduce (TCPXO, not modelled), and trees on 2 nodes that commsim's tree ceiling
    # (NCCL 2.7's maxTreeBw, 55 GB/s of algbw) keeps below the ring
    "gcp-a3mega-allreduce-2node-1m": "+247.4%: TCPXO's ~123 us floor not modelled",
    "gcp-a3mega-allreduce-2node-128m": "-11.9%: 2-node tree capped below the ring",
    "gcp-a3mega-allreduce-2node-8g": "-55.6%: 2-node tree capped below the ring (1.69x NICs)",
    # point-to-point on NVLink reaches 195.6 of the 230 GB/s the collectives' NVLink
    # efficiency gives: NCCL's p2p channels and chunking not modelled
    "dgx-a100-sendrecv-8gpu-1g": "+17.4%: p2p (sendrecv) priced at the collectives' NVLink rate",
    # a GB200 NVL72 rack (72 GPUs across 18 trays on one NVLink domain) priced as one NVSwitch
    # host with one-node NVLS constants (nvlsEfficiency 0.74, 24 channels)
    "gb200-nvl72-allreduce-72gpu-8g": "+14.0%: NVLS across an NVL72 rack priced as one node",
    # the table's one outlier (35.9 % MFU; its other rows 48.6-53.3 %): the same 2-sequence
    # micro-batch of MPT-70B gathers and reduce-scatters the same bytes per layer on 32
    # A100-80GB at 373 tokens/s/GPU (commsim +2.7 %); commsim hides the gathers in both, so
    # what slows the 40 GB run is not the network volume (memory pressure at 40 GB is not
    # modelled; docs/published-fidelity.md)
    "llm-foundry-mpt-70b-a100-40gb-64gpu-fsdp": "+37.4%: 40 GB row at 35.9 % MFU, cause unknown",
}

#: Training rows too slow for the default run (seconds at flow fidelity, the default, one
#: process each on 2 cores; benchmarks/RESULTS.md, *Round 5*): marked ``slow`` and run only
#: with ``COMMSIM_SLOW=1`` (``COMMSIM_SLOW=1 pytest -m slow tests/test_published.py``).
SLOW_TRAINING = {
    "megatron-gpt-18.4b-256gpu",  # 21 s
    "megatron-gpt-39.1b-512gpu",  # 14 s
    "megatron-gpt-145.6b-1536gpu",  # 36 s
    "megatron-gpt-1t-3072gpu",  # 49 s
    "megatron-gpt3-175b-384gpu",  # 12 s (384 micro-batches x 24 chunks per pipeline)
    "megatron-gpt-76.1b-1024gpu",  # 11 s
    "megatron-gpt-310.1b-1920gpu",  # 27 s (16 stages x 2 chunks x 144 micro-batches)
    "megatron-gpt-529.6b-2520gpu",  # 26 s (35 stages x 3 chunks x 280 micro-batches)
    "korthikanti-530b-280gpu-selective",  # 13 s
    "korthikanti-530b-280gpu-full",  # 14 s
    "korthikanti-1t-512gpu-selective",  # 22 s (64 stages x 512 micro-batches)
    "korthikanti-1t-512gpu-full",  # 23 s
    "korthikanti-530b-2240gpu-selective-dp8",  # 26 s
    # the H100 rows (added 2026-12-05) stay out of the default run to keep its time
    "dgxc-gpt3-175b-h100-128gpu-bf16",  # 9 s CPU (64 micro-batches x 12 chunks per pipeline)
    "dgxc-nemotron4-340b-h100-128gpu-bf16",  # 9 s CPU
    "dgxc-gpt3-175b-h100-2048gpu-bf16",  # 2048 GPUs
    "dgxc-nemotron4-340b-h100-2048gpu-bf16",  # 2048 GPUs
    "dgxc-nemotron4-15b-h100-16gpu-bf16",  # 2 s CPU
    "dgxc-nemotron4-15b-h100-2048gpu-bf16",  # 26 s CPU (DP over 512 ranks)
    # context-parallel rows (added 2026-12-06, pub21)
    "dgxc-llama3.1-70b-h100-64gpu-bf16",  # 64 micro-batches x 20 chunks per pipeline
    "dgxc-llama3.1-70b-h100-2048gpu-bf16",  # 2048 GPUs
    "dgxc-llama3.1-8b-h100-128gpu-bf16",  # DP x CP over 128 ranks
    "dgxc-llama3.1-405b-h100-576gpu-bf16",  # 63 micro-batches x 63 chunks
    "dgxc-llama3.1-405b-h100-1152gpu-bf16",
    # FP8 rows (added 2026-12-06, fp822): the same runs as the BF16 rows above, as slow
    "dgxc-gpt3-175b-h100-128gpu-fp8",
    "dgxc-gpt3-175b-h100-2048gpu-fp8",
    "dgxc-nemotron4-340b-h100-128gpu-fp8",
    "dgxc-nemotron4-340b-h100-2048gpu-fp8",
    "dgxc-nemotron4-15b-h100-16gpu-fp8",
    "dgxc-nemotron4-15b-h100-2048gpu-fp8",
    "dgxc-llama3.1-70b-h100-64gpu-fp8",
    "dgxc-llama3.1-70b-h100-2048gpu-fp8",
    "dgxc-llama3.1-8b-h100-8gpu-fp8",
    "dgxc-llama3.1-8b-h100-128gpu-fp8",
    "dgxc-llama3.1-405b-h100-576gpu-fp8",
    "dgxc-llama3.1-405b-h100-1152gpu-fp8",
    # FSDP rows (added 2026-12-06, pub22) over 3 s CPU: 70B, 80 layers x micro-batches
    "llm-foundry-mpt-70b-a100-40gb-128gpu-fsdp",  # 4 s CPU
    "llm-foundry-mpt-70b-a100-80gb-32gpu-fsdp",  # 9 s CPU (16 micro-batches)
    "llm-foundry-mpt-70b-a100-80gb-64gpu-fsdp",  # 4 s CPU
    # MoE rows (added 2026-12-06, pub22): 128-512 micro-batches, 4 all-to-alls per MoE layer
    "dgxc-grok1-314b-h100-16gpu-bf16",
    "dgxc-grok1-314b-h100-32gpu-bf16",
    "dgxc-grok1-314b-h100-64gpu-bf16",
}


RUN_SLOW = os.environ.get("COMMSIM_SLOW") == "1"


def _params(kind: Kind) -> list[object]:
    out: list[object] = []
    for name in reference_names(kind):
        marks = []
        if name in KNOWN_MISSES:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=True))
        if name in SLOW_TRAINING:
            marks.append(pytest.mark.slow)
            marks.append(pytest.mark.skipif(not RUN_SLOW, reason="slow; set COMMSIM_SLOW=1 to run"))
        out.append(pytest.param(name, marks=marks) if marks else name)
    return out


def _check(name: str, kind: Kind) -> None:
    (row,) = validate_published([name]).rows  # default fidelity per kind (DEFAULT_FIDELITY)
    assert row.kind == kind.value
    assert row.predicted > 0
    assert abs(row.error_pct) <= TOLERANCE_PCT[kind], (
        f"{name}: predicted {row.predicted:.1f} vs published {row.expected:.1f} "
        f"{row.unit} ({row.error_pct:+.1f}%, band ±{TOLERANCE_PCT[kind]:.0f}%)"
    )


@pytest.mark.parametrize("name", _params(Kind.NCCL_TESTS))
def test_nccl_tests_row_within_10pct(name: str) -> None:
    _check(name, Kind.NCCL_TESTS)


@pytest.mark.parametrize("name", _params(Kind.TRAINING))
def test_training_row_within_15pct(name: str) -> None:
    _check(name, Kind.TRAINING)


#: Slow-at-flow rows that analytical collectives price in seconds: the default run still
#: checks them there (the flow run, with ``COMMSIM_SLOW=1``, differs by -1.8 % at most).
ANALYTICAL_IN_DEFAULT_RUN = (
    "megatron-gpt-18.4b-256gpu",
    "megatron-gpt-39.1b-512gpu",
    "megatron-gpt-76.1b-1024gpu",
)


@pytest.mark.parametrize("name", ANALYTICAL_IN_DEFAULT_RUN)
def test_slow_training_row_within_15pct_with_analytical_collectives(name: str) -> None:
    (row,) = validate_published([name], fidelity="analytical").rows
    assert row.fidelity == "analytical"
    assert abs(row.error_pct) <= TOLERANCE_PCT[Kind.TRAINING], f"{name}: {row.error_pct:+.1f}%"


# ---- the reference file itself ------------------------------------------------------------


def test_reference_file_loads_and_every_row_cites_a_source() -> None:
    refs = load_references()
    assert len(refs.nccl_tests) >= 5 and len(refs.training) >= 3
    for r in [*refs.nccl_tests, *refs.training]:
        assert r.url.startswith("https://"), r.reference
        assert r.quote.strip(), r.reference
        assert r.expected > 0, r.reference


def test_training_transcription_matches_the_papers_parameter_column() -> None:
    """Equation (2) of the paper on our transcribed shapes gives its parameter column (±3 %);
    shapes it does not cover (GQA, untied head) are counted by the scenario's own model."""
    for r in load_references().training:
        m = r.setup.model
        if m.gpt_shaped:
            count = megatron_params(m, r.setup.seq_len)
        else:
            count = scenario_from_dict(training_scenario(r)).model_spec().total_params()
        assert count / 1e9 == pytest.approx(m.params_billion, rel=0.03), r.reference
        p = r.setup.parallelism
        assert p.gpus == r.system.nodes * r.system.gpus_per_node, r.reference


def test_paper_flop_count_reproduces_its_aggregate_throughput() -> None:
    """Table 1 lists per-GPU and aggregate throughput; equation (3) with the 1T row's setup and
    the step time implied by 163 TFLOP/s must give back 163 TFLOP/s and 502 PFLOP/s."""
    (r,) = [t for t in load_references().training if t.reference == "megatron-gpt-1t-3072gpu"]
    step_s = megatron_iteration_flops(r.setup) / (163e12 * 3072)
    assert tflops_per_gpu(r.setup, step_s) == pytest.approx(163.0)
    aggregate_pflops = megatron_iteration_flops(r.setup) / step_s / 1e15
    assert aggregate_pflops == pytest.approx(502.0, rel=0.01)


def test_megatron_core_flop_count_is_megatrons_own() -> None:
    """Megatron-Core's count: GPT-3's shape gives 72 B s l h^2 (1 + s/(6h) + V/(12 l h)); Llama
    3.1 70B (GQA, gated MLP, s = 8192) gives the 3.94e15 FLOPs per sequence that NVIDIA states
    for it (NVIDIA/dgxc-benchmarking llama3.1/README_70b.md, "The model flops for Llama 3.1 70b
    for GBS=1 is 3.94E+15"); the README rows' per-GPU figures give back their aggregate column."""
    rows = {t.reference: t for t in load_references().training}
    r = rows["megatron-core-gpt-1.7b-h100-48gpu"]
    b, s, n_l, h, v = 192, 4096, 24, 2048, 131072
    gpt = 72.0 * b * s * n_l * h**2 * (1 + s / (6 * h) + v / (12 * n_l * h))
    assert mcore_iteration_flops(r.setup) == pytest.approx(gpt)
    llama = {"layers": 80, "hidden": 8192, "heads": 64, "kv_heads": 8, "ffn_hidden": 28672}
    model = r.setup.model.model_copy(update={**llama, "vocab": 128256, "gated_mlp": True})
    setup = r.setup.model_copy(update={"model": model, "global_batch": 1, "seq_len": 8192})
    assert mcore_iteration_flops(setup) == pytest.approx(3.94e15, rel=0.005)
    for name, aggregate_pflops in (
        ("megatron-core-gpt-1.7b-h100-48gpu", 19.6),
        ("megatron-core-gpt-7.1b-h100-96gpu", 44.7),
        ("megatron-core-gpt-16b-h100-192gpu", 93.9),
    ):
        t = rows[name]
        step_s = mcore_iteration_flops(t.setup) / (t.expected * 1e12 * t.system.nodes * 8)
        assert t.metric is Metric.TFLOPS_PER_GPU_MCORE
        assert tflops_per_gpu(t.setup, step_s, t.metric) == pytest.approx(t.expected)
        total = mcore_iteration_flops(t.setup) / step_s / 1e15
        assert total == pytest.approx(aggregate_pflops, abs=0.06), name


def test_iteration_time_rows_compare_seconds_and_carry_the_papers_setup() -> None:
    """Korthikanti et al. 2022 rows: Table 5 seconds, Table 3 shapes, Sec. 6 schedules."""
    rows = {t.reference: t for t in load_references().training}
    r = rows["korthikanti-175b-64gpu-selective"]
    assert r.metric.value == "iteration_time_s" and r.expected == 13.75
    assert r.setup.schedule == "interleaved" and r.setup.virtual_stages == 3
    assert r.setup.sequence_parallel and r.setup.recompute == "selective"
    assert rows["korthikanti-1t-512gpu-selective"].setup.schedule == "1f1b"
    assert not rows["korthikanti-1t-512gpu-full"].setup.sequence_parallel
    (row,) = validate_published(["korthikanti-22b-8gpu-selective"]).rows
    assert row.unit == "s per iteration" and 0.5 < row.predicted < 2.0
    # the 2021 runs are priced with the 2021 kernels, the NeMo H100 runs with Megatron-Core
    # 2024's, the 2022 runs with the default generation
    assert all(
        (t.setup.software is not None) == t.reference.startswith(("megatron-", "dgxc-"))
        for t in rows.values()
    )


def test_unknown_key_in_reference_file_names_file_and_field(tmp_path: object) -> None:
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("nccl_tests: []\ntraining: []\nextra_section: 1\n")
    with pytest.raises(InputError) as e:
        load_references(bad)
    assert str(bad) in str(e.value) and "extra_section" in str(e.value)


def test_unknown_reference_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown reference"):
        validate_published(["no-such-row"])


def test_cli_text_marks_misses_and_roles_and_ends_with_the_summary(capsys):
    """``commsim validate --published`` says what the generated doc says: each row's band,
    status (ok / MISS) and role, then ``N of M rows inside their band; held-out rows: ...``
    (until 2026-12-06 the text had no status, role or summary)."""
    from simulator.cli import main
    from simulator.studies.published import band_summary, validate_published

    names = ["dgx-a100-allreduce-8gpu", "azure-nd-a100-v4-allreduce-16m"]
    rows = list(validate_published(names).rows)
    assert [r.within_tolerance for r in rows] == [True, False]  # one ok, one miss
    for name, row in zip(names, rows, strict=True):
        assert main(["validate", "--published", "--reference", name]) == 0
        lines = capsys.readouterr().out.splitlines()
        fields = lines[1].split()
        assert fields[0] == name
        assert fields[-2:] == (
            ["ok", "calibration"] if row.within_tolerance else ["MISS", "held-out"]
        )
        assert lines[-1] == f"nccl_tests: {band_summary([row])}"


def test_context_parallel_rows_reach_the_scenario() -> None:
    """A row's ``cp`` becomes the scenario's ``strategy.cp``, and the GPU count includes it."""
    rows = {t.reference: t for t in load_references().training}
    r = rows["dgxc-llama3.1-8b-h100-8gpu-bf16"]
    assert r.setup.parallelism.cp == 2 and r.setup.parallelism.gpus == 8
    sc = scenario_from_dict(training_scenario(r))
    assert (sc.strategy.cp, sc.strategy.dp, sc.strategy.tp) == (2, 4, 1)
    assert "cp" not in training_scenario(rows["megatron-core-gpt-16b-h100-192gpu"])["strategy"]


def test_moe_rows_reach_the_scenario_and_megatron_counts_routed_experts() -> None:
    """``experts``/``top_k``/``ep`` become the scenario's; Megatron-Core's FLOP count takes the
    MLP term once per routed expert (``num_experts_routed_to``)."""
    rows = {t.reference: t for t in load_references().training}
    r = rows["megatron-core-gpt-16b-h100-192gpu"]
    moe_model = r.setup.model.model_copy(update={"experts": 8, "top_k": 2})
    par = r.setup.parallelism.model_copy(update={"ep": 8})
    moe = r.model_copy(
        update={"setup": r.setup.model_copy(update={"model": moe_model, "parallelism": par})}
    )
    sc = scenario_from_dict(training_scenario(moe))
    assert (sc.model.experts, sc.model.top_k, sc.strategy.ep) == (8, 2, 8)
    m, s = r.setup.model, r.setup
    mlp = 12.0 * s.global_batch * s.seq_len * m.layers * m.hidden * 4 * m.hidden
    assert mcore_iteration_flops(moe.setup) - mcore_iteration_flops(s) == pytest.approx(mlp)


def test_paper_flop_metric_refuses_shapes_it_does_not_count() -> None:
    rows = {t.reference: t for t in load_references().training}
    r = rows["megatron-core-gpt-16b-h100-192gpu"]  # untied head: not GPT-3's shape
    bad = r.model_copy(update={"metric": Metric.TFLOPS_PER_GPU})
    with pytest.raises(InputError, match="tflops_per_gpu_mcore"):
        predict_training(bad, load_references().clusters[r.setup.cluster])


def test_tokens_per_gpu_metric_reproduces_the_tables_throughput_columns() -> None:
    """llm-foundry's MPT 7B row on 128 A100s: 226 sequences/s, 463,749 tokens/s in all and
    3,623 per GPU. The step time those give back yields the per-GPU figure again, and the
    row compares that figure (FSDP rows, 2026-12-06)."""
    rows = {t.reference: t for t in load_references().training}
    r = rows["llm-foundry-mpt-7b-a100-40gb-128gpu-fsdp"]
    assert r.metric is Metric.TOKENS_PER_S_PER_GPU and r.unit == "tokens/s per GPU"
    step_s = r.setup.global_batch * r.setup.seq_len / 463749
    assert r.setup.global_batch / step_s == pytest.approx(226, abs=0.5)
    assert tokens_per_s_per_gpu(r.setup, step_s) == pytest.approx(r.expected, abs=0.5)
    sc = training_scenario(r)
    assert sc["strategy"]["data_parallel"] == {"mode": "fsdp", "prefetch": 1}
    assert scenario_from_dict(sc).strategy.data_parallel.mode.value == "fsdp"
    (row,) = validate_published(["llm-foundry-mpt-7b-a100-40gb-16gpu-fsdp"]).rows
    assert row.unit == "tokens/s per GPU" and 1000 < row.predicted < 10000
