"""``commsim sweep``: the grid, points that cannot run, Dask vs inline, the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.studies.sweeps import grid, parse_vary, sweep

SCENARIO = """
name: tiny-sweep
topology: dgx-a100
model: {name: tiny, layers: 2, hidden: 256, heads: 4, vocab: 1024}
training: {global_batch: 16, micro_batch: 1, seq_len: 64, dtype: fp32}
strategy: {dp: 8}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    return str(p)


def test_parse_vary_and_grid_order() -> None:
    vary = parse_vary(["strategy.dp=2,4", "strategy.tp=1, 2"])
    assert vary == [("strategy.dp", ["2", "4"]), ("strategy.tp", ["1", "2"])]
    assert grid(vary) == [
        {"strategy.dp": "2", "strategy.tp": "1"},
        {"strategy.dp": "2", "strategy.tp": "2"},
        {"strategy.dp": "4", "strategy.tp": "1"},
        {"strategy.dp": "4", "strategy.tp": "2"},
    ]
    for bad in (["strategy.dp"], ["=1,2"], ["strategy.dp=1,,2"], ["a=1", "a=2"]):
        with pytest.raises(InputError):
            parse_vary(bad)


def test_inline_sweep_keeps_points_that_cannot_run(scenario: str) -> None:
    res = sweep(scenario, parse_vary(["strategy.dp=2,8,16"]), scheduler="inline")
    two, eight, sixteen = res.points
    assert two.set == {"strategy.dp": 2} and two.world == 2 and two.gpus == 8
    # the same global batch over more replicas: less compute per GPU, a shorter step
    assert eight.compute_s < two.compute_s
    assert eight.step_time_s < two.step_time_s
    assert eight.fits_memory is True
    # cost of a step bills every GPU of the topology at the catalog's A100 price
    assert eight.cost_per_step_usd == pytest.approx(8 * eight.step_time_s / 3600 * 5.1)
    assert sixteen.error is not None and "does not fit" in sixteen.error
    assert "set strategy.dp=null" in sixteen.error  # what to do about it


def test_dask_local_cluster_gives_the_inline_results(scenario: str) -> None:
    vary = parse_vary(["strategy.dp=4,8"])
    inline = sweep(scenario, vary, scheduler="inline")
    dask = sweep(scenario, vary, scheduler="local", workers=2)
    assert dask.scheduler == "local"
    for a, b in zip(inline.points, dask.points, strict=True):
        assert a.set == b.set
        assert a.step_time_s == pytest.approx(b.step_time_s, rel=1e-12)


def test_cli_json_out_and_bad_input(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["sweep", scenario, "--vary", "strategy.dp=4,8", "--scheduler", "inline"]
    assert main([*args, "--json", "--out", str(out)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["vary"] == {"strategy.dp": [4, 8]} and len(obj["points"]) == 2
    csv = (out / "sweep.csv").read_text().splitlines()
    assert csv[0].startswith("strategy.dp,") and len(csv) == 3
    assert main(args) == 0
    assert "sweep of" in capsys.readouterr().out
    # bad input: exit 2, one line, nothing of the user's overwritten
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main([*args, "--out", str(foreign)]) == 2
    assert (foreign / "notes.txt").read_text() == "keep"
    assert main(["sweep", scenario, "--vary", "strategy.dp"]) == 2
    assert main(["sweep", scenario, "--vary", "strategy.bogus=1,2", "--scheduler", "inline"]) == 2
    assert main(["sweep", scenario]) == 2
    assert main(["sweep", "no-such-scenario", "--vary", "strategy.dp=1"]) == 2
    err = capsys.readouterr().err
    assert "--vary" in err and "strategy.bogus" in err and "no-such-scenario" in err
    assert "Traceback" not in err


def test_table_says_when_a_point_leaves_gpus_idle(capsys: pytest.CaptureFixture[str]) -> None:
    """A point whose job has fewer ranks than the topology's GPUs reads "2 of 8 (*)" with a
    note (the JSON had world 2, gpus 8; the table said only 8)."""
    args = ["sweep", "gan-dcgan-dgx1", "--vary", "strategy.dp=2,8", "--scheduler", "inline"]
    assert main([*args, "--fidelity", "analytical"]) == 0
    out = capsys.readouterr().out
    assert "2 of 8 (*)" in out
    assert "8 of 8" not in out  # the full point reads just 8
    assert "(*) the job uses fewer ranks than the topology's GPUs" in out
