"""Accelerator mode's roofline durations (simulator.traces.roofline) and their CLI flags.

The oracle is worked by hand from the datasheet and the formula, not from the code under test:
a GPT layer's forward is ``24 b s h^2 (1 + s / 6h)`` FLOPs (Narayanan et al. 2021), the head's
``2 b s h V``; a B200 runs them at 2.25 PFLOP/s dense bf16 (the catalogue's figure from its
datasheet) x 0.47 (the catalogue's efficiency for GPUs without a published figure: the
Megatron-LM README's end-to-end H100 MFU, so no memory-bound kernels are added); backward is
twice forward.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.traces.models import GPTConfig
from simulator.traces.recipe import RecordConfig, RecordStrategy
from simulator.traces.roofline import roofline_device_times, tp_degree

# b = 2, s = 16, h = 64, a = 4, V = 100, 3 layers: 64 tokens per call.
SHAPE = GPTConfig(vocab=100, d_model=64, n_head=4, n_layer=3, seq_len=16, batch=2)
TOKENS = 32
#: 24 * 2 * 16 * 64^2 * (1 + 16 / 384) = 3,145,728 + 131,072 (the s^2 term)
LAYER_FWD_FLOPS = 3_276_800.0
#: 2 * 2 * 16 * 64 * 100
HEAD_FWD_FLOPS = 409_600.0
B200_RATE = 2.25e15 * 0.47


def test_b200_layer_and_head_match_the_hand_computed_roofline() -> None:
    t = roofline_device_times(SHAPE, "B200")
    assert t["tokens"] == TOKENS
    fwd = LAYER_FWD_FLOPS / B200_RATE / TOKENS
    assert t["block_fwd_s_per_token"] == pytest.approx([fwd] * 3, rel=1e-12)
    assert t["block_bwd_s_per_token"] == pytest.approx([2 * fwd] * 3, rel=1e-12)
    head = HEAD_FWD_FLOPS / B200_RATE / TOKENS
    assert t["head_fwd_s_per_token"] == pytest.approx(head, rel=1e-12)
    assert t["head_bwd_s_per_token"] == pytest.approx(2 * head, rel=1e-12)
    assert "B200" in t["method"] and "slowdown 1" in t["method"]


def test_slowdown_scales_every_duration() -> None:
    one = roofline_device_times(SHAPE, "h100-sxm")
    slow = roofline_device_times(SHAPE, "h100-sxm", slowdown=1000.0)
    for key in ("block_fwd_s_per_token", "block_bwd_s_per_token"):
        assert slow[key] == pytest.approx([1000 * x for x in one[key]], rel=1e-12)
    assert slow["head_bwd_s_per_token"] == pytest.approx(1000 * one["head_bwd_s_per_token"])
    assert slow["slowdown"] == 1000.0


def test_a100_adds_its_memory_bound_kernels_so_it_exceeds_the_gemm_roofline() -> None:
    # A100's published efficiency is a GEMM one (0.670 of 312 TFLOP/s), so the layer's
    # element-wise kernels are priced from HBM on top: strictly slower than GEMMs alone.
    t = roofline_device_times(SHAPE, "A100-80GB")
    gemm_only = LAYER_FWD_FLOPS / (312e12 * 0.670) / TOKENS
    assert t["block_fwd_s_per_token"][0] > gemm_only * 1.01


def test_a_tp_rank_gets_its_share_split_at_the_tp_collectives() -> None:
    # one rank of tp 2 does half of every layer GEMM; q's and k's backward are each
    # 2 x (2 b s h (h / 2)) = 2 x 2 * 32 * 64 * 32 = 262,144 FLOPs, after their all-reduces
    t = roofline_device_times(SHAPE, "B200", tp=2)
    half = LAYER_FWD_FLOPS / 2 / B200_RATE / TOKENS
    ops = t["tp_ops"]
    fwd = [a + b for a, b in zip(ops["proj_fwd"], ops["fc2_fwd"], strict=True)]
    bwd = [
        sum(x) for x in zip(ops["fc1_bwd"], ops["v_bwd"], ops["k_bwd"], ops["q_bwd"], strict=True)
    ]
    assert fwd == pytest.approx([half] * 3, rel=1e-12)
    assert t["block_fwd_s_per_token"] == pytest.approx([half] * 3, rel=1e-12)
    assert bwd == pytest.approx([2 * half] * 3, rel=1e-12)
    lin = 262_144.0 / B200_RATE / TOKENS
    assert ops["q_bwd"] == pytest.approx([lin] * 3, rel=1e-12)
    assert ops["k_bwd"] == pytest.approx([lin] * 3, rel=1e-12)
    assert t["tp"] == 2 and "tp_ops" not in roofline_device_times(SHAPE, "B200")


def test_only_tp_recordings_take_a_share(tmp_path: Path) -> None:
    tp = RecordConfig(world=2, strategy=RecordStrategy.TP, steps=1, out_dir=str(tmp_path))
    ddp = RecordConfig(world=2, strategy=RecordStrategy.DDP, steps=1, out_dir=str(tmp_path))
    assert tp_degree(tp) == 2 and tp_degree(ddp) == 1


@pytest.mark.parametrize("slowdown", [0.0, -1.0, math.inf, math.nan])
def test_bad_slowdown_is_refused(slowdown: float) -> None:
    with pytest.raises(InputError, match="--slowdown"):
        roofline_device_times(SHAPE, "H100-SXM", slowdown)


def test_unknown_gpu_names_the_flag_and_the_known_ones() -> None:
    with pytest.raises(InputError) as err:
        roofline_device_times(SHAPE, "Z100")
    assert err.value.field == "--gpu" and "'Z100'" in str(err.value) and "H100-SXM" in str(err)


BASE = ["record", "--world", "2", "--strategy", "ddp", "--steps", "1"]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--device", "accel", "--durations", "roofline", "--gpu", "Z100"], "unknown GPU 'Z100'"),
        (["--durations", "roofline", "--gpu", "H100-SXM"], "--durations: roofline durations need"),
        (["--device", "accel", "--durations", "roofline"], "--gpu: roofline durations need"),
        (["--device", "accel", "--gpu", "H100-SXM"], "--gpu: only with --durations roofline"),
        (["--device", "accel", "--slowdown", "10"], "--slowdown: only with --durations"),
    ],
)
def test_record_refuses_bad_duration_flags_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    out = tmp_path / "rec"
    assert main([*BASE, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_validate_refuses_an_unknown_gpu_before_any_rig(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["validate", "--topology", "rig-2host", "--strategies", "ddp", "--device", "accel"]
    assert main([*argv, "--durations", "roofline", "--gpu", "Z100"]) == 2
    err = capsys.readouterr().err
    assert "--gpu" in err and "unknown GPU 'Z100'" in err


def test_validator_records_with_the_roofline_times(tmp_path: Path) -> None:
    from simulator.studies.rig_validation import Validator

    v = Validator(
        topology="rig-2host",
        strategies=["ddp"],
        work_dir=tmp_path,
        device="accel",
        roofline=("H100-SXM", 1000.0),
    )
    cfg = v.record_config("rig-2host", "ddp", tmp_path / "ddp")
    assert cfg.device_times == roofline_device_times(cfg.gpt, "H100-SXM", 1000.0)
    plain = Validator(topology="rig-2host", strategies=["ddp"], work_dir=tmp_path, device="accel")
    assert plain.record_config("rig-2host", "ddp", tmp_path / "ddp").device_times is None
