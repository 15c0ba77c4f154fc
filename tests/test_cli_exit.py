"""The console entry point freezes what is alive before the process exits (no full collection
of every object on the way out); :func:`simulator.cli.main` itself leaves the collector alone."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

import simulator.cli as cli

ROOT = Path(__file__).resolve().parent.parent


def _frozen_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))  # recorded, not done: a test
    return calls  # process that froze its objects would never collect them again


def test_console_freezes_after_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _frozen_calls(monkeypatch)
    assert cli.console(["topology", "list"]) == 0
    assert calls == [1]
    assert "dgx-a100" in capsys.readouterr().out  # the command's output is all there


def test_main_leaves_the_collector_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _frozen_calls(monkeypatch)
    assert cli.main(["topology", "list"]) == 0
    assert calls == []


def test_console_keeps_the_exit_status() -> None:
    """A bad input still exits 2 with its one line through ``python -m simulator``."""
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "no-such-scenario.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
