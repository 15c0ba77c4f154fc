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
  ``lost_after_s`` seconds, or cannot be reached, :class:`ClusterLost` is raised with the count
  of finished points.

The per-point timeout stops a pure-Python computation by raising :class:`PointTimeout` in the
thread that runs it (``PyThreadState_SetAsyncExc``, checked between bytecodes: the simulator's
event loop is Python, so it is reached within milliseconds). A point blocked in one long C call
is stopped when that call returns.
"""

from __future__ import annotations

import ctypes
import difflib
import re
import socket
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
from simulator.engine import simulate
from simulator.engine.errors import SimulationError
from simulator.limits import check_scenario
from simulator.resources import resolve
from simulator.safeyaml import load_yaml_file
from simulator.topology.loader import topology_from_dict
from simulator.topology.whatif import scale_links

#: How often the client checks the cluster while waiting for points (seconds).
POLL_S: Final[float] = 1.0
#: How long to wait for a finished point's result to come over from its worker (seconds).
GATHER_S: Final[float] = 10.0


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
        return {"set": shown, "error": f"timed out after {timeout_s:g} s", "error_kind": "timeout"}
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
    from distributed import wait

    items = list(todo)
    futures = {}
    try:
        for index, payload, shown in items:
            fut = client.submit(
                evaluate_payload, payload, shown, fidelity, timeout_s, pure=False,
                key=f"commsim-point-{index}-{time.monotonic_ns()}",
            )  # fmt: skip
            futures[fut] = index
        pending = set(futures)
        done_count = 0
        no_worker_since: float | None = None
        while pending:
            try:
                finished, _ = wait(list(pending), timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = set()
            for fut in finished:
                pending.discard(fut)
                index = futures[fut]
                if fut.status == "finished":
                    try:
                        # the result lives on a worker: if that worker just died, Dask
                        # reschedules the point and result() would wait for it for ever
                        row = fut.result(timeout=GATHER_S)
                    except TimeoutError:
                        pending.add(fut)  # recomputed later, or the cluster is lost
                        continue
                    on_result(index, row)
                    done_count += 1
                elif fut.status == "error":  # e.g. the worker died under it several times
                    exc = fut.exception()
                    on_result(
                        index,
                        {"set": items_shown(items, index), "error": f"{type(exc).__name__}: {exc}",
                         "error_kind": "worker"},
                    )  # fmt: skip
                    done_count += 1
            if not pending:
                break
            try:
                n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            except Exception as exc:  # the scheduler itself is gone
                raise ClusterLost(
                    f"lost the Dask scheduler ({type(exc).__name__})", done_count, len(items)
                ) from None
            now = time.monotonic()
            if n_workers == 0:
                no_worker_since = no_worker_since or now
                if now - no_worker_since > lost_after_s:
                    raise ClusterLost(
                        f"the Dask cluster has had no worker for {lost_after_s:g} s",
                        done_count,
                        len(items),
                    )
            else:
                no_worker_since = None
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()


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
            near = difflib.get_close_matches(word, ["inline", "local", "tcp"], n=1)
            hint = {"tcp": "tcp://HOST:PORT"}.get(near[0], near[0]) if near else ""
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
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}",
            field="--scheduler",
        ) from None
