"""Malformed traces and refused outputs: one line on stderr naming the file, exit 2."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.ir import Program, Workload

REAL = Path(__file__).parent / "fixtures" / "real"
A100 = REAL / "hta-a100-ddp" / "rank-0.json.gz"


def _replay_fails(capsys, d: Path, *extra: str, lines: int = 1) -> str:
    assert main(["replay", str(d), "--topology", "dgx-a100", *extra]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == lines
    return err


def _write(d: Path, doc: object, name: str = "rank0.json") -> Path:
    d.mkdir()
    (d / name).write_text(json.dumps(doc))
    return d


def test_event_that_is_not_an_object(tmp_path, capsys):
    d = _write(tmp_path / "t", {"traceEvents": [{"ph": "M"}, 42]})
    err = _replay_fails(capsys, d)
    assert "rank0.json" in err and "traceEvents[1]" in err and "JSON object" in err


def test_non_numeric_ts(tmp_path, capsys):
    ev = {"ph": "X", "name": "a", "cat": "cpu_op", "ts": "soon", "dur": 1, "tid": 1, "pid": 1}
    d = _write(tmp_path / "t", {"traceEvents": [ev]})
    err = _replay_fails(capsys, d)
    assert "traceEvents[0].ts" in err and "'soon'" in err


def test_truncated_gz(tmp_path, capsys):
    d = tmp_path / "t"
    d.mkdir()
    (d / "rank-0.json.gz").write_bytes(A100.read_bytes()[:5000])
    err = _replay_fails(capsys, d)
    assert "rank-0.json.gz" in err and "truncated" in err


def test_garbage_protobuf_after_a_valid_length_prefix(tmp_path, capsys):
    d = tmp_path / "et"
    d.mkdir()
    good = (REAL / "astra-all_reduce-4npus_1MB" / "all_reduce.0.et").read_bytes()
    (d / "x.0.et").write_bytes(good + bytes([10]) + b"\xff" * 10)
    err = _replay_fails(capsys, d)
    assert "x.0.et" in err and "does not decode" in err


def test_deadlock_in_replay_is_exit_2_with_the_explanation(tmp_path, capsys):
    from simulator.traces.chakra import export_workload

    progs = []
    for r in (0, 1):  # both ranks receive first: a deadlock, whatever the network
        p = Program(rank=r)
        rv = p.recv("r", peer=1 - r, size_B=8.0, stream="comm")
        p.send("s", peer=1 - r, size_B=8.0, deps=(rv,), stream="comm")
        progs.append(p)
    export_workload(Workload(programs=progs), tmp_path / "dl")
    # the engine's explanation, its per-rank lines joined into the one error line (issue 15)
    err = _replay_fails(capsys, tmp_path / "dl", lines=1)
    assert err.startswith("commsim replay: error: ") and "deadlock" in err and "/dl:" in err
    assert "rank 0" in err and "rank 1" in err


def test_chakra_out_never_overwrites(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    rc = main(
        [
            "replay",
            str(REAL / "hta-a100-ddp"),
            "--mirror-ranks",
            "--topology",
            "dgx-a100",
            "--chakra-out",
            str(out),
        ]
    )
    assert rc == 2 and "never overwrites" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_missing_chakra_extra_names_it(monkeypatch):
    from simulator.core.errors import InputError

    for mod in [m for m in sys.modules if m.startswith(("simulator.traces.chakra", "google"))]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "google.protobuf", None)
    with pytest.raises(InputError, match=r"commsim\[chakra\]"):
        import simulator.traces.chakra  # noqa: F401


def test_gz_that_is_not_gzip(tmp_path, capsys):
    d = tmp_path / "t"
    d.mkdir()
    (d / "rank0.json.gz").write_bytes(gzip.compress(b"{not json"))
    err = _replay_fails(capsys, d)
    assert "rank0.json.gz" in err and "not JSON" in err


def test_run_chakra_out_exports_each_variant_and_round_trips(tmp_path, capsys):
    """`commsim run SCENARIO --chakra-out DIR`: one sub-directory per compared variant."""
    from simulator.traces.chakra import import_chakra_dir

    out = tmp_path / "et"
    scenario = str(Path(__file__).parent.parent / "scenarios" / "ten-node-sync-vs-async.yaml")
    assert main(["run", scenario, "--chakra-out", str(out), "--json"]) == 0
    capsys.readouterr()
    subs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(subs) >= 2
    back = import_chakra_dir(subs[0])
    assert back.world_size == 10 and len(back.programs) == 10
    assert main(["run", scenario, "--chakra-out", str(out)]) == 2  # never overwrites
    assert "never overwrites" in capsys.readouterr().err


def test_emit_config_prints_an_absolute_config_path(tmp_path, monkeypatch, capsys):
    """The torchrun line runs on every node, each in its own directory: its config path is
    absolute even for a relative ``--out`` (until 2026-12-06 it was printed as given)."""
    monkeypatch.chdir(tmp_path)
    argv = ["record", "--world", "16", "--strategy", "fsdp", "--backend", "nccl"]
    assert main([*argv, "--out", "shared/run", "--emit-config"]) == 0
    line = capsys.readouterr().out.strip()
    config = line.split()[-1]
    assert line.startswith("torchrun ") and config.startswith("/")
    assert config == str((tmp_path / "shared" / "run" / "record_config.json").resolve())
    assert (tmp_path / "shared" / "run" / "record_config.json").is_file()
