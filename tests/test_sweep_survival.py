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


class _Done:
    """A future that finished: ``result()`` gives ``row`` or raises ``exc``."""

    status = "finished"

    def __init__(self, row: dict[str, Any] | None = None, exc: Exception | None = None) -> None:
        self.row, self.exc = row, exc

    def done(self) -> bool:
        return True

    def cancel(self) -> None:
        pass

    def result(self, timeout: float) -> dict[str, Any]:
        if self.exc is not None:
            raise self.exc
        assert self.row is not None
        return self.row


class _Cluster:
    """A stand-in client: ``workers`` as ``scheduler_info`` shows them, futures from ``make``."""

    def __init__(self, make: Any, workers: dict[str, dict[str, Any]], status: str = "running"):
        self.make, self.workers, self.status = make, workers, status
        self.restarted: list[str] = []

    def submit(self, fn: Any, payload: Any, shown: dict[str, Any], *a: Any, **k: Any) -> Any:
        return self.make(shown)

    def scheduler_info(self, **k: Any) -> dict[str, Any]:
        return {"workers": self.workers}

    def restart_workers(self, workers: list[str], **k: Any) -> None:
        self.restarted += workers


def _run(client: Any, monkeypatch: pytest.MonkeyPatch, wait: Any, n: int = 2) -> list[int]:
    """``run_points`` of ``n`` points on ``client`` with ``distributed.wait`` replaced."""
    import distributed

    monkeypatch.setattr(distributed, "wait", wait)
    monkeypatch.setattr(runner, "POLL_S", 0.01)
    got: list[int] = []
    runner.run_points(
        [(i, {"x": i}, {"i": i}, None) for i in range(n)],
        lambda i, row: got.append(i),
        client=client,
        fidelity=None,
        timeout_s=None,
        lost_after_s=0.05,
    )
    return got


def test_lost_scheduler_is_one_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask cancels every future when its client loses the scheduler: ClusterLost, not
    FuturesCancelledError (it was an internal error, exit 70, with Dask's traceback)."""
    from distributed.client import FuturesCancelledError

    def cancelled(futs: Any, timeout: float, return_when: str) -> Any:
        raise FuturesCancelledError([])

    client = _Cluster(lambda shown: _Future(), {"w": {"status": "running"}})
    with pytest.raises(runner.ClusterLost, match="lost the Dask scheduler"):
        _run(client, monkeypatch, cancelled)
    # a result whose gather fails once the client has closed: the same one error
    from distributed.comm.core import CommClosedError

    client = _Cluster(lambda shown: _Done(exc=CommClosedError("closed")), {}, status="closed")
    with pytest.raises(runner.ClusterLost, match="lost the Dask scheduler") as err:
        _run(client, monkeypatch, lambda futs, **k: (set(futs), set()))
    assert err.value.done == 0 and err.value.total == 2


def test_paused_workers_are_no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers paused over Dask's memory limit run nothing: the sweep gives up saying so
    (it waited for ever: 100 MB workers, both paused at 80 %)."""

    def nothing(futs: Any, timeout: float, return_when: str) -> Any:
        raise TimeoutError

    paused = {w: {"status": "paused", "last_seen": 1.0} for w in ("a", "b")}
    with pytest.raises(runner.ClusterLost, match="2 paused over Dask's memory limit"):
        _run(_Cluster(lambda shown: _Future(), paused), monkeypatch, nothing)


def test_silent_worker_is_restarted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker whose heartbeat stopped (SIGSTOP, a wedged process) holds its points until
    the scheduler's worker-ttl (5 min): the sweep restarts it after --lost-after, and its
    points run elsewhere (it waited 240+ s for a stopped worker before)."""
    beat = iter(range(10**9))
    workers: dict[str, dict[str, Any]] = {"stopped": {"last_seen": 7.0}, "alive": {}}

    def info(**k: Any) -> dict[str, Any]:
        workers["alive"] = {"last_seen": float(next(beat))}  # its heartbeat moves
        return {"workers": dict(workers)}

    client = _Cluster(lambda shown: _Future(), workers)
    client.scheduler_info = info  # type: ignore[method-assign]
    # never under 10 heartbeats (5 s on 2 workers): the test waits 0.05 s
    assert runner.silent_after_s(0.05, 2) == 5.0 and runner.silent_after_s(60, 1000) == 60
    monkeypatch.setattr(runner, "silent_after_s", lambda lost_after_s, n: lost_after_s)

    def wait(futs: Any, timeout: float, return_when: str) -> Any:
        if not client.restarted:
            raise TimeoutError  # the points wait on the stopped worker
        for f in futs:  # rescheduled and finished elsewhere
            f.status = "finished"
            f.result = lambda timeout, f=f: {"set": {}}
        return set(futs), set()

    assert sorted(_run(client, monkeypatch, wait)) == [0, 1]
    assert client.restarted == ["stopped"]


def test_plan_on_a_lost_cluster_is_one_error(
    scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``plan`` sweeps without ``sweep``'s guard: a lost cluster is one line and exit 1 there
    too (it was an internal error with a traceback, exit 70)."""
    import simulator.studies.capacity as capacity

    def lost(*a: Any, **k: Any) -> Any:
        raise runner.ClusterLost("the Dask cluster has had no worker for 30 s", 0, 3)

    monkeypatch.setattr(capacity, "sweep", lost)
    argv = ["plan", str(scenario), "--target-step", "1s", "--topologies", "dgx-a100"]
    code, _, err = _main([*argv, "--tp", "1,2"])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1 and "no worker for 30 s" in lines[0], err


def _server(greeting: bytes | None) -> tuple[str, Any]:
    """A TCP server on loopback that sends ``greeting`` on accept (None: says nothing, like an
    HTTP port waiting for a request); returns its address and socket."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = srv.accept()
            if greeting is not None:
                conn.sendall(greeting)
            conn.recv(1)  # hold the connection until the client leaves

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{srv.getsockname()[1]}", srv


def test_a_port_that_is_not_a_dask_scheduler_is_refused() -> None:
    """Dask's client waits for ever for the handshake of a server that speaks another protocol
    (a dashboard's HTTP port: 59 s until that server went away): the probe reads the greeting a
    Dask server sends on accept, and refuses a port that says nothing or something else."""
    import struct

    from simulator.core.errors import InputError

    for greeting, said in ((None, "said nothing"), (b"SSH-2.0-OpenSSH_9.6\r\n", "another")):
        address, srv = _server(greeting)
        with srv, pytest.raises(InputError, match=said) as err:
            runner.probe_scheduler(address, timeout_s=0.5)
        assert "not a Dask scheduler" in str(err.value) and err.value.field == "--scheduler"
    address, srv = _server(struct.pack("<QQQ", 40, 1, 24) + b"\x81" * 24)  # Dask's framing
    with srv:
        runner.probe_scheduler(address, timeout_s=0.5)


def test_resume_with_a_longer_timeout_runs_the_timed_out_points(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner._evaluate

    def slow_tp4(payload: dict[str, Any], shown: dict[str, Any], fidelity: str | None) -> Any:
        while shown["strategy.tp"] == 4:  # a point longer than the first run's limit
            pass
        return real(payload, shown, fidelity)

    monkeypatch.setattr(runner, "_evaluate", slow_tp4)
    out = tmp_path / "sweep"
    argv = ["sweep", str(scenario), *VARY, "--scheduler", "inline", "--out", str(out), "--json"]
    code, stdout, err = _main([*argv, "--timeout", "0.5"])
    assert code == 0, err
    assert [p.get("error_kind") for p in json.loads(stdout)["points"]] == [None, None, "timeout"]
    monkeypatch.setattr(runner, "_evaluate", real)
    calls: list[Any] = []
    counting = runner.evaluate_payload
    monkeypatch.setattr(runner, "evaluate_payload", lambda *a: calls.append(a[1]) or counting(*a))
    assert _main([*argv, "--resume", "--timeout", "0.5"])[0] == 0
    assert calls == []  # the same limit: the timed-out point stays as it was
    code, stdout, err = _main([*argv, "--resume", "--timeout", "60"])
    assert code == 0, err
    assert calls == [{"strategy.tp": 4}]
    assert all("error" not in p for p in json.loads(stdout)["points"])


def test_a_result_that_never_comes_over_is_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished point whose result fails to come over while the cluster is fine (it does
    not unpickle on the client) was asked for again at every poll, for ever."""
    client = _Cluster(lambda shown: _Done(exc=ValueError("cannot unpickle")), {"w": {}})
    got: list[int] = []
    rows: list[dict[str, Any]] = []

    def collect(i: int, row: dict[str, Any]) -> None:
        got.append(i)
        rows.append(row)

    import distributed

    monkeypatch.setattr(distributed, "wait", lambda futs, **k: (set(futs), set()))
    runner.run_points([(0, {"x": 0}, {"i": 0}, None)], collect, client=client, fidelity=None,
                      timeout_s=None, lost_after_s=1.0)  # fmt: skip
    assert got == [0] and rows[0]["error_kind"] == "worker"
    assert "cannot fetch the result: ValueError: cannot unpickle" in rows[0]["error"]
