"""`commsim run` warns when a layout's memory estimate is over its GPU's HBM."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.hardware import get_gpu
from simulator.report.memfit import memory_warning

ROOT = Path(__file__).resolve().parent.parent


def test_over_hbm_names_every_part_and_the_gpu() -> None:
    hbm = get_gpu("A100-80GB").hbm_B
    mem = {"params": 1e9, "grads": 2e9, "optimizer": 8e9, "activations": hbm, "total": hbm + 11e9}
    msg = memory_warning(mem, "A100-80GB")
    assert msg is not None
    assert "A100-80GB" in msg and "activations" in msg and "out of memory" in msg


def test_fitting_unknown_or_missing_gives_nothing() -> None:
    hbm = get_gpu("A100-80GB").hbm_B
    assert memory_warning({"total": hbm}, "A100-80GB") is None  # exactly full fits
    assert memory_warning({"total": 1e30}, "no-such-gpu") is None
    assert memory_warning({"total": 1e30}, None) is None
    assert memory_warning({}, "A100-80GB") is None
    assert memory_warning({"total": float("inf")}, "A100-80GB") is not None


def test_run_warns_on_an_outsized_sequence_and_still_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = ROOT / "scenarios" / "gpt3-175b-64xa100.yaml"
    argv = ["run", str(scenario), "--json", "--fidelity", "analytical"]
    assert main([*argv, "--set", "training.seq_len=1048576"]) == 0
    err = capsys.readouterr().err
    assert "warning: gpt3-175b-64xa100: memory per GPU" in err and "HBM" in err
    assert main(argv) == 0
    assert "memory per GPU" not in capsys.readouterr().err  # the shipped layout fits
