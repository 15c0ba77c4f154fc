"""Memory-bound kernels of a transformer layer: pass counts, sharding, and their place in time."""

from __future__ import annotations

import pytest

from simulator.config import scenario_from_dict
from simulator.core.vocab import DType, Recompute
from simulator.workload import costmodel
from simulator.workload.costmodel import CostModel, cost_model_for
from simulator.workload.elementwise import attention_core_bytes, layer_elementwise_bytes, loss_bytes
from simulator.workload.modelspec import ModelSpec
from simulator.workload.profile import profile_from_model
from simulator.workload.software import Software

SMALL = ModelSpec(name="gpt-1.7b", layers=24, hidden=2304, heads=24, vocab=51200, seq_len=2048)


def _t_s(spec: ModelSpec, b: int = 1) -> tuple[float, float]:
    """(T, S) element counts for ``b`` samples, unsharded."""
    return b * spec.seq_len * spec.hidden, b * spec.heads * spec.seq_len**2


def test_pass_counts_of_a_dense_gelu_layer() -> None:
    """tp=1, GELU MLP (F = 4T): forward 21 T + 4.5 S passes, backward 31 T + 5.5 S (2 B each)."""
    t, s = _t_s(SMALL)
    ew = layer_elementwise_bytes(SMALL, 1)
    assert ew.attn_fwd_B + ew.mlp_fwd_B == pytest.approx(2 * (21 * t + 4.5 * s))
    assert ew.attn_bwd_B + ew.mlp_bwd_B == pytest.approx(2 * (31 * t + 5.5 * s))
    assert ew.scores_fwd_B == pytest.approx(2 * 4.5 * s)
    assert ew.mlp_fwd_B == pytest.approx(2 * 13.5 * t)  # LN 2 + GELU 2x4 + bias-dropout-add 3.5


def test_tensor_parallel_splits_scores_and_mlp_but_replicates_norms() -> None:
    t, s = _t_s(SMALL)
    ew = layer_elementwise_bytes(SMALL, 1, tp=8)
    # forward: LN 2+2 and bias-dropout-add 3.5+3.5 replicated, context copy 2 and GELU 8 split
    assert ew.attn_fwd_B + ew.mlp_fwd_B == pytest.approx(2 * (11 * t + 10 * t / 8 + 4.5 * s / 8))
    sp = layer_elementwise_bytes(SMALL, 1, tp=8, sequence_parallel=True)
    assert sp.attn_fwd_B + sp.mlp_fwd_B == pytest.approx(2 * (21 * t + 4.5 * s) / 8)


def test_flash_attention_and_gated_mlp_change_the_kernel_set() -> None:
    t, s = _t_s(SMALL)
    flash = ModelSpec(
        layers=2, hidden=2304, heads=24, seq_len=2048, flash_attention=True, gated_mlp=True
    )
    ew = layer_elementwise_bytes(flash, 1)
    assert ew.scores_fwd_B == 0.0
    assert attention_core_bytes(flash, 1) == 0.0
    f = 1 * 2048 * flash.ffn
    # attention: LN 2 + context copy 2 + bias-dropout-add 3.5; MLP: LN 2 + SwiGLU 3 F + BDA 3.5
    assert ew.attn_fwd_B == pytest.approx(2 * 7.5 * t)
    assert ew.mlp_fwd_B == pytest.approx(2 * (5.5 * t + 3 * f))
    assert s > 0


def test_a100_gemm_efficiency_takes_the_memory_bound_share_out_of_the_1t_row() -> None:
    """The 1T row's 6.96 GB per layer per micro-batch at 0.8 x 2039 GB/s is 4.3% of its layer."""
    ew = costmodel._1T_EW
    total_B = 2 * (ew.attn_fwd_B + ew.mlp_fwd_B) + ew.attn_bwd_B + ew.mlp_bwd_B
    assert total_B / 1e9 == pytest.approx(6.96, abs=0.01)
    share = costmodel._A100_ELEMENTWISE
    assert share == pytest.approx(0.0426, abs=5e-4)
    eff = costmodel.BY_SOFTWARE[("A100", Software.MEGATRON_LM_2021)]
    assert eff.prices_elementwise
    assert eff.compute == pytest.approx(
        (163 / 312)
        / (1 - costmodel._A100_BUBBLE - costmodel._A100_TP_COMM - costmodel._A100_ELEMENTWISE)
    )


def test_a100_2022_efficiency_is_the_22b_layer_forward_with_collectives_and_kernels_out() -> None:
    """Korthikanti et al. 2022 Table 4 (22B layer, sequence parallel, forward 7.2 ms) through
    the profile: at the derived efficiency the profile's forward plus four 0.383 ms collectives
    gives back 7.2 ms, and the score GEMMs are memory-bound there (the closed form's premise)."""
    eff = costmodel.BY_SOFTWARE[("A100", Software.MEGATRON_LM_2022)]
    assert eff.compute == pytest.approx(0.670, abs=1e-3)
    assert pytest.approx(4 * 0.383e-3, rel=1e-2) == costmodel._22B_TP_COMM_S
    cm = CostModel(
        peak_flops=312e12,
        hbm_Bps=2039e9,
        efficiency=eff.compute,
        memory_efficiency=0.8,
        elementwise=True,
    )
    p = profile_from_model(costmodel._22B, cm, micro_batch=4, tp=8, sequence_parallel=True)
    assert p.layers[0].fwd_s + costmodel._22B_TP_COMM_S == pytest.approx(7.2e-3, rel=1e-6)
    core_flops = costmodel._22B.attn_core_fwd_flops(4) / 8
    core_B = attention_core_bytes(costmodel._22B, 4, tp=8, act_bytes=2)
    assert core_B / (2039e9 * 0.8) > core_flops / (312e12 * eff.compute)


def test_a100_hbm_constant_is_the_catalogue_figure() -> None:
    from simulator.hardware import get_gpu

    assert costmodel._A100_HBM_Bps == get_gpu("A100-80GB").hbm_bandwidth_Bps


def test_end_to_end_efficiencies_do_not_add_the_kernels_twice() -> None:
    assert cost_model_for("A100-80GB", DType.BF16).elementwise
    assert cost_model_for("H100-SXM", DType.BF16).elementwise  # a GEMM figure since 2026-12-05
    assert cost_model_for("H200", DType.BF16).elementwise  # the H100's figure: the same die
    assert not cost_model_for("B200", DType.BF16).elementwise  # the 47% MFU default: end to end
    assert not cost_model_for("A100-80GB", DType.BF16, efficiency=0.5).elementwise


def test_profile_adds_memory_time_at_hbm_rate() -> None:
    """The extra forward time is the element-wise bytes at the memory rate (+ core roofline)."""
    gemm = CostModel(peak_flops=312e12, hbm_Bps=2039e9, efficiency=0.6, memory_efficiency=0.8)
    full = CostModel(
        peak_flops=312e12, hbm_Bps=2039e9, efficiency=0.6, memory_efficiency=0.8, elementwise=True
    )
    p0 = profile_from_model(SMALL, gemm, micro_batch=1)
    p1 = profile_from_model(SMALL, full, micro_batch=1)
    ew = layer_elementwise_bytes(SMALL, 1)
    rate = 2039e9 * 0.8
    core_flops = SMALL.attn_core_fwd_flops(1)
    core_excess = max(0.0, attention_core_bytes(SMALL, 1) / rate - core_flops / (312e12 * 0.6))
    assert p1.layers[0].mlp_fwd_s - p0.layers[0].mlp_fwd_s == pytest.approx(ew.mlp_fwd_B / rate)
    assert p1.layers[0].attn_fwd_s - p0.layers[0].attn_fwd_s == pytest.approx(
        ew.attn_fwd_B / rate + core_excess
    )
    # at h = 2304 the memory-bound kernels are a large share of the layer (the 1.7B row)
    share = 1 - (p0.layers[0].fwd_s + p0.layers[0].bwd_s) / (
        p1.layers[0].fwd_s + p1.layers[0].bwd_s
    )
    assert 0.15 < share < 0.35


def test_selective_recompute_reruns_the_score_kernels() -> None:
    full = CostModel(
        peak_flops=312e12, hbm_Bps=2039e9, efficiency=0.6, memory_efficiency=0.8, elementwise=True
    )
    p = profile_from_model(SMALL, full, micro_batch=1, recompute=Recompute.SELECTIVE)
    ew = layer_elementwise_bytes(SMALL, 1)
    core = full.time_s(SMALL.attn_core_fwd_flops(1), attention_core_bytes(SMALL, 1))
    assert p.layers[0].recompute_s == pytest.approx(core + ew.scores_fwd_B / (2039e9 * 0.8))


def test_scenario_on_a100_is_slower_than_gemm_only() -> None:
    """Through the scenario path: the shipped A100 cost model prices the kernels."""
    sc = scenario_from_dict(
        {
            "name": "m",
            "topology": "t",
            "model": {"layers": 2, "hidden": 2304, "heads": 24},
            "training": {"global_batch": 8, "seq_len": 2048},
            "hardware": {"gpu": "A100-80GB"},
        }
    )
    cm = cost_model_for(sc.hardware.gpu or "A100-80GB", DType.BF16)
    gemm_only = CostModel(peak_flops=cm.peak_flops, hbm_Bps=cm.hbm_Bps, efficiency=cm.efficiency)
    spec = sc.model_spec()
    assert (
        profile_from_model(spec, cm, micro_batch=1).layers[0].fwd_s
        > profile_from_model(spec, gemm_only, micro_batch=1).layers[0].fwd_s
    )


def test_loss_kernels_stream_52_bytes_per_logit_split_by_tp() -> None:
    """Megatron's vocab-parallel cross entropy: fp32 cast, max, subtract, exp, sum, divide
    forward (38 B per logit), scale and cast back backward (14 B); the vocabulary splits by TP."""
    logits = SMALL.seq_len * SMALL.vocab
    fwd, bwd = loss_bytes(SMALL, 1)
    assert (fwd, bwd) == pytest.approx((38 * logits, 14 * logits))
    assert loss_bytes(SMALL, 2, tp=4) == pytest.approx((fwd / 2, bwd / 2))


def test_profile_prices_the_loss_on_the_head_at_hbm_rate() -> None:
    """With a GEMM efficiency the head carries the loss kernels; an end-to-end figure does not."""
    gemm = CostModel(peak_flops=312e12, hbm_Bps=2039e9, efficiency=0.6, memory_efficiency=0.8)
    full = CostModel(
        peak_flops=312e12, hbm_Bps=2039e9, efficiency=0.6, memory_efficiency=0.8, elementwise=True
    )
    p0 = profile_from_model(SMALL, gemm, micro_batch=2, tp=2)
    p1 = profile_from_model(SMALL, full, micro_batch=2, tp=2)
    fwd, bwd = loss_bytes(SMALL, 2, tp=2)
    rate = 2039e9 * 0.8
    assert p1.head_fwd_s - p0.head_fwd_s == pytest.approx(fwd / rate)
    assert p1.head_bwd_s - p0.head_bwd_s == pytest.approx(bwd / rate)
    assert p0.head_bwd_s == pytest.approx(2 * p0.head_fwd_s)
