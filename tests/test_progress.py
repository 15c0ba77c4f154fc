"""Progress bars: drawn on a terminal's stderr only; never a byte on stdout or a pipe."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.report import progress

SCENARIO = """
name: tiny-progress
topology: dgx-a100
model: {name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}
training: {global_batch: 32, micro_batch: 1, seq_len: 128, dtype: bf16}
"""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert not progress.enabled()  # pytest captures stderr: not a terminal
    with progress.track("work", total=3):
        progress.set_total(3)
        progress.advance()
        progress.note("a note")
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == "a note\n"  # notes still reach stderr, as plain lines


def test_advance_outside_a_bar_does_nothing() -> None:
    progress.set_total(5)
    progress.advance(description="nobody listens")


def test_switched_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert progress.enabled()
    monkeypatch.setenv("COMMSIM_PROGRESS", "0")
    assert not progress.enabled()


def test_sweep_json_on_a_terminal_keeps_stdout_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = tmp_path / "tiny.yaml"
    sc.write_text(SCENARIO)
    err, out = _Tty(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    argv = ["sweep", str(sc), "--vary", "strategy.tp=1,2", "--scheduler", "inline", "--json"]
    assert main(argv) == 0
    obj = json.loads(out.getvalue())  # exactly one JSON object, nothing else
    assert len(obj["points"]) == 2
    assert "2 points of tiny" in err.getvalue()  # the bar was drawn, on stderr
