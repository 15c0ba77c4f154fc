"""Running sweep points so that a sweep survives: content, not paths; results as they come.

* **Points travel as content.** :func:`point_payload` resolves a point on the client into
  plain data: the validated scenario (every override applied), the topology's parsed YAML and
  the backend profile. A worker rebuilds them with :func:`evaluate_payload` and reads no file,
  so workers on other machines (or in another directory) need no shared filesystem.
* **Every point ends in a row.** An exception inside a point is caught and recorded in its row
  (``error``, ``error_kind``); a point over its ``timeout_s`` is stopped and recorded as
  ``error_kind: timeout``. Neither aborts the sweep.
* **Results are kept as they complete.** :func:`run_points` collects futures with
  ``as_completed`` and hands each finished row to ``on_result`` at once (the CLI writes it to
  ``DIR/points/NNNNN.json``, atomically), so Ctrl-C or a lost cluster keeps every finished
  point, and ``--resume`` skips them.
* **A lost cluster is one clear error.** When the scheduler has had no worker for
  ``lost_after_s`` seconds (workers paused over Dask's memory limit count as none), or the
  client has lost the scheduler (Dask cancels every future: ``FuturesCancelledError``),
  :class:`ClusterLost` is raised with the count of finished points.
* **A hung worker is restarted.** A worker whose heartbeat has not moved for
  :func:`silent_after_s` (``lost_after_s``, at least 10 heartbeats; stopped, wedged) is
  restarted through its nanny (removed without one), so its points run elsewhere; the
  scheduler's own ``worker-ttl`` would wait 5 minutes.

The per-point timeout stops a pure-Python computation by raising :class:`PointTimeout` in the
thread that runs it (``PyThreadState_SetAsyncExc``, checked between bytecodes: the simulator's
event loop is Python, so it is reached within milliseconds). A point blocked in one long C call
is stopped when that call returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from simulator.build import build_workload
from simulator.collectives import load_backend
from simulator.config import load_scenario, scenario_from_dict
from simulator.core.errors import InputError
from simulator.core.suggest import closest
from simulator.engine import simulate
from simulator.engine.errors import SimulationError
from simulator.limits import check_scenario
from simulator.report import progress
from simulator.resources import resolve
from simulator.safeyaml import load_yaml_file
from simulator.topology.loader import topology_from_dict
from simulator.topology.whatif import scale_links

#: How often the client checks the cluster while waiting for points (seconds).
POLL_S: Final[float] = 1.0
#: How long to wait for a finished point's result to come over from its worker (seconds).
GATHER_S: Final[float] = 10.0
#: Failed fetches of one finished point's result (not timeouts) before it becomes an error row.
GATHER_TRIES: Final[int] = 3


@dataclass(frozen=True)
class Survival:
    """How a sweep survives: ``timeout_s`` per point (``None``: no limit), ``store`` (a
    :class:`~simulator.sweep_store.SweepStore` or ``None``), ``lost_after_s`` without a worker
    before giving up."""

    timeout_s: float | None = None
    store: Any | None = None
    lost_after_s: float = 30.0


class PointTimeout(Exception):
    """Raised inside a point that ran past its timeout."""


class ClusterLost(RuntimeError):
    """The Dask cluster went away (no worker, or no scheduler) with points unfinished."""

    def __init__(self, message: str, done: int, total: int) -> None:
        super().__init__(message)
        self.done = done
        self.total = total


# --------------------------------------------------------------------------- content


def point_payload(scenario_path: str, base: Sequence[str], point: dict[str, str]) -> dict[str, Any]:
    """Resolve one point on the client into plain, picklable content.

    Returns ``{"scenario": dict, "topology": dict, "topology_file": str, "backend": profile}``;
    raises :class:`InputError` when the point's overrides do not validate (the caller records
    that in the point's row).
    """

    overrides = [*base, *(f"{k}={v}" for k, v in point.items())]
    sc = load_scenario(scenario_path, overrides)
    topo_path = resolve("topologies", sc.topology, what="topology")
    try:
        backend = load_backend(str(sc.backend))
    except InputError as err:
        raise InputError(str(err), file=sc.source_file, field="backend") from None
    return {
        "scenario": sc.model_dump(mode="json"),
        "scenario_file": sc.source_file,
        "topology": load_yaml_file(topo_path),
        "topology_file": str(topo_path),
        "topology_name": topo_path.stem,
        "backend": backend,
    }


def evaluate_payload(
    payload: dict[str, Any], shown: dict[str, Any], fidelity: str | None, timeout_s: float | None
) -> dict[str, Any]:
    """Simulate one resolved point (on a worker); never raises: errors go into the row."""
    t0 = time.perf_counter()
    try:
        with _deadline(timeout_s):
            row = _evaluate(payload, shown, fidelity)
    except PointTimeout:
        return {
            "set": shown,
            "error": f"timed out after {timeout_s:g} s",
            "error_kind": "timeout",
            "timeout_s": timeout_s,  # a --resume with a longer --timeout runs it again
        }
    except InputError as err:
        return {"set": shown, "error": str(err), "error_kind": "input"}
    except Exception as err:  # a bug or a simulation failure: recorded, the sweep goes on
        kind = "simulation" if isinstance(err, SimulationError) else "exception"
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        return {"set": shown, "error": tb, "error_kind": kind}
    row["wall_s"] = time.perf_counter() - t0
    return row


def _evaluate(
    payload: dict[str, Any], shown: dict[str, Any], fidelity: str | None
) -> dict[str, Any]:
    from simulator.studies.sweeps import point_row

    file = str(payload.get("scenario_file") or "<sweep point>")
    sc = scenario_from_dict(payload["scenario"], file=file)
    topo = topology_from_dict(
        payload["topology"], file=payload["topology_file"], default_name=payload["topology_name"]
    )
    topo = scale_links(topo, sc.network.bandwidth_scale, sc.network.latency_scale, file=file)
    check_scenario(sc, int(topo.num_ranks), file=file)
    built = build_workload(sc, topo)
    result = simulate(
        built.workload,
        topo,
        backend=payload["backend"],
        fidelity=fidelity or str(sc.fidelity),
        compute_model=built.compute_model,
        record=False,
    )
    return point_row(shown, built, result, topo)


# --------------------------------------------------------------------------- timeout


class _deadline:
    """Raise :class:`PointTimeout` in this thread after ``timeout_s`` (``None``: never)."""

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self._thread_id = threading.get_ident()

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._thread_id), ctypes.py_object(PointTimeout)
                )

    def __enter__(self) -> _deadline:
        if self.timeout_s is not None:
            self._timer = threading.Timer(self.timeout_s, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()


# --------------------------------------------------------------------------- running


def run_points(
    jobs: Sequence[tuple[int, dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]],
    on_result: Callable[[int, dict[str, Any]], None],
    *,
    client: Any | None,
    fidelity: str | None,
    timeout_s: float | None,
    lost_after_s: float,
) -> None:
    """Evaluate ``jobs`` (``(index, payload or None, shown values, error row or None)``).

    ``client``: a ``distributed.Client``, or ``None`` to run inline in this process. Each row
    is passed to ``on_result(index, row)`` as soon as it exists.

    Raises:
        ClusterLost: no worker for ``lost_after_s`` seconds, or the scheduler went away.
        KeyboardInterrupt: Ctrl-C (finished rows were already handed over).
    """
    todo = []
    for index, payload, shown, error_row in jobs:
        if error_row is not None or payload is None:
            on_result(index, error_row or {"set": shown, "error": "cannot resolve point"})
        else:
            todo.append((index, payload, shown))
    if client is None:
        for index, payload, shown in todo:
            on_result(index, evaluate_payload(payload, shown, fidelity, timeout_s))
        return
    _run_on_dask(todo, on_result, client, fidelity, timeout_s, lost_after_s)


def _run_on_dask(
    todo: Iterable[tuple[int, dict[str, Any], dict[str, Any]]],
    on_result: Callable[[int, dict[str, Any]], None],
    client: Any,
    fidelity: str | None,
    timeout_s: float | None,
    lost_after_s: float,
) -> None:
    items = list(todo)
    futures = {}
    try:
        for index, payload, shown in items:
            fut = client.submit(
                evaluate_payload, payload, shown, fidelity, timeout_s, pure=False,
                key=f"commsim-point-{index}-{time.monotonic_ns()}",
            )  # fmt: skip
            futures[fut] = index
        watch = _Watch(client, lost_after_s, len(items))
        pending = set(futures)
        while pending:
            for fut in _wait_some(pending, watch):
                row = _row_of(fut, items_shown(items, futures[fut]), watch)
                if row is not None:
                    pending.discard(fut)
                    on_result(futures[fut], row)
                    watch.done += 1
            if pending:
                watch.check()
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()


def _wait_some(pending: set[Any], watch: _Watch) -> set[Any]:
    """The futures of ``pending`` that finished within :data:`POLL_S` (maybe none).

    Raises:
        ClusterLost: Dask cancelled them (the client lost its scheduler).
    """
    from distributed import wait

    try:
        finished, _ = wait(list(pending), timeout=POLL_S, return_when="FIRST_COMPLETED")
    except TimeoutError:
        return set()
    except Exception as exc:  # FuturesCancelledError: reason scheduler-connection-lost
        raise watch.lost_scheduler(exc) from None
    return set(finished)


def _row_of(fut: Any, shown: dict[str, Any], watch: _Watch) -> dict[str, Any] | None:
    """The row of a finished future, or ``None`` while its result cannot be had yet.

    Raises:
        ClusterLost: the future was cancelled or lost, or its result cannot be gathered and
            the client has lost its scheduler.
    """
    if fut.status == "error":  # e.g. the worker died under it several times (KilledWorker)
        exc = fut.exception()
        return {"set": shown, "error": f"{type(exc).__name__}: {exc}", "error_kind": "worker"}
    if fut.status != "finished":  # cancelled or lost: only a lost scheduler does that to ours
        raise watch.lost_scheduler(f"point {fut.status}")
    try:
        # the result lives on a worker: if that worker just died, Dask reschedules the point
        # and result() would wait for it for ever
        row: dict[str, Any] = fut.result(timeout=GATHER_S)
    except TimeoutError:
        return None  # recomputed later, or the cluster is lost
    except Exception as exc:  # CommClosedError, CancelledError: the worker or scheduler went
        if not watch.connected():
            raise watch.lost_scheduler(exc) from None
        # a worker that went: the point is recomputed; a result that never comes over (it
        # does not unpickle here) would be asked for for ever: a row after a few tries
        failures = watch.gather_failures[fut] = watch.gather_failures.get(fut, 0) + 1
        if failures < GATHER_TRIES:
            return None
        text = f"cannot fetch the result: {type(exc).__name__}: {exc}"
        return {"set": shown, "error": text, "error_kind": "worker"}
    return row


def silent_after_s(lost_after_s: float, n_workers: int) -> float:
    """Seconds without a heartbeat after which a worker counts as hung: ``lost_after_s``, but
    never under 10 heartbeats (Dask's own floor for its ``worker-ttl``: workers beat every
    0.5 s up to 10 workers, 1 s up to 50, more on larger clusters)."""
    from distributed.scheduler import heartbeat_interval

    return max(lost_after_s, 10 * float(heartbeat_interval(n_workers)))


def _status(info: Any) -> str:
    """A worker's status in ``scheduler_info()`` (``running``, ``paused``, ...)."""
    return str(info.get("status", "running")) if isinstance(info, dict) else "running"


class _Watch:
    """The client's view of its cluster between polls: points done, since when the cluster
    has had no worker, and when each worker's heartbeat (``last_seen``) last moved (seconds of
    this process's monotonic clock).

    A worker whose heartbeat has not moved for :func:`silent_after_s` (a stopped or wedged
    process: a busy point does not stop the heartbeat, which runs in the worker's own thread)
    is restarted through its nanny, or removed, so that Dask runs its points elsewhere; the
    scheduler's own ``worker-ttl`` would wait 5 minutes.
    """

    def __init__(self, client: Any, lost_after_s: float, total: int) -> None:
        self.client = client
        self.lost_after_s = lost_after_s
        self.total = total
        self.done = 0
        self.no_worker_since: float | None = None
        self.not_running_since: float | None = None
        self.beats: dict[str, tuple[Any, float]] = {}
        self.gather_failures: dict[Any, int] = {}

    def connected(self) -> bool:
        """False once the client has closed, or has been reconnecting for ``lost_after_s``."""
        status = str(getattr(self.client, "status", "running"))
        if status == "running":
            self.not_running_since = None
            return True
        now = time.monotonic()
        self.not_running_since = self.not_running_since or now
        return status == "connecting" and now - self.not_running_since <= self.lost_after_s

    def lost_scheduler(self, why: BaseException | str) -> ClusterLost:
        """The :class:`ClusterLost` of a client that lost its scheduler, saying ``why``."""
        text = why if isinstance(why, str) else type(why).__name__
        return ClusterLost(f"lost the Dask scheduler ({text})", self.done, self.total)

    def check(self) -> None:
        """Raise :class:`ClusterLost` when the scheduler is gone or has had no worker for
        ``lost_after_s``; restart workers whose heartbeat stopped."""
        if not self.connected():
            raise self.lost_scheduler(f"client {getattr(self.client, 'status', '?')}")
        try:
            workers = dict(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception as exc:  # the scheduler itself is gone
            raise self.lost_scheduler(exc) from None
        now = time.monotonic()
        # a worker paused over its memory limit runs nothing until its memory drops
        paused = sum(_status(info) == "paused" for info in workers.values())
        if paused == len(workers):
            self.no_worker_since = self.no_worker_since or now
            if now - self.no_worker_since > self.lost_after_s:
                raise ClusterLost(self._no_worker(paused), self.done, self.total)
        else:
            self.no_worker_since = None
        self._restart_silent(workers, now)

    def _no_worker(self, paused: int) -> str:
        """Why the cluster is lost when none of its workers (``paused`` of them paused) runs."""
        if not paused:
            return f"the Dask cluster has had no worker for {self.lost_after_s:g} s"
        return (
            f"the Dask cluster has had no running worker for {self.lost_after_s:g} s "
            f"({paused} paused over Dask's memory limit: give the workers more memory)"
        )

    def _restart_silent(self, workers: dict[str, Any], now: float) -> None:
        """Restart (or remove) each worker whose ``last_seen`` has not moved for
        :func:`silent_after_s` seconds (``lost_after_s``, at least 10 heartbeats)."""
        silent = []
        silent_after = silent_after_s(self.lost_after_s, len(workers))
        for addr, info in workers.items():
            seen = info.get("last_seen") if isinstance(info, dict) else None
            old = self.beats.get(addr)
            if old is None or old[0] != seen or seen is None:
                self.beats[addr] = (seen, now)
            elif now - old[1] > silent_after:
                silent.append(addr)
        self.beats = {a: b for a, b in self.beats.items() if a in workers and a not in silent}
        if silent:
            progress.advance(0, f"restarting {len(silent)} silent Dask worker(s)")
            with contextlib.suppress(Exception):
                self.client.restart_workers(silent, timeout=self.lost_after_s,
                                            raise_for_error=False)  # fmt: skip


def items_shown(items: Sequence[tuple[int, Any, dict[str, Any]]], index: int) -> dict[str, Any]:
    """The ``set`` values of job ``index``."""
    for i, _, shown in items:
        if i == index:
            return shown
    return {}


def probe_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """Refuse at once a scheduler address nobody listens on (Dask would retry for 10 s): a
    ``tcp://host:port``, a bare ``host:port`` (Dask reads it as tcp) or a mistyped scheme
    (``tcp//host:port``, ``tcp:/host:port``), all naming ``--scheduler``."""
    bad = f"not an address like tcp://HOST:PORT (or inline, local): {address!r}"
    if "://" not in address:
        if not re.fullmatch(r"[^:/\s]+:[0-9]+", address):
            word = re.split(r"[:/]", address, maxsplit=1)[0]
            near = closest(word, ["inline", "local", "tcp"])
            hint = {"tcp": "tcp://HOST:PORT"}.get(near, near) if near else ""
            hint = f"; did you mean {hint!r}?" if hint else ""
            raise InputError(bad + hint, field="--scheduler")
        address = f"tcp://{address}"
    if not address.startswith("tcp://"):
        return
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InputError(bad, field="--scheduler") from None
    if not host or port is None:
        raise InputError(bad, field="--scheduler")
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            greeting = _first_bytes(sock, 16)
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}",
            field="--scheduler",
        ) from None
    if not _is_dask_greeting(greeting):
        said = "said nothing" if not greeting else "answered in another protocol"
        raise InputError(
            f"{address} is not a Dask scheduler: it {said} within {timeout_s:g} s (its "
            "dashboard's or another service's port? the scheduler's is usually 8786)",
            field="--scheduler",
        )


def _first_bytes(sock: socket.socket, n: int) -> bytes:
    """Up to ``n`` bytes the peer sends first (fewer if it closes or goes quiet)."""
    got = b""
    try:
        while len(got) < n:
            chunk = sock.recv(n - len(got))
            if not chunk:
                break
            got += chunk
    except TimeoutError:
        pass
    return got


def _is_dask_greeting(data: bytes) -> bool:
    """Whether ``data`` starts like the handshake a Dask TCP server sends as soon as it
    accepts a connection (``distributed.comm.tcp``: an 8-byte little-endian length, then the
    frame count and lengths): Dask's own client would otherwise wait for ever on a server that
    speaks another protocol (an HTTP dashboard waits for a request and says nothing)."""
    if len(data) < 16:
        return False
    total, frames = struct.unpack("<QQ", data[:16])
    return 0 < frames <= 1024 and 0 < total < 2**32
