"""``--backend gloo-rig`` resolves by name to the calibration of the job's rank count."""

from __future__ import annotations

import warnings

import pytest

from simulator.cli import main
from simulator.collectives import load_backend
from simulator.collectives.calibrated import CalibrationFallbackWarning, families, resolve


def test_family_picks_the_fit_of_the_jobs_rank_count() -> None:
    assert "gloo-rig" in families()
    path2, note2 = resolve("gloo-rig", 2) or (None, "missing")
    path4, note4 = resolve("gloo-rig", 4) or (None, "missing")
    assert path2 is not None and path2.name == "gloo-rig.yaml" and note2 is None
    assert path4 is not None and path4.name == "gloo-rig-4rank.yaml" and note4 is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_backend("gloo-rig", ranks=4).name == "gloo-rig-4rank"
        assert load_backend("gloo-rig-4rank").name == "gloo-rig-4rank"  # a member by its name
    assert resolve("nccl", 2) is None


def test_a_rank_count_without_a_fit_says_which_profile_it_used() -> None:
    _, note = resolve("gloo-rig", 5) or (None, None)
    assert note is not None and "5 ranks" in note and "gloo-rig (2 ranks)" in note
    with pytest.warns(CalibrationFallbackWarning, match="using gloo-rig \\(2 ranks\\)"):
        assert load_backend("gloo-rig", ranks=5).name == "gloo-rig"


def test_three_rank_jobs_get_the_three_rank_fit() -> None:
    path, note = resolve("gloo-rig", 3) or (None, None)
    assert note is None and path is not None and path.name == "gloo-rig-3rank.yaml"


def test_cli_resolves_the_name_and_prints_the_note(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["collective", "--topology", "rig-4host-flat", "--op", "all_reduce", "--size", "1MiB"]
    assert main([*base, "--backend", "gloo-rig", "--ranks", "0-3", "--json"]) == 0
    out = capsys.readouterr()
    assert '"backend": "gloo-rig-4rank"' in out.out and out.err == ""
    assert main([*base, "--backend", "gloo-rig", "--ranks", "0-2", "--json"]) == 0
    out = capsys.readouterr()
    assert '"backend": "gloo-rig-3rank"' in out.out and out.err == ""
