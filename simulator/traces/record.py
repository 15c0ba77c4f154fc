"""Launch a recording: one worker process per rank, then write ``manifest.json``.

Without a rig topology the ranks are local processes on loopback (``MASTER_ADDR=127.0.0.1``,
a free port). With one, :func:`simulator.rig.cluster.launch_on_rig` runs rank r inside
emulated host r's network namespace. Either way a failing rank ends the run: the other ranks
are killed (their whole process group) and the error names the rank and its last stderr lines.
No torch import here: the workers import it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.topology import Topology, load_topology
from simulator.traces.manifest_check import is_seconds
from simulator.traces.recipe import RecordConfig

#: Runs ``argv_for_rank(r)`` for every rank inside the emulated rig of a topology, with ``env``
#: added, and returns one finished process per rank (:func:`simulator.rig.cluster.launch_on_rig`;
#: the rig lives in the layer above, so its caller passes it in).
RigLauncher = Callable[
    [Topology, Callable[[int], list[str]], Mapping[str, str], float],
    list[subprocess.CompletedProcess[str]],
]

WORKER_MODULE = "simulator.traces.worker"
MANIFEST_FORMAT = "commsim-trace/1"


class RecordingError(RuntimeError):
    """A recording failed at run time: a rank exited non-zero or timed out (the message names
    it and ends with the last lines of its log). Not a bug of commsim: the CLI reports it in
    one line and exits 1."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_argv(config_path: Path) -> list[str]:
    """The command line of one rank's worker."""
    return [sys.executable, "-m", WORKER_MODULE, str(config_path)]


def _tail(text: str, n: int = 8) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def _kill_all(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)


def launch_local(
    cfg: RecordConfig, config_path: Path, timeout_s: float, env_extra: dict[str, str] | None = None
) -> list[str]:
    """Run every rank as a local process on loopback; return each rank's stderr.

    Each worker gets its own process group so that a failure kills it and its children.

    Raises:
        RuntimeError: a rank failed or the run timed out (all ranks are killed first).
    """
    port = free_port()
    logs = [config_path.parent / f"rank{r}.log" for r in range(cfg.world)]
    procs: list[subprocess.Popen[str]] = []
    handles = []
    try:
        for r in range(cfg.world):
            env = {
                **os.environ,
                **(env_extra or {}),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "WORLD_SIZE": str(cfg.world),
                "OMP_NUM_THREADS": "1",
            }
            fh = logs[r].open("w")
            handles.append(fh)
            procs.append(
                subprocess.Popen(
                    worker_argv(config_path),
                    env=env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + timeout_s
        while True:
            codes = [p.poll() for p in procs]
            bad = [r for r, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                r = bad[0]
                _kill_all(procs)
                raise RecordingError(
                    f"rank {r} exited with status {codes[r]}; all ranks stopped. "
                    f"Last lines of {logs[r]}:\n{_tail(logs[r].read_text())}"
                )
            if all(c == 0 for c in codes):
                break
            if time.monotonic() > deadline:
                _kill_all(procs)
                raise RecordingError(
                    f"recording timed out after {timeout_s:.0f} s; all ranks stopped"
                )
            time.sleep(0.05)
    except BaseException:
        _kill_all(procs)
        raise
    finally:
        for fh in handles:
            fh.close()
    return [lg.read_text() for lg in logs]


def launch_rig(
    cfg: RecordConfig, config_path: Path, topology: str, timeout_s: float, launcher: RigLauncher
) -> None:
    """Run every rank inside its emulated host of the rig ``topology`` (needs root)."""
    topo = load_topology(topology)
    if topo.num_ranks != cfg.world:
        raise InputError(
            f"the rig has {topo.num_ranks} ranks but --world is {cfg.world}", field="--topology"
        )
    argv: Callable[[int], list[str]] = lambda r: worker_argv(config_path)  # noqa: E731
    results = launcher(topo, argv, {"OMP_NUM_THREADS": "1"}, timeout_s)
    for r, res in enumerate(results):
        (config_path.parent / f"rank{r}.log").write_text((res.stdout or "") + (res.stderr or ""))
        if res.returncode != 0:
            raise RecordingError(
                f"rank {r} exited with status {res.returncode} on the rig:\n"
                f"{_tail((res.stdout or '') + (res.stderr or ''))}"
            )


def measure_device(cfg: RecordConfig, config_path: Path, timeout_s: float) -> RecordConfig:
    """Accel mode: measure the layers' device times alone, in one single-threaded process
    before any rank starts (:func:`simulator.traces.accel.measure_device_times`); rewrite the
    config with them and return it.

    Raises:
        RuntimeError: the measuring process failed.
    """
    with tempfile.TemporaryDirectory(prefix="commsim-device-") as tmp:
        times_path = Path(tmp) / "device_times.json"
        res = _run_measure(config_path, times_path, timeout_s)
        if res.returncode != 0:
            raise RecordingError(f"measuring the device times failed:\n{_tail(res.stderr)}")
        times = json.loads(times_path.read_text())
    cfg = RecordConfig.from_dict({**cfg.to_dict(), "device_times": times})
    cfg.write(config_path)  # the times are kept there and in the manifest's config
    return cfg


def _run_measure(
    config_path: Path, times_path: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator.traces.accel", str(config_path), str(times_path)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def record(
    cfg: RecordConfig,
    *,
    topology: str | None = None,
    timeout_s: float = 600.0,
    launcher: RigLauncher | None = None,
) -> dict[str, Any]:
    """Record ``cfg``; write and return the manifest.

    With ``topology`` (a rig topology name) the ranks run inside its emulated hosts, started by
    ``launcher`` (:func:`simulator.rig.cluster.launch_on_rig`); without, as local processes.

    Raises:
        ValueError: ``topology`` without ``launcher``.
        InputError: bad config, or the output directory holds a previous recording.
        RuntimeError: a rank failed (message names it; every rank was stopped).
    """
    if topology and launcher is None:
        raise ValueError("recording on a rig needs its launcher (measure.rig.launch_on_rig)")
    cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("rank*.trace.json")):
        raise InputError(
            "already holds a recording; choose an empty directory", file=str(out), field="--out"
        )
    cfg = RecordConfig.from_dict({**cfg.to_dict(), "out_dir": str(out.resolve())})
    config_path = out / "record_config.json"
    cfg.write(config_path)
    if cfg.device == "accel" and cfg.device_times is None:
        cfg = measure_device(cfg, config_path, timeout_s)
    t0 = time.perf_counter()
    if topology:
        assert launcher is not None
        launch_rig(cfg, config_path, topology, timeout_s, launcher)
    else:
        launch_local(cfg, config_path, timeout_s)
    wall_s = time.perf_counter() - t0
    manifest = build_manifest(cfg, out, topology, wall_s)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def read_rank_steps(path: Path) -> dict[str, Any]:
    """A rank's ``rank{r}.steps.json``: a JSON object whose ``step_times_s`` is a non-empty
    list of finite seconds > 0 and whose ``hostname``/``torch_version`` are strings. A worker
    writes it, but ``record --finalize`` reads what a cluster's nodes left (until 2026-12-06
    ``{}`` was a KeyError traceback, ``"step_times_s": []`` a ZeroDivisionError, and
    ``"hostname": 5`` went into the manifest)."""
    from simulator.traces.jsonfile import read_json_file

    info = read_json_file(path, "steps")
    if not isinstance(info, dict):
        raise InputError("expected a JSON object", file=str(path))
    times = info.get("step_times_s")
    good = isinstance(times, list) and times and all(is_seconds(t) for t in times)
    if not good:
        raise InputError(
            f"expected a non-empty list of step times in seconds (finite, > 0), got "
            f"{str(times)[:60]}",
            file=str(path),
            field="step_times_s",
        )
    for key in ("hostname", "torch_version"):
        if not isinstance(info.get(key, ""), str):
            raise InputError(f"expected a string, got {info[key]!r:.60}", file=str(path), field=key)
    return {**info, "hostname": info.get("hostname", "")}


def build_manifest(
    cfg: RecordConfig, out: Path, topology: str | None, wall_s: float | None
) -> dict[str, Any]:
    """The manifest of a finished recording, from the ranks' ``steps`` files."""
    infos = [read_rank_steps(out / f"rank{r}.steps.json") for r in range(cfg.world)]
    per_rank = [i["step_times_s"] for i in infos]
    n = min(len(t) for t in per_rank)
    slowest = [max(t[k] for t in per_rank) for k in range(n)]
    return {
        "format": MANIFEST_FORMAT,
        "torch_version": infos[0].get("torch_version", ""),
        "backend": cfg.backend.value,
        "world": cfg.world,
        "strategy": cfg.strategy.value,
        "model": cfg.model,
        "model_config": cfg.gpt.to_dict(),
        "topology": topology or f"loopback-{cfg.world}",
        "hostnames": [i["hostname"] for i in infos],
        "steps": cfg.steps,
        "warmup_steps": cfg.warmup_steps,
        "step_times_s": per_rank,
        "measured_step_s": sum(slowest) / len(slowest),
        "measured_step_definition": "mean over measured steps of the slowest rank's step time",
        "num_threads_per_rank": 1,
        "config": cfg.to_dict(),
        "files": {
            "kineto": [f"rank{r}.trace.json" for r in range(cfg.world)],
            "execution_trace": [
                f"rank{r}.et.json" for r in range(cfg.world) if (out / f"rank{r}.et.json").is_file()
            ],
        },
        "record_wall_s": wall_s,
    }
