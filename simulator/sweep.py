"""Parameter sweeps of a scenario, one simulation per grid point, run on Dask.

``run_sweep("gpt3-175b-64xa100", [("strategy.pp", ["4", "8"]), ("strategy.tp", ["4", "8"])])``
builds the Cartesian product of the varied fields, applies each point as ``--set`` overrides to
the scenario and simulates it on a Dask cluster: a local one (``scheduler="local"``, one worker
process per core), an existing one (``scheduler="tcp://host:8786"``; its workers need commsim
installed), or in this process without Dask (``scheduler="inline"``, for debugging).

A point that cannot run (degrees that do not fit the topology, a bad value) is kept with its
error message: a sweep never stops at its first impossible combination. Each point reports the
step breakdown (seconds per training step), memory per GPU (bytes), the GPUs the topology holds
and, when the GPU's catalog price is known, the cost of one step in US dollars (all of the
topology's GPUs billed for the step; the price is an editable assumption of
``simulator/data/hardware.yaml``).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.core.errors import InputError
from simulator.report import progress
from simulator.resources import resolve

if TYPE_CHECKING:
    from simulator.sweep_runner import Survival

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
    from simulator.safeyaml import load_yaml_text

    try:
        return load_yaml_text(text, "--vary")
    except InputError:
        return text


def evaluate_point(
    scenario: str, base: Sequence[str], point: dict[str, str], fidelity: str | None
) -> dict[str, Any]:
    """Simulate one grid point (runs on a Dask worker; everything in and out is plain data).

    Args:
        scenario: path of the scenario YAML.
        base: ``KEY=VALUE`` overrides common to every point.
        point: the point's ``{key: value text}``.
        fidelity: collective fidelity override, or None for the scenario's.

    Returns:
        ``{"set": {...}, "step_time_s", ..., "memory_per_gpu_B", "fits_memory", "world",
        "gpus", "gpu", "cost_per_step_usd", "wall_s"}``, or ``{"set": {...}, "error": "..."}``.
    """
    from simulator.build import build_workload
    from simulator.config import load_scenario
    from simulator.engine import DeadlockError, WorkloadError, simulate
    from simulator.topology import load_topology
    from simulator.topology.whatif import scale_links

    shown = {k: _value(v) for k, v in point.items()}
    t0 = time.perf_counter()
    try:
        overrides = [*base, *(f"{k}={v}" for k, v in point.items())]
        sc = load_scenario(scenario, overrides)
        topo = scale_links(
            load_topology(sc.topology), sc.network.bandwidth_scale, sc.network.latency_scale
        )
        built = build_workload(sc, topo)
        result = simulate(
            built.workload,
            topo,
            backend=str(sc.backend),
            fidelity=fidelity or str(sc.fidelity),
            compute_model=built.compute_model,
            record=False,
        )
    except (InputError, WorkloadError, DeadlockError) as err:
        return {"set": shown, "error": str(err)}
    out = point_row(shown, built, result, topo)
    out["wall_s"] = time.perf_counter() - t0
    return out


def point_row(shown: dict[str, Any], built: Any, result: Any, topo: Any) -> dict[str, Any]:
    """The row of one simulated point (seconds per step, bytes, US dollars per step)."""
    from simulator.hardware import get_gpu

    d = result.to_dict(k_links=0)
    gpu = str(built.metadata.get("gpu", ""))
    try:
        spec = get_gpu(gpu)
        price: float | None = spec.price_per_gpu_hour_usd
        hbm_B: float | None = spec.hbm_B
    except InputError:
        price = hbm_B = None
    mem_B = float(built.memory_per_gpu_B.get("total", 0.0))
    gpus = int(topo.num_ranks)
    out: dict[str, Any] = {"set": shown}
    out.update({k: float(d[k]) for k in STEP_FIELDS})
    out.update(
        {
            "memory_per_gpu_B": mem_B,
            # the estimate against the GPU's HBM; None when the GPU is not in the catalog
            "fits_memory": None if hbm_B is None else mem_B <= hbm_B,
            "world": int(d["world"]),
            "gpus": gpus,
            "gpu": gpu,
            "cost_per_step_usd": (
                None if price is None else gpus * float(d["step_time_s"]) / 3600.0 * price
            ),
        }
    )
    return out


def run_sweep(
    scenario: str,
    vary: Sequence[tuple[str, Sequence[str]]],
    base: Sequence[str] = (),
    *,
    scheduler: str = "local",
    workers: int | None = None,
    fidelity: str | None = None,
    survival: Survival | None = None,
) -> dict[str, Any]:
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
            no worker (:class:`simulator.sweep_runner.Survival`; default: none, 30 s).

    Returns:
        ``{"scenario", "vary", "scheduler", "points": [...], "wall_s"}``.

    Raises:
        InputError: the scenario cannot be found or is invalid before any point is applied.
        simulator.sweep_runner.ClusterLost, KeyboardInterrupt: with ``.partial`` set to the
            result of the points finished so far (also on disk when ``store`` is given).
    """
    from simulator.sweep_runner import Survival, run_points

    survival = survival or Survival()
    store = survival.store

    path = str(resolve("scenarios", scenario, what="scenario"))
    _check_keys(path, base, vary)
    points = grid(vary)
    if not points:
        raise InputError("nothing to sweep: give at least one --vary KEY=V1,V2", field="--vary")
    t0 = time.perf_counter()
    rows: dict[int, dict[str, Any]] = dict(store.done(points)) if store is not None else {}

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
    return result()


def _check_keys(path: str, base: Sequence[str], vary: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Fail fast on the base; refuse a varied key none of whose values validates."""
    from simulator.config import load_scenario

    load_scenario(path, list(base))  # with its file and field
    for key, values in vary:
        # a key no value of which validates (a typo, a wrong type) is an input error, not a
        # grid of failed points; values that fail only in some points are kept as points
        errors = []
        for v in values:
            try:
                load_scenario(path, [*base, f"{key}={v}"])
            except InputError as err:
                errors.append(err)
        if len(errors) == len(values):
            raise errors[0]


def _jobs(
    path: str, base: Sequence[str], points: Sequence[dict[str, str]], done: set[int]
) -> list[tuple[int, dict[str, Any] | None, dict[str, Any], dict[str, Any] | None]]:
    """Each point not in ``done`` resolved to content, or to its error row (a bad value)."""
    from simulator.sweep_runner import point_payload

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
    import logging
    import os

    # Dask logs a lost worker and each rescheduled key as warnings; the sweep reports those
    # itself in one line (a lost cluster) or not at all (a point recomputed elsewhere)
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.ERROR)
    # a gather abandoned when its worker died ends, at exit, as asyncio's "Task exception was
    # never retrieved": the sweep has already said what happened
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    if scheduler == "local":
        n = workers or min(n_points, os.cpu_count() or 1)
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    from simulator.sweep_runner import probe_scheduler

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
