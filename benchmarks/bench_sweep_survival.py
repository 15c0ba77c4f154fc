"""Sweeps that survive, on a real Dask cluster on loopback (issue 15, deliver 6).

    PYTHONPATH=$PWD python benchmarks/bench_sweep_survival.py [--points 24]

Starts ``dask scheduler`` + 2 workers (separate processes, each worker in its own directory,
neither in the scenario's), and runs ``commsim sweep`` as a subprocess four times:

1. lose one worker after the first point: the sweep finishes with every point (exit 0);
2. lose both workers after the first point: one error line within 60 s, exit 1, the finished
   points kept on disk;
3. Ctrl-C (SIGINT) after the first point: exit 130, no traceback, finished points kept;
4. ``--resume`` of run 3 on a fresh pair of workers: only the missing points run, exit 0;
5. a hung worker (SIGSTOP) after the first point: restarted after ``--lost-after``, every
   point finishes (exit 0);
6. the scheduler killed after the first point: one error line, exit 1, points kept.

Prints one line per scenario (exit status, seconds, points on disk, stderr lines, traceback
seen) and exits 1 if any expectation fails.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep_cluster import (
    LoopbackCluster,
    points_done,
    start_sweep,
    wait_points,
    write_inputs,
)


def _finish(proc, timeout_s: float = 180) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err


def _report(name: str, ok: bool, **facts: object) -> bool:
    shown = ", ".join(f"{k}={v}" for k, v in facts.items())
    print(f"{'PASS' if ok else 'FAIL'} {name}: {shown}", flush=True)
    return ok


def lose_one(base: Path, scenario: Path, n: int) -> bool:
    """Kill one of two workers after the first point; every point must still finish."""
    cluster = LoopbackCluster(base / "c1")
    try:
        out = base / "lose-one"
        t0 = time.monotonic()
        proc = start_sweep(scenario, cluster.address, out, n)
        wait_points(out, 1, proc)
        cluster.kill_worker(0)
        rc, stdout, err = _finish(proc)
        res = json.loads(stdout) if rc == 0 else {}
        ok_points = [p for p in res.get("points", []) if "error" not in p]
        return _report(
            "lose one of two workers", rc == 0 and len(ok_points) == n and "Traceback" not in err,
            rc=rc, s=round(time.monotonic() - t0, 1), points=f"{len(ok_points)}/{n}",
        )  # fmt: skip
    finally:
        cluster.close()


def lose_both(base: Path, scenario: Path, n: int) -> bool:
    """Kill both workers after the first point: a clear error within 60 s, points kept."""
    cluster = LoopbackCluster(base / "c2")
    try:
        out = base / "lose-both"
        proc = start_sweep(scenario, cluster.address, out, n, "--lost-after", "20")
        wait_points(out, 1, proc)
        t_kill = time.monotonic()
        cluster.kill_worker(0)
        cluster.kill_worker(1)
        rc, _, err = _finish(proc)
        waited = time.monotonic() - t_kill
        lines = [ln for ln in err.splitlines() if ln.strip()]
        kept = points_done(out)
        summary = (
            json.loads((out / "sweep.json").read_text()) if (out / "sweep.json").is_file() else {}
        )
        return _report(
            "lose both workers",
            rc == 1 and waited < 60 and kept >= 1 and len(lines) == 1
            and "Traceback" not in err and summary.get("complete") is False,
            rc=rc, s_after_kill=round(waited, 1), points_on_disk=f"{kept}/{n}",
            stderr_lines=len(lines), first=repr(lines[0][:100] if lines else ""),
            complete=summary.get("complete"),
            stderr=repr(lines[-1][:140] if lines else ""),
        )  # fmt: skip
    finally:
        cluster.close()


def hung_worker(base: Path, scenario: Path, n: int) -> bool:
    """SIGSTOP one of two workers after the first point: the sweep restarts it after
    ``--lost-after`` and finishes every point once (it waited for the scheduler's 5-minute
    worker-ttl before)."""
    cluster = LoopbackCluster(base / "c5")
    try:
        out = base / "hung"
        proc = start_sweep(scenario, cluster.address, out, n, "--lost-after", "10")
        wait_points(out, 1, proc)
        t0 = time.monotonic()
        cluster.stop_worker(0)
        rc, stdout, err = _finish(proc)
        points = json.loads(stdout)["points"] if rc == 0 else []
        ok_points = [p for p in points if "error" not in p]
        return _report(
            "hung worker (SIGSTOP)", rc == 0 and len(ok_points) == n == len(points)
            and "Traceback" not in err,
            rc=rc, s_after_stop=round(time.monotonic() - t0, 1), points=f"{len(ok_points)}/{n}",
        )  # fmt: skip
    finally:
        cluster.close()


def lose_scheduler(base: Path, scenario: Path, n: int) -> bool:
    """SIGKILL the scheduler after the first point: one error line, exit 1, points kept (an
    internal error with Dask's traceback, exit 70, before)."""
    cluster = LoopbackCluster(base / "c6")
    try:
        out = base / "lose-scheduler"
        proc = start_sweep(scenario, cluster.address, out, n)
        wait_points(out, 1, proc)
        t0 = time.monotonic()
        cluster.kill_scheduler()
        rc, _, err = _finish(proc)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        return _report(
            "lose the scheduler", rc == 1 and len(lines) == 1 and "scheduler" in lines[0]
            and points_done(out) >= 1,
            rc=rc, s_after_kill=round(time.monotonic() - t0, 1), stderr_lines=len(lines),
            stderr=repr(lines[-1][:140] if lines else ""),
        )  # fmt: skip
    finally:
        cluster.close()


def interrupt_then_resume(base: Path, scenario: Path, n: int) -> bool:
    """SIGINT after the first point, then ``--resume`` on fresh workers."""
    out = base / "ctrl-c"
    cluster = LoopbackCluster(base / "c3")
    try:
        proc = start_sweep(scenario, cluster.address, out, n)
        wait_points(out, 1, proc)
        proc.send_signal(signal.SIGINT)
        rc, _, err = _finish(proc)
        kept = points_done(out)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        ok1 = _report(
            "Ctrl-C", rc == 130 and kept >= 1 and "Traceback" not in err and len(lines) == 1,
            rc=rc, points_on_disk=f"{kept}/{n}", stderr=repr(lines[-1][:140] if lines else ""),
        )  # fmt: skip
        before = {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
    finally:
        cluster.close()
    cluster = LoopbackCluster(base / "c4")
    try:
        t0 = time.monotonic()
        proc = start_sweep(scenario, cluster.address, out, n, "--resume")
        rc, stdout, err = _finish(proc)
        res = json.loads(stdout) if rc == 0 else {}
        after = {p.name: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
        untouched = all(after.get(k) == v for k, v in before.items())
        ok_points = [p for p in res.get("points", []) if "error" not in p]
        ok2 = _report(
            "--resume", rc == 0 and len(ok_points) == n and untouched,
            rc=rc, s=round(time.monotonic() - t0, 1), points=f"{len(ok_points)}/{n}",
            rerun=n - len(before), kept_files_untouched=untouched,
        )  # fmt: skip
    finally:
        cluster.close()
    return ok1 and ok2


def main() -> int:
    """Run the scenarios; exit status 1 if one failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=24)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="commsim-survival-") as tmp:
        base = Path(tmp)
        scenario = write_inputs(base / "client")
        results = [
            lose_one(base, scenario, args.points),
            lose_both(base, scenario, args.points),
            interrupt_then_resume(base, scenario, args.points),
            hung_worker(base, scenario, args.points),
            lose_scheduler(base, scenario, args.points),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
