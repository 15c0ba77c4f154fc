"""``commsim run``: the JSON contract, exit status 2 on bad input, --out safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.cli.run import MARKER

SCENARIO = """
name: tiny-dp2
description: one DGX A100, data parallel, a tiny GPT
topology: dgx-a100
backend: nccl
fidelity: flow
model: {name: tiny, layers: 2, hidden: 256, heads: 4, vocab: 1024}
training: {global_batch: 16, micro_batch: 2, seq_len: 64, dtype: fp32}
strategy: {dp: 8}
"""

KEYS = {
    "scenario",
    "step_time_s",
    "compute_s",
    "comm_s",
    "exposed_comm_s",
    "bubble_s",
    "memory_per_gpu_B",
    "busiest_links",
    "reference",
}


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    return p


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["run", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object on stdout


def test_json_contract(scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = run_json(capsys, str(scenario))
    assert d.keys() >= KEYS
    assert d["scenario"] == "tiny-dp2"
    assert d["step_time_s"] > 0 and d["comm_s"] > 0
    assert d["step_time_s"] == pytest.approx(d["compute_s"] + d["exposed_comm_s"] + d["bubble_s"])
    assert d["memory_per_gpu_B"]["total"] > 0
    assert d["busiest_links"] and {"link", "kind", "utilisation"} <= d["busiest_links"][0].keys()
    assert d["fidelity"] == "flow" and d["backend"] == "nccl"


def test_overrides_and_fidelity_flag(scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, str(scenario))
    b = run_json(capsys, str(scenario), "--set", "training.global_batch=32")
    assert b["step_time_s"] > a["step_time_s"]
    c = run_json(capsys, str(scenario), "--fidelity", "analytical")
    assert c["fidelity"] == "analytical"


@pytest.mark.parametrize(
    "argv",
    [
        ["/no/such/scenario.yaml"],
        ["SCEN", "--set", "strategy.tp=notanumber"],
        ["SCEN", "--set", "no_such_key=1"],
    ],
)
def test_bad_input_exits_2_with_one_line(
    scenario: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    argv = [str(scenario) if a == "SCEN" else a for a in argv]
    assert main(["run", *argv, "--json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert len(cap.err.strip().splitlines()) == 1 and cap.err.startswith("commsim run: error:")


def test_out_refuses_foreign_dir_and_writes_outputs(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    assert main(["run", str(scenario), "--out", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    capsys.readouterr()

    out = tmp_path / "out"
    d = run_json(capsys, str(scenario), "--out", str(out))
    for name in (
        MARKER,
        "ops.csv",
        "links.csv",
        "scenario.resolved.yaml",
        "timeline.json",
        "timeline.png",
        "links.png",
        "result.json",
    ):
        assert (out / name).is_file(), name
    trace = json.loads((out / "timeline.json").read_text())
    assert any(e["ph"] == "X" for e in trace["traceEvents"])
    assert json.loads((out / "result.json").read_text())["step_time_s"] == d["step_time_s"]
    # a second run may overwrite its own earlier output
    assert main(["run", str(scenario), "--out", str(out), "--json"]) == 0


def test_human_output(scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(scenario)]) == 0
    out = capsys.readouterr().out
    assert "step time" in out and "busiest" in out


def test_a_job_on_part_of_the_cluster_says_so(
    scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(scenario), "--json", "--set", "strategy.dp=4"]) == 0
    cap = capsys.readouterr()
    obj = json.loads(cap.out)
    assert obj["world"] == 4 and obj["topology_ranks"] == 8
    assert "uses 4 of the 8 ranks" in cap.err


def test_compare_with_steps_prints_every_variants_perturbed_steps(capsys):
    """``--steps`` on a ``compare:`` scenario: a second table gives each variant's mean and
    p99 over the perturbed steps (the first table is the unperturbed step; until 2026-12-06
    that was all the comparison showed)."""
    from simulator.core.units import format_time

    argv = ["run", "ten-node-stragglers", "--steps", "5", "--seed", "2"]
    assert main([*argv, "--json"]) == 0
    variants = json.loads(capsys.readouterr().out)["variants"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    table = text[text.index("5 perturbed steps per variant (seed 2)") :]
    for v in variants:
        name = v["scenario"].split("/", 1)[-1]
        row = next(line for line in table.splitlines() if f" {name} " in line)
        assert format_time(v["step_time_mean_s"]) in row
        assert format_time(v["step_time_p99_s"]) in row
