"""A real Dask cluster on loopback for the sweep survival checks (benchmarks and tests).

:class:`LoopbackCluster` starts ``dask scheduler`` and N ``dask worker`` processes as separate
programs (each in its own process group, so a worker and its nanny die together), the second
worker in a different working directory, and can kill workers one by one. The scenario used by
the checks lives in a temporary directory with its own topology file, referenced by a relative
path: only the client's working directory can resolve it, so a point that travelled as a path
would fail on the workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
DASK = str(BIN / "dask")
COMMSIM = str(BIN / "commsim")

#: A topology file beside the scenario (not shipped): 4 hosts on one 10 GbE switch.
TOPOLOGY = """\
name: survival-4
build: {type: cluster, nodes: 4, node: pcie, gpus_per_node: 2, nics_per_node: 1, gpu: A100-80GB,
        nic: eth_10g}
"""

#: Points of ~0.2-1 s each on one core: the parameter-server steps vary the simulated time.
SCENARIO = """\
name: survival
topology: survival-4.yaml
backend: nccl
fidelity: flow
model: {name: gpt-1.3b, layers: 24, hidden: 2048, heads: 16}
strategy: {kind: parameter_server, parameter_server: {servers: 2, steps: 2}}
training: {global_batch: 64, micro_batch: 1, seq_len: 1024}
"""


def write_inputs(folder: Path) -> Path:
    """Write the scenario and its topology into ``folder``; return the scenario path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "survival-4.yaml").write_text(TOPOLOGY)
    (folder / "survival.yaml").write_text(SCENARIO)
    return folder / "survival.yaml"


class LoopbackCluster:
    """``dask scheduler`` + workers on 127.0.0.1, started as separate process groups."""

    def __init__(self, base: Path, n_workers: int = 2) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.sched_file = base / "scheduler.json"
        self.env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.env.pop("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", None)
        self.scheduler = self._spawn(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(self.sched_file)],
            base,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self.sched_file.is_file():
            if time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.2)
        time.sleep(0.3)
        self.address = json.loads(self.sched_file.read_text())["address"]
        self.workers: list[subprocess.Popen[bytes]] = []
        for i in range(n_workers):
            cwd = base / f"worker{i}-elsewhere"  # not the client's directory
            cwd.mkdir(exist_ok=True)
            self.workers.append(
                self._spawn(
                    [
                        DASK,
                        "worker",
                        self.address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(cwd),
                    ],
                    cwd,
                )
            )
        self.wait_workers(n_workers)

    def _spawn(self, argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
        log = open(cwd / f"{Path(argv[1]).name}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        return subprocess.Popen(
            argv, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_workers(self, n: int, timeout_s: float = 90.0) -> None:
        """Block until the scheduler reports ``n`` workers."""
        from distributed import Client

        with Client(self.address, timeout="20s") as c:
            c.wait_for_workers(n, timeout=timeout_s)

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker ``i`` and its nanny (the whole process group)."""
        p = self.workers[i]
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)

    def stop_worker(self, i: int) -> None:
        """SIGSTOP worker ``i``'s processes (its nanny's children): a hung worker whose
        connections stay open and whose heartbeat stops."""
        import psutil

        for child in psutil.Process(self.workers[i].pid).children(recursive=True):
            child.send_signal(signal.SIGSTOP)

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler."""
        if self.scheduler.poll() is None:
            os.killpg(self.scheduler.pid, signal.SIGKILL)
            self.scheduler.wait(timeout=10)

    def close(self) -> None:
        """Stop everything this cluster started."""
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def start_sweep(
    scenario: Path, address: str, out: Path, points: int, *extra: str
) -> subprocess.Popen[str]:
    """``commsim sweep`` on the cluster as a subprocess in the scenario's directory."""
    values = ",".join(str(k) for k in range(1, points + 1))
    argv = [COMMSIM, "sweep", scenario.name, "--vary",
            f"strategy.parameter_server.steps={values}", "--scheduler", address,
            "--out", str(out), "--json", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen(
        argv, cwd=scenario.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def points_done(out: Path) -> int:
    """Point files written so far in ``out``."""
    return len(list((out / "points").glob("*.json")))


def wait_points(out: Path, n: int, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    """Block until ``out`` holds ``n`` point files (or the sweep ended)."""
    deadline = time.monotonic() + timeout_s
    while points_done(out) < n and proc.poll() is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{out}: fewer than {n} points after {timeout_s} s")
        time.sleep(0.1)
