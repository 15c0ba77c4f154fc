"""A scenario file's relative ``topology:`` / ``backend:`` paths are read beside the file.

A new user copies a scenario and a topology into one folder and runs it from elsewhere; until
2026-12-06 ``topology: mytopo.yaml`` was looked up in the working directory and failed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.config import load_scenario
from simulator.core.errors import InputError
from simulator.resources import data_file, shipped_dir
from simulator.scenario_refs import load_scenario_backend, load_scenario_topology

SCENARIO = """\
name: x
topology: {topology}
backend: {backend}
model: {{layers: 4, hidden: 256, heads: 8}}
training: {{global_batch: 8}}
strategy: {{tp: 2}}
"""


def _folder(tmp_path: Path, topology: str, backend: str = "nccl") -> Path:
    """``tmp_path/cfg/`` with the scenario, a topology and a backend profile beside it."""
    cfg = tmp_path / "cfg"
    (cfg / "sub").mkdir(parents=True)
    shutil.copy(shipped_dir("topologies") / "dgx-a100.yaml", cfg / "mytopo.yaml")
    shutil.copy(shipped_dir("topologies") / "dgx-a100.yaml", cfg / "sub" / "deep.yaml")
    shutil.copy(data_file("backends", "nccl.yaml"), cfg / "mybackend.yaml")
    (cfg / "s.yaml").write_text(SCENARIO.format(topology=topology, backend=backend))
    return cfg / "s.yaml"


@pytest.mark.parametrize("ref", ["mytopo.yaml", "./mytopo.yaml", "sub/deep.yaml"])
def test_relative_topology_is_read_beside_the_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str
) -> None:
    path = _folder(tmp_path, ref, "mybackend.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    sc = load_scenario(path)
    assert Path(sc.topology).resolve() == (path.parent / ref).resolve()
    assert load_scenario_topology(sc).num_ranks == 8
    assert load_scenario_backend(sc).name


def test_shipped_names_stay_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _folder(tmp_path, "dgx-a100")
    (path.parent / "dgx-a100").write_text("not a topology")  # a stray file of that name
    monkeypatch.chdir(tmp_path)
    sc = load_scenario(path)
    assert sc.topology == "dgx-a100"
    assert sc.backend == "nccl"


def test_set_override_stays_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _folder(tmp_path, "mytopo.yaml")
    monkeypatch.chdir(tmp_path)
    sc = load_scenario(path, ["topology=cfg/sub/deep.yaml"])
    assert sc.topology == "cfg/sub/deep.yaml"
    assert load_scenario_topology(sc).num_ranks == 8


def test_compare_variants_read_their_paths_beside_the_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _folder(tmp_path, "dgx-a100")
    path.write_text(
        path.read_text() + "compare:\n  - {name: mine, set: {topology: sub/deep.yaml}}\n"
    )
    monkeypatch.chdir(tmp_path / "cfg" / "sub")
    (variant,) = load_scenario(path).variants()
    assert Path(variant.topology).resolve() == (path.parent / "sub" / "deep.yaml").resolve()


def test_missing_file_beside_the_scenario_still_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _folder(tmp_path, "nothere.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        load_scenario_topology(load_scenario(path))
    assert err.value.field == "topology"
    assert "nothere.yaml" in str(err.value)
