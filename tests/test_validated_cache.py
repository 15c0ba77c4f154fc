"""The validated-input cache: a hit skips validation, a change of input is validated again,
failures are never kept, and a start-up on known inputs does not import pydantic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.core import validated as vc
from simulator.core.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMMSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("COMMSIM_NO_CACHE", raising=False)
    return tmp_path / "validated"


def _counting(value: object) -> tuple[list[int], Callable[[], object]]:
    calls: list[int] = []

    def produce() -> object:
        calls.append(1)
        return value

    return calls, produce


def test_second_read_of_the_same_input_skips_produce(cache: Path) -> None:
    calls, produce = _counting({"a": 1.5})
    assert vc.validated("k", "text: 1", "f.yaml", produce) == {"a": 1.5}
    assert vc.validated("k", "text: 1", "f.yaml", produce) == {"a": 1.5}
    assert len(calls) == 1
    assert len(list(cache.iterdir())) == 1


def test_changed_input_file_or_kind_is_produced_again(cache: Path) -> None:
    calls, produce = _counting(1)
    for kind, key, file in [
        ("k", "x: 1", "f"),
        ("k", "x: 2", "f"),
        ("k", "x: 1", "g"),
        ("j", "x: 1", "f"),
        ("k", {"x": 1}, "f"),
        ("k", {"x": 1.0}, "f"),
        ("k", {"x": True}, "f"),
        ("k", {"x": "1"}, "f"),
    ]:
        vc.validated(kind, key, file, produce)
    assert len(calls) == 8


def test_failures_are_not_kept(cache: Path) -> None:
    calls: list[int] = []

    def bad() -> object:
        calls.append(1)
        raise InputError("expected a number", file="f", field="x")

    for _ in range(2):
        with pytest.raises(InputError):
            vc.validated("k", "x: y", "f", bad)
    assert len(calls) == 2
    assert not cache.exists() or not list(cache.iterdir())


def test_code_change_changes_every_key(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = vc.entry_key("k", "x: 1", "f")
    monkeypatch.setattr(vc, "code_fingerprint", lambda: b"other code")
    assert vc.entry_key("k", "x: 1", "f") != before


def test_products_holding_pydantic_objects_and_non_plain_keys_are_not_kept(cache: Path) -> None:
    from simulator.topology.schema import RoutingSpec

    calls, produce = _counting(RoutingSpec())
    vc.validated("k", "x", "f", produce)
    vc.validated("k", "x", "f", produce)
    calls2, produce2 = _counting(1)
    vc.validated("k", {"p": Path("a")}, "f", produce2)
    vc.validated("k", {"p": Path("a")}, "f", produce2)
    assert (len(calls), len(calls2)) == (2, 2)


def test_off_switch_and_unreadable_entries(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls, produce = _counting([1, 2])
    vc.validated("k", "x", "f", produce)
    (cache / vc.entry_key("k", "x", "f")).write_bytes(b"not a pickle")
    assert vc.validated("k", "x", "f", produce) == [1, 2]  # a miss, written again
    assert vc.validated("k", "x", "f", produce) == [1, 2]
    monkeypatch.setenv("COMMSIM_NO_CACHE", "1")
    assert vc.cache_dir() is None
    vc.validated("k", "x", "f", produce)
    assert len(calls) == 3


def test_old_entries_are_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vc, "MAX_ENTRIES", 4)
    for i in range(5):
        vc.validated("k", f"x: {i}", "f", lambda: 0)
    assert len(list(cache.iterdir())) <= 4


def test_edited_topology_file_is_validated_again(cache: Path, tmp_path: Path) -> None:
    from simulator.topology import load_topology

    path = tmp_path / "t.yaml"
    path.write_text("build: {type: cluster, nodes: 2}\n")
    assert load_topology(path).num_ranks == 16
    assert load_topology(path).num_ranks == 16
    path.write_text("build: {type: cluster, nodes: 2, gpus_per_nod: 4}\n")
    with pytest.raises(InputError) as err:
        load_topology(path)
    assert err.value.field == "build.gpus_per_nod"
    path.write_text("build: {type: cluster, nodes: 2}\nrouting: {ecmp: bogus}\n")
    with pytest.raises(InputError) as err:
        load_topology(path)
    assert err.value.field == "routing.ecmp"


def test_edited_backend_file_is_validated_again(cache: Path, tmp_path: Path) -> None:
    from simulator.collectives import load_backend
    from simulator.resources import data_file

    path = tmp_path / "b.yaml"
    text = data_file("backends/nccl.yaml").read_text("utf-8")
    path.write_text(text)
    first = load_backend(str(path))
    assert load_backend(str(path)) == first
    path.write_text(text.replace("channels:", "chanels:", 1))
    with pytest.raises(InputError) as err:
        load_backend(str(path))
    assert "chanels" in (err.value.field or "")


def test_a_start_up_on_known_inputs_does_not_import_pydantic(cache: Path) -> None:
    code = (
        "import sys\n"
        "from simulator.collectives import load_backend, simulate_collective\n"
        "from simulator.topology import load_topology\n"
        "t = load_topology('dgx-a100')\n"
        "r = simulate_collective(t, 'all_reduce', 2**20, backend=load_backend('nccl'))\n"
        "print('pydantic' in sys.modules, r.time_s)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[0][0] == "True"  # first process: validated with pydantic
    assert runs[1] == ["False", runs[0][1]]  # then: the same answer without it


def test_no_home_directory_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("COMMSIM_CACHE_DIR", "XDG_CACHE_HOME", "COMMSIM_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert vc.cache_dir() is None
    assert vc.validated("k", "x", "f", lambda: 7) == 7
