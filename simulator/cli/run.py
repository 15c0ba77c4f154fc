"""``commsim run SCENARIO``: simulate one training step of a scenario.

Human output: the summary table. ``--json``: one object with ``scenario``, ``step_time_s``,
``compute_s``, ``comm_s``, ``exposed_comm_s``, ``bubble_s``, ``memory_per_gpu_B``,
``busiest_links``, ``reference`` (published figure or null) and more (see :func:`run_payload`).
``--out DIR`` writes ``ops.csv``, ``links.csv``, ``ranks.csv`` (+ ``.parquet``),
``scenario.resolved.yaml``, ``result.json``, ``timeline.json``, ``timeline.png`` and
``links.png``. A scenario with ``compare:`` variants runs each in turn: the JSON object is
the first variant's, with ``variants`` listing all of them, and ``--out`` writes one
sub-directory per variant. DIR must be empty, missing, or an earlier commsim output (it holds
the marker file :data:`MARKER`); anything else is refused with exit status 2 so nothing a user
put there is overwritten.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from simulator.core.errors import InputError

#: File that marks a directory as written by ``commsim run --out``.
MARKER = ".commsim-output"

FIDELITIES = ("analytical", "flow", "chunk")


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    p = subparsers.add_parser(
        "run",
        help="simulate one training step of a scenario",
        description="Simulate one training step of SCENARIO (a shipped name or a YAML path).",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="shipped scenario name or YAML path")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field (dotted key), repeatable",
    )
    p.add_argument("--fidelity", choices=FIDELITIES, help="override the scenario's fidelity")
    p.add_argument("--backend", help="backend profile name or file (overrides the scenario's)")
    p.add_argument("--out", metavar="DIR", help="write tables, timeline and plots into DIR")
    p.add_argument("--links", type=int, default=5, metavar="K", help="busiest links to list")
    p.add_argument(
        "--chakra-out",
        metavar="DIR",
        help="also write the scenario's workload as Chakra ETs into a new or empty DIR",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--steps", type=_positive, metavar="N", help="simulate N perturbed steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the faults' draws (default 0)")
    p.add_argument(
        "--exact-steps",
        action="store_true",
        help="with --steps: simulate every step on the event engine (default: re-time)",
    )
    p.set_defaults(func=run_command)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def check_out_dir(out: Path) -> None:
    """Refuse (InputError) a DIR that is a file, lies under one, or is not empty and lacks the
    commsim marker (unless ``--force``); see :mod:`simulator.outputs`."""
    from simulator.outputs import check_out_dir as check

    check(out, "--out")


def run_command(args: argparse.Namespace) -> int:
    """Load, build, simulate, report (every ``compare:`` variant in turn). Exit status."""
    from simulator.cli import emit_json
    from simulator.config import load_scenario
    from simulator.engine import DeadlockError
    from simulator.outputs import prepare_out_dir, unique_names
    from simulator.report import progress

    if args.links < 0:
        raise InputError(f"must be >= 0, got {args.links}", field="--links")
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out_dir(out)
    chakra = Path(args.chakra_out) if getattr(args, "chakra_out", None) else None
    if chakra is not None and chakra.exists() and (not chakra.is_dir() or any(chakra.iterdir())):
        raise InputError(
            "exists and is not an empty directory; commsim never overwrites it",
            file=str(chakra),
            field="--chakra-out",
        )
    scenario = load_scenario(args.scenario, list(args.overrides))
    variants = scenario.variants()
    if out is not None:
        prepare_out_dir(out)
    folders = unique_names([sc.name for sc in variants])
    payloads: list[dict[str, Any]] = []
    for i, sc in enumerate(variants):
        sub = None
        if out is not None:
            sub = out if len(variants) == 1 else out / folders[i]
        if chakra is not None:
            from simulator.traces.chakra.export import export_scenario

            export_scenario(sc, chakra if len(variants) == 1 else chakra / folders[i])
        try:
            label = f"{sc.name}: simulating" + (f" and writing {sub}" if sub else "")
            with progress.track(f"[{i + 1}/{len(variants)}] {label}"):
                payload, summary = _run_one(sc, args, sub)
        except DeadlockError as err:
            print(f"commsim run: error: {sc.name}: {err}", file=sys.stderr)
            return 1
        payloads.append(payload)
        if not args.json:
            summary()
    if args.json:
        top = dict(payloads[0])
        if len(payloads) > 1:
            top["variants"] = payloads
        emit_json(top)
    else:
        if len(payloads) > 1:
            _print_comparison(payloads)
        if out is not None:
            print(f"wrote {out}/")
    return 0


MARKER_TEXT = "written by commsim run; files here may be overwritten by the next run\n"


def _safe_name(name: str, index: int) -> str:
    from simulator.outputs import safe_name

    return safe_name(name, index)


def _run_one(sc: Any, args: argparse.Namespace, out: Path | None) -> tuple[dict[str, Any], Any]:
    """Simulate one scenario; write ``out`` if given. Returns the JSON payload and a
    callable printing the human summary."""
    from simulator.build import build_workload
    from simulator.engine import WorkloadError, simulate
    from simulator.limits import check_scenario
    from simulator.report.summary import print_summary
    from simulator.scenario_refs import load_scenario_backend, load_scenario_topology
    from simulator.topology.whatif import scale_links

    topology = scale_links(
        load_scenario_topology(sc), sc.network.bandwidth_scale, sc.network.latency_scale
    )
    fidelity = args.fidelity or str(sc.fidelity)
    backend: Any = load_scenario_backend(sc, args.backend)
    check_scenario(sc, int(topology.num_ranks), file=sc.source_file)
    built = build_workload(sc, topology)
    faulted = None
    if not sc.faults.empty:
        from simulator.faults.scenario import prepare_run

        faulted = prepare_run(sc, topology, built, args)
    t0 = time.perf_counter()
    try:
        result = simulate(
            faulted.workload if faulted else built.workload,
            topology,
            backend=backend,
            fidelity=fidelity,
            compute_model=faulted.compute_model if faulted else built.compute_model,
            record="timelines" if out is not None else False,  # --out writes no flows table
            network=faulted.network if faulted else None,
        )
    except WorkloadError as err:
        raise InputError(f"workload cannot run: {err}", file=str(args.scenario)) from err
    wall_s = time.perf_counter() - t0
    payload = run_payload(sc, built, result, k_links=args.links, wall_s=wall_s)
    payload["topology_ranks"] = int(topology.num_ranks)
    if int(payload["world"]) < topology.num_ranks:
        # legitimate (a job on part of a cluster), but never silent
        print(
            f"note: {sc.name} uses {payload['world']} of the {topology.num_ranks} ranks of "
            f"topology {sc.topology}; the others stay idle",
            file=sys.stderr,
        )
    steps = None
    if faulted is not None or getattr(args, "steps", None):
        from simulator.faults.scenario import finish_run

        steps = finish_run(sc, topology, built, faulted, args, result, payload)
    if out is not None:
        payload["out"] = str(out)
        write_outputs(out, sc, result, payload, topology=topology, k_links=args.links)
        if steps is not None or faulted is not None:
            from simulator.faults.scenario import write_run_outputs

            write_run_outputs(out, sc, topology, built, faulted, steps, result, args)

    def summary() -> None:
        print_summary(
            result,
            title=f"commsim run {sc.name}",
            memory_per_gpu_B=built.memory_per_gpu_B,
            reference=built.reference,
            k_links=args.links,
        )
        if steps is not None:
            from simulator.faults.scenario import print_steps

            print_steps(steps)

    return payload, summary


def _print_comparison(payloads: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from simulator.core.units import format_time

    def fmt(seconds: float) -> str:
        # below a nanosecond is round-off of the event clock, not a time anyone can use
        return format_time(seconds if abs(seconds) >= 1e-9 else 0.0)

    common = str(payloads[0]["scenario"]).split("/")[0]
    t = Table(title=f"variants of {common}", header_style="bold")
    for col in ("variant", "step", "compute", "exposed comm", "bubble", "vs first"):
        t.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
    base = payloads[0]["step_time_s"]
    for p in payloads:
        t.add_row(
            str(p["scenario"]).split("/", 1)[-1],
            fmt(p["step_time_s"]),
            fmt(p["compute_s"]),
            fmt(p["exposed_comm_s"]),
            fmt(p["bubble_s"]),
            f"{100 * (p['step_time_s'] / base - 1):+.1f} %" if base > 0 else "-",
        )
    Console().print(t)


def run_payload(
    scenario: Any, built: Any, result: Any, *, k_links: int, wall_s: float
) -> dict[str, Any]:
    """The ``--json`` object (every ``*_s`` per training step, sizes in bytes)."""
    d = result.to_dict(k_links=k_links)
    ref = built.reference
    payload: dict[str, Any] = {
        "scenario": scenario.name,
        "step_time_s": d["step_time_s"],
        "compute_s": d["compute_s"],
        "comm_s": d["comm_s"],
        "exposed_comm_s": d["exposed_comm_s"],
        "bubble_s": d["bubble_s"],
        "memory_per_gpu_B": {k: float(v) for k, v in built.memory_per_gpu_B.items()},
        "busiest_links": d["busiest_links"],
        "reference": dict(ref) if ref else None,
        "reference_error": (
            (d["step_time_s"] - float(ref["step_time_s"])) / float(ref["step_time_s"])
            if ref and ref.get("step_time_s")
            else None
        ),
        "comm_by_category_s": d["comm_by_category_s"],
        "exposed_comm_by_category_s": d["exposed_comm_by_category_s"],
        "critical_rank": d["critical_rank"],
        "makespan_s": d["makespan_s"],
        "steps_per_program": d["steps_per_program"],
        "topology": str(scenario.topology),
        "network_what_if": scenario.network.model_dump(),
        "backend": d["backend"],
        "fidelity": d["fidelity"],
        "world": d["world"],
        "simulated_ranks": d["simulated_ranks"],
        "metadata": {**d["metadata"], **_plain_dict(built.metadata)},
        "wall_s": wall_s,
    }
    return payload


def _plain_dict(m: Any) -> dict[str, Any]:
    import json

    return dict(json.loads(json.dumps(dict(m or {}), default=str)))


def write_outputs(
    out: Path,
    scenario: Any,
    result: Any,
    payload: dict[str, Any],
    *,
    topology: Any = None,
    k_links: int = 8,
) -> None:
    """Write every output file into ``out`` (marker first, so a half-written DIR is ours)."""
    import json

    from simulator.cli import _json_default
    from simulator.outputs import atomic_path, atomic_write_text, prepare_out_dir
    from simulator.report.plots import plot_links, plot_timeline
    from simulator.report.tables import write_tables
    from simulator.report.timeline import write_timeline

    prepare_out_dir(out)
    skip = {"faults"} if scenario.faults.empty else set()
    resolved = json.loads(json.dumps(scenario.model_dump(mode="json", exclude=skip), default=str))
    atomic_write_text(out / "scenario.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    atomic_write_text(
        out / "result.json", json.dumps(payload, indent=2, default=_json_default, allow_nan=False)
    )
    write_tables(result, out)
    with atomic_path(out / "timeline.json") as tmp:
        write_timeline(result, tmp, k_links=k_links, topology=topology)
    with atomic_path(out / "timeline.png") as tmp:
        plot_timeline(result, tmp)
    with atomic_path(out / "links.png") as tmp:
        plot_links(result, tmp)
