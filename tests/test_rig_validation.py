"""commsim validate: one small case per tier on the 2-host rig, and the CLI/JSON contract."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.rig import netns
from simulator.studies.rig_cases import Tier, parse_strategies, recorder_strategy
from simulator.studies.rig_validation import CaseResult, Validator, format_cases, summarize

REASON = netns.unavailable_reason()
needs_rig = pytest.mark.skipif(REASON is not None, reason=f"rig unavailable: {REASON}")


def test_strategy_aliases() -> None:
    assert parse_strategies("ddp,pp,compress,ddp") == ["ddp", "pp-1f1b", "ddp-fp16"]
    assert recorder_strategy("pp-gpipe") == "pp-gpipe"
    with pytest.raises(InputError, match="unknown strategy"):
        recorder_strategy("zero9")


def test_summary_and_table() -> None:
    def case(tier: Tier, err: float) -> CaseResult:
        return CaseResult(tier.value, "c", 1.0, 1.0 + err / 100, err, 1.0, 5, "t", "s", "t", "", "")

    strategy = replace(
        case(Tier.STRATEGY, 10.0), own_compute_predicted_s=0.98, own_compute_error_pct=-2.0
    )
    cases = [case(Tier.REPLAY, -2.0), case(Tier.REPLAY, 4.0), strategy]
    s = summarize(cases)
    assert s["replay"].to_json() == {"n": 2, "median_abs_error_pct": 3.0, "max_abs_error_pct": 4.0}
    assert s["topology"].to_json() == {"n": 0}
    assert s["strategy"].own_compute_median_abs_error_pct == 2.0
    assert "own_compute_median_abs_error_pct" not in s["replay"].to_json()
    assert s["all"].n == 3
    table = format_cases(cases).splitlines()
    assert "predicted_s" in table[0] and "own_compute_%" in table[0]
    assert table[3].split()[-1] == "-2.0" and len(table[1].split()) == 6


def test_published_dispatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import simulator.studies as studies
    from simulator.studies.published import PublishedRow, PublishedValidation

    row = PublishedRow(
        reference="r", kind="nccl_tests", source="s", url="u", expected=2.0, predicted=2.1,
        unit="s", error_pct=5.0, tolerance_pct=10.0, within_tolerance=True, held_out=True,
        fidelity="flow",
    )  # fmt: skip
    monkeypatch.setattr(studies, "validate_published", lambda *a, **k: PublishedValidation((row,)))
    assert main(["validate", "--published", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rows": [row.to_json()]}


def test_world_must_match_topology() -> None:
    assert main(["validate", "--topology", "rig-2host", "--world", "4"]) == 2


@needs_rig
@pytest.mark.torch
def test_one_case_per_tier_on_two_hosts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = Validator(
        topology="rig-2host",
        strategies=["ddp", "fsdp"],
        work_dir=tmp_path / "traces",
        steps=3,
        warmup=1,
        what_if=["rig-2host-halfnic"],
    )
    cases = v.run()
    assert [c.tier for c in cases] == ["replay", "replay", "topology", "topology", "strategy"]
    assert [c.strategy for c in cases[2:4]] == ["ddp", "fsdp"]
    for c in cases:
        assert c.measured_s > 0 and c.predicted_s > 0 and math.isfinite(c.error_pct)
        # Behaviour, not a figure: a replay of a run on its own rig is in the right ballpark.
        assert abs(c.error_pct) < 50, c
    ddp, fsdp, ddp_half, fsdp_half, to_fsdp = cases
    # Tier 3 also predicts FSDP from FSDP's own recording (the error attribution).
    assert to_fsdp.own_compute_predicted_s and to_fsdp.own_compute_predicted_s > 0
    assert to_fsdp.own_compute_error_pct is not None and abs(to_fsdp.own_compute_error_pct) < 50
    # Halving the NICs slows both down, and the predictions say so too.
    for full, half in ((ddp, ddp_half), (fsdp, fsdp_half)):
        assert half.measured_s > full.measured_s
        assert half.predicted_s > full.predicted_s

    # The CLI reuses the recordings under --out and keeps the JSON contract.
    out = tmp_path
    code = main(["validate", "--world", "2", "--strategies", "ddp,fsdp", "--what-if",
                 "rig-2host-halfnic", "--steps", "3", "--warmup", "1", "--json",
                 "--out", str(out), "--force"])  # fmt: skip  # DIR holds the API's traces/
    assert code == 0
    obj = json.loads(capsys.readouterr().out)
    assert {"tier", "case", "measured_s", "predicted_s", "error_pct"} <= set(obj["cases"][0])
    assert obj["summary"]["all"]["n"] == 5
    assert (out / "scatter.png").stat().st_size > 0


def test_validator_predicts_with_the_profile_of_its_rank_count(tmp_path: Path) -> None:
    from simulator.rig.calibrate import rig_calibration

    four = Validator(topology="rig-4host-2rack", strategies=["ddp"], work_dir=tmp_path)
    two = Validator(topology="rig-2host", strategies=["ddp"], work_dir=tmp_path)
    assert four.backend == rig_calibration(4)
    assert two.backend == rig_calibration(2)
    assert Validator("rig-2host", ["ddp"], tmp_path, backend="gloo").backend == "gloo"


def test_accel_mode_takes_tp_without_recording_anything_yet(tmp_path: Path) -> None:
    v = Validator(topology="rig-2host", strategies=["ddp", "tp"], work_dir=tmp_path, device="accel")
    assert v.device == "accel" and "tp" in v.strategies
    assert not any(tmp_path.iterdir())


def test_accel_record_refuses_torchrun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["record", "--world", "2", "--strategy", "ddp", "--out", str(tmp_path / "r")]
    assert main([*argv, "--device", "accel", "--emit-config"]) == 2
    assert "--device" in capsys.readouterr().err


def test_one_record_config_for_ladder_and_fault_recordings(tmp_path: Path) -> None:
    """Ladder and fault recordings come from Validator.record_config, device mode included."""
    v = Validator(topology="rig-2host", strategies=["ddp"], work_dir=tmp_path, device="accel")
    cfg = v.record_config("rig-4host-2rack", "ddp", tmp_path / "x")
    assert (cfg.world, cfg.device, cfg.steps, cfg.warmup_steps) == (4, "accel", 8, 2)
    assert cfg.gpt.d_model == v.shape.d_model and cfg.out_dir == str(tmp_path / "x")
    assert not cfg.execution_trace


def test_fault_recording_records_with_the_validators_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault case hands the recorder ``Validator.record_config`` (``--device`` included): no
    rig is built, the recorder is replaced by one that keeps the config it was given."""
    import simulator.studies.rig_faults as rig_faults
    from simulator.studies.rig_faults import fault_recording, parse_fault_cases

    v = Validator(topology="rig-2host", strategies=["ddp"], work_dir=tmp_path, device="accel")
    seen: list[object] = []
    monkeypatch.setattr(rig_faults, "record", lambda cfg, **_: seen.append(cfg))
    (case,) = parse_fault_cases("slow-nic")
    out = fault_recording(v, case, "ddp")
    assert seen == [v.record_config("rig-2host", "ddp", out)]


def test_a_topology_path_keeps_recordings_under_the_work_dir(tmp_path: Path) -> None:
    from simulator.studies.rig_validation import topology_dir_name

    assert topology_dir_name("rig-2host") == "rig-2host"
    mine = tmp_path / "rigs" / "rig-5host-3tier.yaml"
    other = tmp_path / "elsewhere" / "rig-5host-3tier.yaml"
    name = topology_dir_name(str(mine))
    assert name.startswith("rig-5host-3tier-") and "/" not in name
    assert name != topology_dir_name(str(other))  # same stem, other file: other recordings
    assert (tmp_path / "work" / name).parent == tmp_path / "work"  # not beside the user's file


def test_an_impossible_strategy_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    """A 5-host rig cannot split the tiny GPT's 4 heads: refused before ddp is recorded."""
    rig = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "rig-5host-3tier.yaml"
    v = Validator(topology=str(rig), strategies=["ddp", "tp"], work_dir=tmp_path, backend="gloo")
    with pytest.raises(InputError, match=r"n_head \(4\) % world"):
        v.run()
    assert not any(tmp_path.iterdir())


def test_the_topology_tier_without_a_what_if_says_how_to_give_one(tmp_path: Path) -> None:
    from simulator.core.errors import InputNote

    v = Validator("rig-4host-flat", ["ddp"], tmp_path, backend="gloo", tiers=(Tier.TOPOLOGY,))
    with pytest.warns(
        InputNote, match=r"no what-if topology is known for rig-4host-flat.*--what-if"
    ):
        assert v.run() == []
    assert not any(tmp_path.iterdir())  # nothing recorded


def test_a_1f1b_pipeline_on_more_ranks_than_micro_batches_is_recorded_with_one_per_stage(
    tmp_path: Path,
) -> None:
    """On a 6-host rig, pp-1f1b was recorded with the default 4 micro-batches and every rank died
    in torch's Schedule1F1B ("must be greater than or equal to the number of stages") after the
    other strategies had been recorded: the validator now gives 1F1B one micro-batch per stage,
    and the preflight refuses a batch that cannot be split so, naming --batch."""
    from simulator.studies.rig_cases import ModelShape
    from simulator.traces.models import GPTConfig
    from simulator.traces.recipe import RecordConfig, RecordStrategy

    rig6 = str(Path(__file__).resolve().parent.parent / "benchmarks/data/rig-6host-flat.yaml")
    ok = Validator(rig6, ["pp-1f1b"], tmp_path, shape=ModelShape(n_layer=6, batch=6))
    ok.check()
    assert ok.record_config(rig6, "pp-1f1b", tmp_path).microbatches == 6
    assert ok.record_config(rig6, "pp-gpipe", tmp_path).microbatches == 4  # GPipe takes fewer
    bad = Validator(rig6, ["pp-1f1b"], tmp_path, shape=ModelShape(n_layer=6, batch=4))
    with pytest.raises(InputError, match="multiple of 6") as err:
        bad.check()
    assert err.value.field == "--batch"
    two = Validator(topology="rig-2host", strategies=["pp-1f1b"], work_dir=tmp_path)
    assert two.record_config("rig-2host", "pp-1f1b", tmp_path).microbatches == 4  # unchanged
    gpt = GPTConfig(n_layer=6, batch=4)
    cfg = RecordConfig(6, RecordStrategy.PP_1F1B, 1, str(tmp_path), gpt=gpt, microbatches=4)
    with pytest.raises(InputError, match="one micro-batch per stage"):
        cfg.validate()  # `commsim record` with too few: refused before any rank starts


def test_a_pipeline_with_fewer_layers_than_ranks_names_layers(tmp_path: Path) -> None:
    """The refusal named --world only; the flag a user raises is --layers."""
    from simulator.studies.rig_cases import ModelShape

    rig6 = str(Path(__file__).resolve().parent.parent / "benchmarks/data/rig-6host-flat.yaml")
    v = Validator(rig6, ["pp-gpipe"], tmp_path, shape=ModelShape(n_layer=4))
    with pytest.raises(InputError, match="4 layers for 6 ranks") as err:
        v.check()
    assert err.value.field == "--layers"
