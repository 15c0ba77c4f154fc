"""Sweeps that survive (issue 15, deliver 6), the parts that run in a second or two.

The real-cluster scenarios (a ``dask scheduler`` and two workers on loopback, one worker lost,
both lost, Ctrl-C, ``--resume``) are ``benchmarks/bench_sweep_survival.py``; here the same code
paths are driven inline or with a stand-in client: per-point timeout and exception recorded in
the row, ``--resume`` running only the missing points, Ctrl-C keeping the finished points with
exit 130, a lost cluster giving one error line with exit 1, and points that need no file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

import simulator.studies.sweep_runner as runner
from simulator.cli import main

SCENARIO = """\
name: surv
topology: dgx-a100
model: {name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}
strategy: {tp: 2}
training: {global_batch: 8, micro_batch: 1, seq_len: 256}
"""
VARY = ["--vary", "strategy.tp=1,2,4"]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    p = tmp_path / "surv.yaml"
    p.write_text(SCENARIO)
    return p


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_point_timeout_and_exception_are_rows(
    scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner._evaluate

    def flaky(payload: dict[str, Any], shown: dict[str, Any], fidelity: str | None) -> Any:
        if shown["strategy.tp"] == 2:
            raise RuntimeError("a bug in one point")
        if shown["strategy.tp"] == 4:
            while True:  # a point that never ends
                pass
        return real(payload, shown, fidelity)

    monkeypatch.setattr(runner, "_evaluate", flaky)
    argv = ["sweep", str(scenario), *VARY, "--scheduler", "inline", "--timeout", "3"]
    code, out, err = _main([*argv, "--json"])
    assert code == 0, err
    rows = {p["set"]["strategy.tp"]: p for p in json.loads(out)["points"]}
    assert "error" not in rows[1]
    assert rows[2]["error_kind"] == "exception" and "a bug in one point" in rows[2]["error"]
    assert rows[4]["error_kind"] == "timeout"


def test_resume_runs_only_the_missing_points(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sweep"
    argv = ["sweep", str(scenario), *VARY, "--scheduler", "inline", "--out", str(out)]
    assert _main(argv)[0] == 0
    files = sorted((out / "points").glob("*.json"))
    assert len(files) == 3
    files[1].unlink()
    calls: list[Any] = []
    real = runner.evaluate_payload

    def counting(*a: Any) -> Any:
        calls.append(a[1])
        return real(*a)

    monkeypatch.setattr(runner, "evaluate_payload", counting)
    code, stdout, err = _main([*argv, "--resume", "--json"])
    assert code == 0, err
    assert calls == [{"strategy.tp": 2}]
    assert len(json.loads(stdout)["points"]) == 3
    # a different sweep in the same DIR is refused, naming --resume
    code, _, err = _main([*argv[:3], "strategy.tp=1,8", *argv[4:], "--resume"])
    assert code == 2 and "--resume" in err and "different sweep" in err


def test_ctrl_c_keeps_finished_points(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner.evaluate_payload
    seen: list[int] = []

    def interrupted(*a: Any) -> Any:
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(runner, "evaluate_payload", interrupted)
    out = tmp_path / "sweep"
    argv = ["sweep", str(scenario), *VARY, "--scheduler", "inline", "--out", str(out)]
    code, _, err = _main(argv)
    assert code == 130
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "1 of 3 points finished" in lines[0], err
    assert len(list((out / "points").glob("*.json"))) == 1
    assert json.loads((out / "sweep.json").read_text())["complete"] is False


class _Future:
    status = "pending"

    def done(self) -> bool:
        return False

    def cancel(self) -> None:
        pass


class _NoWorkers:
    """A client whose cluster lost every worker: nothing ever finishes."""

    def submit(self, *a: Any, **k: Any) -> _Future:
        return _Future()

    def scheduler_info(self, **k: Any) -> dict[str, Any]:
        return {"workers": {}}


def test_lost_cluster_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    def wait(futs: Any, timeout: float, return_when: str) -> Any:
        raise TimeoutError

    monkeypatch.setattr(distributed, "wait", wait)
    monkeypatch.setattr(runner, "POLL_S", 0.01)
    got: list[int] = []
    with pytest.raises(runner.ClusterLost) as err:
        runner.run_points(
            [(0, {"x": 1}, {}, None), (1, None, {}, {"set": {}, "error": "bad"})],
            lambda i, row: got.append(i),
            client=_NoWorkers(),
            fidelity=None,
            timeout_s=None,
            lost_after_s=0.2,
        )
    assert "no worker for 0.2 s" in str(err.value)
    assert got == [1]  # the point that could not be resolved is still a row


def test_points_travel_as_content(scenario: Path, tmp_path: Path) -> None:
    """A resolved point is evaluated after its files are gone, from another directory."""
    payload = runner.point_payload(str(scenario), [], {"strategy.tp": "2"})
    scenario.unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    old = Path.cwd()
    os.chdir(elsewhere)
    try:
        row = runner.evaluate_payload(payload, {"strategy.tp": 2}, None, None)
    finally:
        os.chdir(old)
    assert "error" not in row, row
    assert row["step_time_s"] > 0
    assert not any(isinstance(v, str) and v.endswith("surv.yaml") for v in payload.values()
                   if v is not payload.get("scenario_file"))  # fmt: skip


def test_unreachable_scheduler_is_refused_at_once(scenario: Path) -> None:
    code, _, err = _main(["sweep", str(scenario), *VARY, "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2 and "--scheduler" in err
