"""The study façade: each study returns its typed result, and ``to_json()`` is what the CLI
prints with ``--json`` (wall-clock seconds aside)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from simulator import studies
from simulator.cli import _json_default, main
from simulator.studies import (
    ChakraReplayResult,
    PlanResult,
    PublishedValidation,
    ReplayResult,
    ReshardResult,
    RunResult,
    ScenarioRun,
    SweepPoint,
    SweepResult,
)

ROOT = Path(__file__).resolve().parent.parent
GLOO = ROOT / "tests" / "fixtures" / "traces" / "ddp-2-gloo"

SCENARIO = """
name: tiny-dp
topology: dgx-a100
backend: nccl
fidelity: flow
model: {name: tiny, layers: 2, hidden: 256, heads: 4, vocab: 1024}
training: {global_batch: 16, micro_batch: 2, seq_len: 64, dtype: fp32}
strategy: {dp: 8}
compare:
  - {name: dp8}
  - {name: dp4, set: {strategy.dp: 4}}
"""

WALL = ("wall_s",)


def _plain(obj: Any) -> Any:
    """What the CLI's ``emit_json`` makes of ``obj``, read back, with wall times removed."""
    return _strip(json.loads(json.dumps(obj, default=_json_default)))


def _strip(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if k not in WALL}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    return o


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0
    return _strip(json.loads(capsys.readouterr().out))


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    return p


def test_run_scenario_is_typed_and_is_what_run_prints(
    scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = studies.run_scenario(scenario)
    assert isinstance(res, ScenarioRun) and len(res.variants) == 2
    first = res.variants[0]
    assert isinstance(first, RunResult) and first.simulation is not None
    assert first.step_time_s == first.simulation.result.step_time_s > 0
    assert first.world == 8 and res.variants[1].world == 4
    doc = res.to_json()
    assert "out" not in doc and "simulation" not in doc
    assert len(doc["variants"]) == 2
    assert doc["variants"][0] == {k: v for k, v in doc.items() if k != "variants"}
    assert _plain(doc) == _cli(capsys, "run", str(scenario))


def test_replay_and_reshard_are_what_replay_prints(capsys: pytest.CaptureFixture[str]) -> None:
    rep = studies.replay(str(GLOO))
    assert isinstance(rep, ReplayResult)
    assert rep.world == 2 and rep.steps == len(rep.per_step) > 0
    assert sum(c.count for c in rep.collectives) == 10
    assert _plain(rep.to_json()) == _cli(capsys, "replay", str(GLOO))

    res = studies.reshard(GLOO, strategy="fsdp", world=4, topology="loopback-4")
    assert isinstance(res, ReshardResult)
    assert (res.strategy, res.world, res.recorded_world) == ("fsdp", 4, 2)
    assert res.predicted_step_s == res.result.step_time_s > 0
    argv = ("replay", str(GLOO), "--strategy", "fsdp", "--world", "4", "--topology", "loopback-4")
    assert _plain(res.to_json()) == _cli(capsys, *argv)


def test_replay_chakra_is_what_replay_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simulator.traces.chakra import export_workload
    from simulator.traces.kineto import import_trace_dir

    export_workload(import_trace_dir(GLOO).workload(0), tmp_path / "et")
    res = studies.replay_chakra(tmp_path / "et", topology="loopback-2", backend="gloo")
    assert isinstance(res, ChakraReplayResult) and res.world == 2
    assert res.to_json()["format"] == "chakra"
    argv = ("replay", str(tmp_path / "et"), "--topology", "loopback-2", "--backend", "gloo")
    assert _plain(res.to_json()) == _cli(capsys, *argv)


def test_sweep_and_plan_are_what_they_print(
    scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vary = studies.parse_vary(["strategy.dp=2,8,16"])
    res = studies.sweep(str(scenario), vary, ["compare=[]"], scheduler="inline")
    assert isinstance(res, SweepResult) and all(isinstance(p, SweepPoint) for p in res.points)
    two, eight, sixteen = res.points
    assert two.ok and eight.ok and not sixteen.ok and sixteen.error
    assert set(sixteen.to_json()) == {"set", "error", "error_kind"}
    argv = ("sweep", str(scenario), "--vary", "strategy.dp=2,8,16", "--set", "compare=[]")
    assert _plain(res.to_json()) == _cli(capsys, *argv, "--scheduler", "inline")

    plan = studies.plan(
        str(scenario), 1e3, ["dgx-a100"], tp=[1, 2], pp=[1], base=["compare=[]"],
        scheduler="inline",
    )  # fmt: skip
    assert isinstance(plan, PlanResult) and plan.best is not None
    assert plan.best == plan.ranked[0] and plan.best.verdict == "ok"
    assert sum(plan.verdicts.values()) == len(plan.points) == 2
    argv = ("plan", str(scenario), "--target-step", "1000s", "--topologies", "dgx-a100")
    cli = _cli(capsys, *argv, "--tp", "1,2", "--pp", "1", "--set", "compare=[]",
               "--scheduler", "inline")  # fmt: skip
    assert _plain(plan.to_json()) == cli


def test_validate_published_is_what_validate_prints(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.studies.published import Kind, reference_names

    name = reference_names(Kind.NCCL_TESTS)[0]
    res = studies.validate_published([name])
    assert isinstance(res, PublishedValidation) and [r.reference for r in res.rows] == [name]
    assert res.rows[0].predicted > 0
    assert _plain(res.to_json()) == _cli(capsys, "validate", "--published", "--reference", name)


def test_published_options_need_published(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--kind", "training"]) == 2
    assert "--kind: only with --published" in capsys.readouterr().err


def test_no_study_returns_a_dict() -> None:
    for name in studies.__all__:
        obj = getattr(studies, name)
        if callable(obj) and not isinstance(obj, type) and name != "parse_vary":
            ret = typing.get_type_hints(obj)["return"]
            assert typing.get_origin(ret) is not dict and ret is not dict, name
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            assert obj.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
            # ScenarioSimulation holds the objects behind a RunResult, not a JSON result
            if name != "ScenarioSimulation":
                assert callable(getattr(obj, "to_json", None)), name


def test_a_missing_cli_command_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = importlib.import_module("simulator.cli")
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "no_such_command"))
    with pytest.raises(ModuleNotFoundError):
        cli.build_parser()
