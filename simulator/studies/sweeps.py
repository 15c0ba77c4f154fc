"""Parameter sweeps of a scenario, one simulation per grid point, run on Dask.

``sweep("gpt3-175b-64xa100", [("strategy.pp", ["4", "8"]), ("strategy.tp", ["4", "8"])])``
builds the Cartesian product of the varied fields, applies each point as ``--set`` overrides to
the scenario and simulates it on a Dask cluster: a local one (``scheduler="local"``, one worker
process per core), an existing one (``scheduler="tcp://host:8786"``; its workers need commsim
installed), or in this process without Dask (``scheduler="inline"``, for debugging).

A point that cannot run (degrees that do not fit the topology together) is kept with its
error message: a sweep never stops at its first impossible combination. A varied value wrong in
itself (``fidelity=flwo``, ``strategy.tp=1.5``: a type, a name, a bound) fails in every point
and is refused before any runs, as is a key none of whose values validates. Each point reports the
step breakdown (seconds per training step), memory per GPU (bytes), the GPUs the topology holds
and, when the GPU's catalog price is known, the cost of one step in US dollars (all of the
topology's GPUs billed for the step; the price is an editable assumption of
``simulator/data/hardware.yaml``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.build import BuiltWorkload
from simulator.config import field_error, load_scenario
from simulator.core.errors import InputError, clipped
from simulator.engine import DeadlockError, StepResult, WorkloadError
from simulator.hardware import get_gpu
from simulator.limits import check_sweep
from simulator.report import progress
from simulator.resources import resolve
from simulator.safeyaml import load_yaml_text
from simulator.studies.scenario import simulate_scenario
from simulator.studies.sweep_runner import Survival, point_payload, probe_scheduler, run_points
from simulator.topology import Topology

#: Results of one point that are copied from ``commsim run``'s payload (seconds per step).
STEP_FIELDS = ("step_time_s", "compute_s", "comm_s", "exposed_comm_s", "bubble_s")


def parse_vary(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["strategy.pp=4,8"]`` -> ``[("strategy.pp", ["4", "8"])]`` (values kept as text).

    Raises:
        InputError: not ``KEY=V1,V2,...``, an empty value, or a key given twice.
    """
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        values = [v.strip() for v in text.split(",")]
        if not sep or not key or not all(values):
            raise InputError(f"expected KEY=V1,V2,..., got {item!r}", field="--vary")
        if key in seen:
            raise InputError(f"{key} is varied twice", field="--vary")
        for v in values:  # else named "--set KEY" when the point's override failed to parse
            try:
                load_yaml_text(v, "--vary")
            except InputError as exc:
                raise InputError(
                    f"cannot parse value {clipped(repr(v), 60)}: {exc.message} (values are "
                    "split at commas)",
                    field=f"--vary {key}",
                ) from None
        seen.add(key)
        out.append((key, values))
    return out


def grid(vary: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, str]]:
    """Every combination of the varied values, first key slowest (row-major order)."""
    keys = [k for k, _ in vary]
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in vary))
    ]


def _value(text: str) -> Any:

    try:
        return load_yaml_text(text, "--vary")
    except InputError:
        return text


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its overrides and what it gave, or why it cannot run.

    ``set`` maps each varied key to its value (parsed as YAML). A point that ran has the step
    breakdown (``*_s``, seconds per training step), ``memory_per_gpu_B`` (bytes), whether that
    fits the GPU's HBM (None: GPU not in the catalog), ``world`` (ranks of the job), ``gpus``
    (of the topology), ``gpu`` and ``cost_per_step_usd`` (None without a catalog price); a point
    that cannot run has only ``error``. ``verdict`` is set by capacity planning
    (:func:`simulator.studies.capacity.plan`), with the price it used
    (``price_per_gpu_hour_usd``, USD, and ``price_source``; ``cost_per_step_usd`` recomputed
    from it) and why the point won or lost: ``reason``, ``over_memory_B`` (bytes over the GPU's
    HBM, ``hbm_B``; negative: to spare) and ``over_target_s`` (seconds over the target step).
    """

    set: dict[str, Any]
    error: str | None = None
    error_kind: str | None = None
    step_time_s: float = 0.0
    compute_s: float = 0.0
    comm_s: float = 0.0
    exposed_comm_s: float = 0.0
    bubble_s: float = 0.0
    memory_per_gpu_B: float = 0.0
    fits_memory: bool | None = None
    world: int = 0
    gpus: int = 0
    gpu: str = ""
    cost_per_step_usd: float | None = None
    wall_s: float = 0.0
    price_per_gpu_hour_usd: float | None = None
    price_source: str | None = None
    reason: str | None = None
    over_memory_B: float | None = None
    over_target_s: float | None = None
    hbm_B: float | None = None
    verdict: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SweepPoint:
        """The point of a row as the sweep's workers return it (:func:`point_row`, or
        ``{"set", "error", "error_kind"}``)."""
        if "error" in row:
            return cls(set=row["set"], error=str(row["error"]), error_kind=row.get("error_kind"))
        kw = {k: row[k] for k in _POINT_KEYS if k in row}
        return cls(set=row["set"], **kw)

    @property
    def ok(self) -> bool:
        """True when the point ran."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """``{"set", "error"}`` for a point that cannot run, else ``{"set", "step_time_s",
        ..., "wall_s"}``; a planned point (``verdict`` set) adds its price and ``reason``
        (only ``reason`` when it cannot run), ``verdict`` last."""
        d: dict[str, Any] = {"set": self.set}
        if self.error is not None:
            d["error"] = self.error
            if self.error_kind is not None:
                d["error_kind"] = self.error_kind
        else:
            d.update({k: getattr(self, k) for k in _POINT_KEYS})
        if self.verdict is not None:
            keys = ("reason",) if self.error is not None else _PLAN_KEYS
            d.update({k: getattr(self, k) for k in keys})
            d["verdict"] = self.verdict
        return d


_POINT_KEYS = (
    *STEP_FIELDS,
    "memory_per_gpu_B",
    "fits_memory",
    "world",
    "gpus",
    "gpu",
    "cost_per_step_usd",
    "wall_s",
)
#: what capacity planning adds to a point that ran (before its ``verdict``)
_PLAN_KEYS = (
    "price_per_gpu_hour_usd",
    "price_source",
    "reason",
    "over_memory_B",
    "over_target_s",
    "hbm_B",
)


@dataclass(frozen=True)
class SweepResult:
    """Every point of a sweep, in grid order (first varied key slowest).

    ``vary`` maps each varied key to its values (parsed as YAML); ``wall_s`` is the sweep's
    wall-clock seconds; ``plot`` the PNG ``commsim sweep --plot`` drew (None: none).
    """

    scenario: str
    scenario_file: str
    vary: dict[str, list[Any]]
    scheduler: str
    points: tuple[SweepPoint, ...]
    wall_s: float
    total_points: int = 0
    plot: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SweepResult:
        """The result of a sweep's JSON object (rows as the workers return them)."""
        return cls(
            scenario=d["scenario"],
            scenario_file=d["scenario_file"],
            vary=d["vary"],
            scheduler=d["scheduler"],
            points=tuple(SweepPoint.from_row(r) for r in d["points"]),
            wall_s=d["wall_s"],
            total_points=d.get("total_points", len(d["points"])),
            plot=d.get("plot"),
        )

    def to_json(self) -> dict[str, Any]:
        """``{"scenario", "scenario_file", "vary", "scheduler", "points", "total_points",
        "wall_s"}``, and ``"plot"`` when one was drawn."""
        d: dict[str, Any] = {
            "scenario": self.scenario,
            "scenario_file": self.scenario_file,
            "vary": self.vary,
            "scheduler": self.scheduler,
            "points": [p.to_json() for p in self.points],
            "total_points": self.total_points,
            "wall_s": self.wall_s,
        }
        if self.plot is not None:
            d["plot"] = self.plot
        return d


def evaluate_point(
    scenario: str, base: Sequence[str], point: dict[str, str], fidelity: str | None
) -> SweepPoint:
    """Simulate one grid point (runs on a Dask worker; what goes in is plain data).

    Args:
        scenario: path of the scenario YAML.
        base: ``KEY=VALUE`` overrides common to every point.
        point: the point's ``{key: value text}``.
        fidelity: collective fidelity override, or None for the scenario's.
    """

    shown = {k: _value(v) for k, v in point.items()}
    t0 = time.perf_counter()
    try:
        overrides = [*base, *(f"{k}={v}" for k, v in point.items())]
        sim = simulate_scenario(load_scenario(scenario, overrides), fidelity=fidelity)
    except (InputError, WorkloadError, DeadlockError) as err:
        return SweepPoint(set=shown, error=str(err))
    row = point_row(shown, sim.built, sim.result, sim.topology)
    row["wall_s"] = time.perf_counter() - t0
    return SweepPoint.from_row(row)


def point_row(
    shown: dict[str, Any], built: BuiltWorkload, result: StepResult, topo: Topology
) -> dict[str, Any]:
    """The row of one simulated point (seconds per step, bytes, US dollars per step): what
    :meth:`SweepPoint.from_row` reads, inline and on Dask workers alike."""
    gpu = str(built.metadata.get("gpu", ""))  # the GPU the build priced
    try:
        spec = get_gpu(gpu)
        price: float | None = spec.price_per_gpu_hour_usd
        hbm_B: float | None = spec.hbm_B
    except InputError:
        price = hbm_B = None
    mem_B = float(built.memory_per_gpu_B.get("total", 0.0))
    gpus = int(topo.num_ranks)
    out: dict[str, Any] = {"set": shown}
    out.update({k: float(getattr(result, k)) for k in STEP_FIELDS})
    out.update(
        {
            "memory_per_gpu_B": mem_B,
            # the estimate against the GPU's HBM; None when the GPU is not in the catalog
            "fits_memory": None if hbm_B is None else mem_B <= hbm_B,
            "world": int(result.world),
            "gpus": gpus,
            "gpu": gpu,
            "cost_per_step_usd": (
                None if price is None else gpus * float(result.step_time_s) / 3600.0 * price
            ),
        }
    )
    return out


def sweep(
    scenario: str,
    vary: Sequence[tuple[str, Sequence[str]]],
    base: Sequence[str] = (),
    *,
    scheduler: str = "local",
    workers: int | None = None,
    fidelity: str | None = None,
    survival: Survival | None = None,
) -> SweepResult:
    """Simulate every point of the grid; results in grid order.

    Args:
        scenario: shipped scenario name or YAML path.
        vary: ``[(key, [value text, ...]), ...]`` from :func:`parse_vary`.
        base: ``KEY=VALUE`` overrides applied to every point (before the point's own).
        scheduler: ``"local"`` (a new Dask LocalCluster), ``"inline"`` (no Dask), or the
            address of a running Dask scheduler.
        workers: worker processes of the local cluster (default: CPU cores, at most points).
        fidelity: collective fidelity override.
        survival: per-point timeout, the point store (finished points written as they
            complete, points it holds skipped: ``--resume``) and how long the cluster may have
            no worker (:class:`simulator.studies.sweep_runner.Survival`; default: none, 30 s).

    Returns:
        The :class:`SweepResult` (points in grid order; a ``--resume``'d sweep includes the
        points its store held).

    Raises:
        InputError: the scenario cannot be found or is invalid before any point is applied.
        ClusterLost, KeyboardInterrupt: with ``.partial`` set to the JSON object of the points
            finished so far (also on disk when ``store`` is given).
    """
    check_sweep(vary, workers, field="vary")  # the CLI names its flags first; notebooks here
    survival = survival or Survival()
    store = survival.store
    path = str(resolve("scenarios", scenario, what="scenario"))
    _check_keys(path, base, vary)
    points = grid(vary)
    if not points:
        raise InputError("nothing to sweep: give at least one --vary KEY=V1,V2", field="--vary")
    t0 = time.perf_counter()
    rows: dict[int, dict[str, Any]] = (
        dict(store.done(points, survival.timeout_s)) if store is not None else {}
    )
    progress.set_total(len(points), f"{len(points)} points of {Path(path).stem}")

    def on_result(index: int, row: dict[str, Any]) -> None:
        progress.advance()
        rows[index] = row
        if store is not None:
            store.write(index, row)

    jobs = _jobs(path, base, points, set(rows))

    def result() -> dict[str, Any]:
        return {
            "scenario": scenario,
            "scenario_file": str(Path(path)),
            "vary": {k: [_value(v) for v in vals] for k, vals in vary},
            "scheduler": scheduler,
            "points": [rows[i] for i in sorted(rows)],
            "total_points": len(points),
            "wall_s": time.perf_counter() - t0,
        }

    try:
        with _client(scheduler, workers, len(jobs)) as client:
            run_points(
                jobs,
                on_result,
                client=client,
                fidelity=fidelity,
                timeout_s=survival.timeout_s,
                lost_after_s=survival.lost_after_s,
            )
    except BaseException as exc:  # KeyboardInterrupt, ClusterLost: keep what finished
        exc.partial = result()  # type: ignore[attr-defined]
        raise
    return SweepResult.from_json(result())


def _check_keys(path: str, base: Sequence[str], vary: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Fail fast on the base; refuse a varied key none of whose values validates."""

    load_scenario(path, list(base))  # with its file and field
    fixed = {item.partition("=")[0].strip() for item in base}
    for key, _ in vary:
        if key in fixed:  # the varied values replaced the --set one, unsaid
            raise InputError(
                f"{key} is both varied and set with --set; give it in one of the two",
                field="--vary",
            )
    for key, values in vary:
        # a key no value of which validates (a typo, a wrong type) is an input error, not a
        # grid of failed points; values that fail only in some points are kept as points
        errors = []
        for v in values:
            try:
                load_scenario(path, [*base, f"{key}={v}"])
            except InputError as err:
                errors.append(err)
                alone = field_error(path, [*base, f"{key}={v}"])
                if alone is not None and alone.field == key:
                    # wrong in itself (`fidelity=flwo`, `strategy.tp=1.5`): every point that
                    # holds it fails alike; refused now, not kept as points that cannot run.
                    # Named as the flag that gave it (the file holds another value)
                    raise InputError(alone.message, field=f"--vary {key}") from None
        if len(errors) == len(values):
            raise errors[0]


def _jobs(
    path: str, base: Sequence[str], points: Sequence[dict[str, str]], done: set[int]
) -> list[tuple[int, dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]]:
    """Each point not in ``done`` resolved to content, or to its error row (a bad value)."""

    jobs: list[tuple[int, dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]] = []
    for i, p in enumerate(points):
        if i in done:
            continue
        shown = {k: _value(v) for k, v in p.items()}
        try:
            jobs.append((i, point_payload(path, list(base), p), shown, None))
        except InputError as err:
            jobs.append((i, None, shown, {"set": shown, "error": str(err), "error_kind": "input"}))
    return jobs


@contextlib.contextmanager
def _client(scheduler: str, workers: int | None, n_points: int) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (``None`` for ``inline`` or nothing to run)."""
    if scheduler == "inline" or n_points == 0:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            "Dask is not installed: pip install 'commsim[sweep]', or use --scheduler inline",
            field="--scheduler",
        ) from None

    # Dask logs a lost worker and each rescheduled key as warnings; the sweep reports those
    # itself in one line (a lost cluster) or not at all (a point recomputed elsewhere)
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.ERROR)
    # a gather abandoned when its worker died ends, at exit, as asyncio's "Task exception was
    # never retrieved": the sweep has already said what happened
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    # a lost scheduler is logged as "Failed to reconnect ... closing client": the sweep says it
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    if scheduler == "local":
        n = min(workers or os.cpu_count() or 1, n_points)  # no worker without a point
        with _quiet_port_warning():
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
        with cluster, Client(cluster) as client:
            yield client
        return

    probe_scheduler(scheduler)
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"cannot reach the Dask scheduler: {err}", field="--scheduler") from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=5)


@contextlib.contextmanager
def _quiet_port_warning() -> Iterator[None]:
    """Silence Dask's "Port 8787 is already in use" (its scheduler's HTTP server binds that
    port even with no dashboard, and takes another when a second Dask runs on the machine):
    a sweep's stderr says only what went wrong with the sweep."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        yield
