"""ModelSpec FLOPs/params/activations against the papers' closed forms; cost model; memory."""

from __future__ import annotations

import pytest

from simulator.core.vocab import DType, Recompute
from simulator.workload.costmodel import CostModel, cost_model_for, efficiency_for
from simulator.workload.modelspec import ModelSpec
from simulator.workload.profile import profile_from_model
from simulator.workload.software import Software

old_sw = Software.MEGATRON_LM_2021

GPT3 = ModelSpec(name="gpt3", layers=96, hidden=12288, heads=96, vocab=51200, seq_len=2048)


def test_gpt3_parameter_count_is_175b() -> None:
    assert GPT3.total_params() / 1e9 == pytest.approx(174.6, abs=0.1)


def test_layer_flops_match_narayanan() -> None:
    b, s, h = 1, 2048, 12288
    assert GPT3.layer_fwd_flops(b) == pytest.approx(24 * b * s * h * h * (1 + s / (6 * h)))


def test_activation_bytes_match_korthikanti() -> None:
    s, b, h, a, t = 2048, 1, 12288, 96, 8
    sbh = s * b * h
    assert GPT3.activation_bytes(b) == pytest.approx(sbh * (34 + 5 * a * s / h))
    assert GPT3.activation_bytes(b, tp=t) == pytest.approx(
        sbh * (10 + 24 / t + 5 * a * s / (h * t))
    )
    assert GPT3.activation_bytes(
        b, tp=t, sequence_parallel=True, recompute=Recompute.SELECTIVE
    ) == pytest.approx(sbh * 34 / t)
    assert GPT3.activation_bytes(b, recompute=Recompute.FULL) == pytest.approx(2 * sbh)


def test_gqa_and_moe_shapes() -> None:
    mix = ModelSpec(
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        ffn_hidden=14336,
        vocab=32000,
        gated_mlp=True,
        experts=8,
        top_k=2,
        tie_embeddings=False,
    )
    assert mix.total_params() / 1e9 == pytest.approx(46.7, abs=0.3)  # Mixtral 8x7B: 46.7B
    assert mix.active_params() / 1e9 == pytest.approx(12.9, abs=0.3)  # 12.9B active


def test_roofline_and_published_efficiency() -> None:
    cm = CostModel(peak_flops=100e12, hbm_Bps=1e12, efficiency=0.5, memory_efficiency=0.5)
    assert cm.time_s(flops=50e12) == pytest.approx(1.0)
    assert cm.time_s(bytes_B=1e12) == pytest.approx(2.0)
    # 163/312 / (1 - bubble 5.8% - TP comm 4.8% - memory-bound kernels 4.3%), see costmodel.py
    old = efficiency_for("A100-80GB", Software.MEGATRON_LM_2021)
    assert old.compute == pytest.approx(0.613, abs=2e-3)
    # Korthikanti et al. 2022 Table 4: 22B layer forward 7.2 ms, collectives and kernels out
    assert efficiency_for("A100-80GB").compute == pytest.approx(0.670, abs=2e-3)
    a100 = cost_model_for("A100-80GB", DType.BF16)
    assert a100.peak_flops == pytest.approx(312e12)
    assert "Korthikanti" in a100.source and a100.software is Software.MEGATRON_LM_2022
    assert "Narayanan" in cost_model_for("A100-80GB", DType.BF16, software=old_sw).source
    # a GPU with one published figure uses it for every generation
    assert efficiency_for("H100-SXM", Software.MEGATRON_LM_2021) == efficiency_for("H100-SXM")


def test_profile_rescales_linearly() -> None:
    cm = CostModel(peak_flops=100e12, hbm_Bps=1e12, efficiency=0.5)
    p1 = profile_from_model(GPT3, cm, micro_batch=1, tp=1)
    p8 = p1.rescaled(tp=8, micro_batch=2)
    assert p8.layers[0].fwd_s == pytest.approx(p1.layers[0].fwd_s * 2 / 8)
    assert p8.layers[0].params == pytest.approx(p1.layers[0].params / 8)
    assert p8.boundary_B == pytest.approx(2 * p1.boundary_B)


def _strategy(**kw: object) -> object:
    from simulator.config import scenario_from_dict

    return scenario_from_dict(
        {
            "name": "m",
            "topology": "t",
            "model": {"layers": 8, "hidden": 256, "heads": 8},
            "training": {"global_batch": 16},
            "strategy": kw,
        }
    ).strategy


def test_activation_memory_by_schedule() -> None:
    from simulator.workload.memory import memory_per_gpu

    cm = CostModel(peak_flops=100e12, hbm_Bps=1e12, efficiency=0.5)
    spec = ModelSpec(layers=8, hidden=256, heads=8, seq_len=512)
    prof = profile_from_model(spec, cm, micro_batch=1)
    per_layer = prof.layers[0].activation_B
    one_f = memory_per_gpu(prof, _strategy(pp=4), 1, 16)  # type: ignore[arg-type]
    gpipe = memory_per_gpu(prof, _strategy(pp=4, pipeline={"schedule": "gpipe"}), 1, 16)  # type: ignore[arg-type]
    assert one_f["activations"] == pytest.approx(per_layer * 2 * 4)  # L/p layers x p in flight
    assert gpipe["activations"] == pytest.approx(per_layer * 2 * 16)  # x m in flight
    z3 = memory_per_gpu(prof, _strategy(data_parallel={"mode": "zero3"}), 8, 2)  # type: ignore[arg-type]
    ddp = memory_per_gpu(prof, _strategy(), 8, 2)  # type: ignore[arg-type]
    for k in ("params", "grads", "optimizer"):
        assert z3[k] == pytest.approx(ddp[k] / 8)


def test_measured_profile_goes_through_the_strategies() -> None:
    """A trace-style profile (given seconds, TP=1) is re-sharded to TP=2 by the strategy."""
    from simulator.core.ir import Compute
    from simulator.workload.profile import LayerCost, LayerProfile
    from simulator.workload.strategies import build_from_profile

    layer = LayerCost(attn_fwd_s=1e-3, mlp_fwd_s=2e-3, attn_bwd_s=2e-3, mlp_bwd_s=4e-3, params=1e6)
    prof = LayerProfile(layers=(layer,) * 4, micro_batch=2, seq_len=128, hidden=64, source="trace")
    wl = build_from_profile(prof, _strategy(tp=2), 4, global_batch=4)  # type: ignore[arg-type]
    fwd = [
        op for op in wl.programs[0].ops if isinstance(op, Compute) and op.name == "fwd.l0.mlp.mb0"
    ]
    assert fwd[0].duration_s == pytest.approx(1e-3)  # 2 ms at TP=1 -> 1 ms at TP=2


def test_powersgd_wire_bytes() -> None:
    from simulator.workload.strategies.compression import powersgd_fractions

    p, q = powersgd_fractions([(1000, 500)], 4)
    assert (p + q) * 1000 * 500 == pytest.approx((1000 + 500) * 4)


def test_cost_model_prices_flops_only_ops_in_the_engine() -> None:
    from simulator.core.ir import Program, Workload
    from simulator.engine import simulate
    from simulator.topology import load_topology

    cm = CostModel(peak_flops=100e12, hbm_Bps=1e12, efficiency=0.5)
    p = Program(rank=0)
    p.compute("gemm", flops=50e12)
    res = simulate(Workload(programs=[p], world=1), load_topology("dgx-a100"), compute_model=cm)
    assert res.step_time_s == pytest.approx(1.0)
