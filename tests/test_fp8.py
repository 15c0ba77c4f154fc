"""FP8 training (Transformer Engine's recipe, as NeMo runs it): the linear layers' GEMMs at the
FP8 peak, their operands cast, everything else BF16; on the wire FP8 only where the recipe sends
FP8 (userbuffer all-gathers, FP8 parameter gathers), gradients BF16."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.core.errors import InputError
from simulator.core.ir import Collective
from simulator.core.vocab import DType
from simulator.engine import simulate
from simulator.hardware import get_gpu
from simulator.studies.published import PUBLISHED_PATH, load_references, training_scenario
from simulator.topology import load_topology
from simulator.workload.costmodel import (
    BY_SOFTWARE,
    EFFICIENCIES,
    FP8_BY_SOFTWARE,
    FP8_EFFICIENCIES,
    cost_model_for,
)
from simulator.workload.elementwise import fp8_cast_bytes
from simulator.workload.modelspec import ModelSpec
from simulator.workload.profile import fp8_param_bytes, profile_from_model
from simulator.workload.software import Software

MC24 = Software.MEGATRON_CORE_2024
SPEC = ModelSpec(
    name="gpt", layers=4, hidden=4096, heads=32, vocab=8192, seq_len=2048, flash_attention=True
)


def test_catalogue_fp8_peak_is_dense_and_twice_bf16_on_hopper() -> None:
    for name in ("H100-SXM", "H200"):
        gpu = get_gpu(name)
        assert gpu.peak_flops("fp8") == pytest.approx(1978.9e12)
        assert gpu.peak_flops("fp8") == pytest.approx(2 * gpu.peak_flops("bf16"), rel=1e-3)
    with pytest.raises(InputError, match="no fp8 rate for GPU A100-80GB"):
        get_gpu("A100-80GB").peak_flops("fp8")


def test_fp8_gemm_time_uses_the_fp8_peak_and_its_own_efficiency() -> None:
    bf16 = cost_model_for("H100-SXM", DType.BF16, software=MC24)
    fp8 = cost_model_for("H100-SXM", DType.FP8, software=MC24)
    flops = 1e12
    eff = FP8_BY_SOFTWARE[("H100", MC24)].compute
    assert fp8.linear_time_s(flops) == pytest.approx(flops / (1978.9e12 * eff))
    assert fp8.linear_time_s(flops) < bf16.linear_time_s(flops)
    # the rest of the step (attention core, head) stays at the BF16 rate
    assert fp8.time_s(flops) == pytest.approx(bf16.time_s(flops))
    assert fp8.peak_flops == bf16.peak_flops
    assert not bf16.fp8 and bf16.linear_time_s(flops) == bf16.time_s(flops)


def test_fp8_efficiency_is_below_bf16s_but_its_rate_above() -> None:
    for fp8, bf16 in (
        (FP8_EFFICIENCIES["H100"], EFFICIENCIES["H100"]),
        (FP8_BY_SOFTWARE[("H100", MC24)], BY_SOFTWARE[("H100", MC24)]),
    ):
        assert 0.3 < fp8.compute < bf16.compute
        assert fp8.compute * 1978.9 > bf16.compute * 989.4
        assert "5.626 s/step" in fp8.source


def _profiles(tp: int = 4) -> tuple[Any, Any, Any]:
    bf16 = cost_model_for("H100-SXM", DType.BF16, software=MC24)
    fp8 = cost_model_for("H100-SXM", DType.FP8, software=MC24)
    kw: dict[str, Any] = {"micro_batch": 1, "tp": tp, "sequence_parallel": True}
    return profile_from_model(SPEC, bf16, **kw), profile_from_model(SPEC, fp8, **kw), fp8


def test_fp8_profile_adds_the_casts_to_the_faster_gemms() -> None:
    p16, p8, cost = _profiles()
    l16, l8 = p16.layers[0], p8.layers[0]
    assert l8.mlp_fwd_s < l16.mlp_fwd_s and l8.attn_fwd_s < l16.attn_fwd_s
    # MLP forward = FP8 GEMMs + the same BF16 memory-bound kernels + the FP8 casts
    casts = fp8_cast_bytes(SPEC, 1, tp=4)
    assert casts.mlp_fwd_B > 0 and casts.attn_bwd_B > 0
    gemm16 = cost.time_s(SPEC.mlp_fwd_flops(1) / 4)
    gemm8 = cost.linear_time_s(SPEC.mlp_fwd_flops(1) / 4)
    assert l8.mlp_fwd_s - gemm8 == pytest.approx(
        l16.mlp_fwd_s - gemm16 + cost.time_s(bytes_B=casts.mlp_fwd_B)
    )
    # head, embedding and optimizer are BF16 work: unchanged
    assert p8.head_fwd_s == pytest.approx(p16.head_fwd_s)
    assert p8.optimizer_s_per_param == pytest.approx(p16.optimizer_s_per_param)


def test_fp8_wire_bytes_follow_the_recipe() -> None:
    p16, p8, _ = _profiles()
    assert p8.act_bytes == 2 and p8.grad_bytes == 2  # activations and gradients stay BF16
    assert p8.tp_gather_B == pytest.approx(p16.tp_gather_B / 2)  # FP8 userbuffer all-gathers
    assert p8.boundary_B == p16.boundary_B  # reduce-scatters and pipeline sends: BF16
    assert p8.param_bytes == pytest.approx(fp8_param_bytes(SPEC))
    assert 1.0 < p8.param_bytes < 2.0
    assert p16.param_bytes == 2


def _scenario(dtype: str, gpu: str = "H100-SXM", **training: Any) -> Any:
    return scenario_from_dict(
        {
            "name": f"fp8-{dtype}",
            "topology": "dgx-h100",
            "model": {"layers": 4, "hidden": 4096, "heads": 32, "vocab": 8192},
            "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 2048, "dtype": dtype}
            | training,
            "strategy": {
                "tp": 4,
                "dp": 2,
                "sequence_parallel": True,
                "data_parallel": {"mode": "zero1", "overlap_param_gather": True},
            },
            "hardware": {"gpu": gpu, "software": "megatron-core-2024"},
        },
        file="fp8.yaml",
    )


def _is_grad_sync(name: str) -> bool:
    return name.startswith("dp.") and "param_ag" not in name


def _sizes(prog: Any, suffix: str) -> set[float]:
    return {op.size_B for op in prog.ops if isinstance(op, Collective) and suffix in op.name}


def test_a_scenario_with_dtype_fp8_runs_faster_with_fp8_gathers_and_bf16_gradients() -> None:
    topo = load_topology("dgx-h100")
    b16, b8 = build_workload(_scenario("bf16"), topo), build_workload(_scenario("fp8"), topo)
    prog16, prog8 = b16.workload.programs[0], b8.workload.programs[0]
    assert {s / 2 for s in _sizes(prog16, "tp_ag")} == _sizes(prog8, "tp_ag")
    assert _sizes(prog16, "tp_rs") == _sizes(prog8, "tp_rs")
    grads16 = {
        op.size_B for op in prog16.ops if isinstance(op, Collective) and _is_grad_sync(op.name)
    }
    grads8 = {
        op.size_B for op in prog8.ops if isinstance(op, Collective) and _is_grad_sync(op.name)
    }
    assert grads16 and grads16 == grads8  # gradients reduce in BF16 under both
    ag16, ag8 = _sizes(prog16, "param_ag"), _sizes(prog8, "param_ag")
    assert ag16 and max(ag8) < max(ag16)  # FP8 linear weights gathered as 1-byte data
    r16 = simulate(b16.workload, topo, fidelity="analytical")
    r8 = simulate(b8.workload, topo, fidelity="analytical")
    assert r8.compute_s < r16.compute_s and r8.step_time_s < r16.step_time_s


def test_explicit_grad_dtype_still_wins_under_fp8() -> None:
    assert _scenario("fp8").grad_dtype is DType.BF16
    assert _scenario("fp8", grad_dtype="fp32").grad_dtype is DType.FP32
    assert _scenario("bf16").grad_dtype is DType.BF16


def test_fp8_on_a_gpu_without_an_fp8_rate_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError) as err:
        build_workload(_scenario("fp8", gpu="A100-80GB"), load_topology("dgx-h100"))
    assert err.value.field == "training.dtype"
    assert err.value.file == "fp8.yaml"
    assert "no fp8 rate for GPU A100-80GB" in err.value.message


def test_an_unknown_dtype_is_refused() -> None:
    with pytest.raises(InputError, match=r"training\.dtype"):
        _scenario("fp4")


def test_published_fp8_rows_build_fp8_scenarios_and_one_calibrates() -> None:
    rows = [r for r in load_references().training if r.setup.dtype is DType.FP8]
    assert len(rows) == 12
    assert [r.reference for r in rows if r.calibrates] == ["dgxc-gpt3-175b-h100-128gpu-fp8"]
    for r in rows:
        assert training_scenario(r)["training"]["dtype"] == "fp8"
        assert r.reference.endswith("-fp8") and r.setup.software is MC24


def test_a_bad_dtype_in_the_reference_file_is_refused_naming_the_row(tmp_path: Any) -> None:
    text = PUBLISHED_PATH.read_text().replace("      dtype: fp8\n", "      dtype: fp4\n", 1)
    bad = tmp_path / "published.yaml"
    bad.write_text(text)
    with pytest.raises(InputError) as err:
        load_references(bad)
    assert err.value.field is not None and err.value.field.endswith("setup.dtype")


def test_a_scenario_mfu_under_fp8_is_a_fraction_of_the_fp8_peak() -> None:
    cost = cost_model_for("H100-SXM", DType.FP8, efficiency=0.4, source="NVIDIA FP8 MFU")
    assert cost.peak_flops == pytest.approx(1978.9e12) and cost.efficiency == 0.4
    assert not cost.fp8 and not cost.elementwise  # end to end: one rate for the whole step
