"""``commsim run SCENARIO``: simulate one training step of a scenario.

Human output: the summary table. ``--json``: one object with ``scenario``, ``step_time_s``,
``compute_s``, ``comm_s``, ``exposed_comm_s``, ``bubble_s``, ``memory_per_gpu_B``,
``busiest_links``, ``reference`` (published figure or null) and more
(:class:`simulator.studies.RunResult`).
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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from simulator.core.errors import InputError

if TYPE_CHECKING:
    from simulator.studies.scenario import RunResult

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
    p.add_argument("--seed", type=_seed, default=0, help="seed of the faults' draws (default 0)")
    p.add_argument(
        "--exact-steps",
        action="store_true",
        help="with --steps: simulate every step on the event engine (default: re-time)",
    )
    p.set_defaults(func=run_command)


def _int_at_least(minimum: int, expected: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``, refused as "expected ``expected``"."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return n

    return parse


_positive = _int_at_least(1, "a positive integer")
#: a seed numpy's generator accepts
_seed = _int_at_least(0, "an integer >= 0")


def check_out_dir(out: Path) -> None:
    """Refuse (InputError) a DIR that is a file, lies under one, or is not empty and lacks the
    commsim marker (unless ``--force``); see :mod:`simulator.outputs`."""
    from simulator.outputs import check_out_dir as check

    check(out, "--out")


def run_command(args: argparse.Namespace) -> int:
    """Load, build, simulate, report (every ``compare:`` variant in turn). Exit status."""
    from simulator.core.gcphases import few_collections

    with few_collections():  # same results, less collector work (simulator.core.gcphases)
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    from simulator.cli import emit_json
    from simulator.config import load_scenario
    from simulator.core.gcphases import checkpoint
    from simulator.engine import DeadlockError
    from simulator.outputs import prepare_out_dir, unique_names
    from simulator.report import progress
    from simulator.studies import ScenarioRun

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
    checkpoint()  # the imports and the scenario live to the end (simulator.core.gcphases)
    variants = scenario.variants()
    if out is not None:
        prepare_out_dir(out)
    folders = unique_names([sc.name for sc in variants])
    results: list[RunResult] = []
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
                res, summary = _run_one(sc, args, sub)
        except DeadlockError as err:
            print(f"commsim run: error: {sc.name}: {err}", file=sys.stderr)
            return 1
        results.append(res)
        if not args.json:
            summary()
    if args.json:
        emit_json(ScenarioRun(tuple(results)).to_json())
    else:
        if len(results) > 1:
            _print_comparison(results)
        if out is not None:
            print(f"wrote {out}/")
        if chakra is not None:
            print(f"wrote Chakra execution traces into {chakra}/")
    return 0


MARKER_TEXT = "written by commsim run; files here may be overwritten by the next run\n"


def _safe_name(name: str, index: int) -> str:
    from simulator.outputs import safe_name

    return safe_name(name, index)


def _run_one(sc: Any, args: argparse.Namespace, out: Path | None) -> tuple[RunResult, Any]:
    """Simulate one scenario (:func:`simulator.studies.run_variant`); write ``out`` if given.
    Returns the typed result and a callable printing the human summary."""
    from dataclasses import replace

    from simulator.studies import run_variant
    from simulator.studies.scenario import FaultOptions

    res = run_variant(
        sc,
        fidelity=args.fidelity,
        backend=args.backend,
        k_links=args.links,
        record="timelines" if out is not None else False,  # --out writes no flows table
        source=str(args.scenario),
        faults=FaultOptions(
            steps=getattr(args, "steps", None),
            seed=getattr(args, "seed", 0),
            exact=getattr(args, "exact_steps", False),
        ),
    )
    if res.world < res.topology_ranks:
        # legitimate (a job on part of a cluster), but never silent
        print(
            f"note: {sc.name} uses {res.world} of the {res.topology_ranks} ranks of "
            f"topology {sc.topology}; the others stay idle",
            file=sys.stderr,
        )
    sim = res.simulation
    assert sim is not None  # run_variant always attaches it
    from simulator.report.memfit import memory_warning

    over = memory_warning(sim.built.memory_per_gpu_B, sim.built.metadata.get("gpu"))
    if over:
        print(f"warning: {sc.name}: {over}", file=sys.stderr)
    if out is not None:
        res = replace(res, out=str(out))
        write_outputs(out, sc, sim.result, res.to_json(), topology=sim.topology, k_links=args.links)
        if sim.steps is not None or sim.prepared is not None:
            from simulator.faults.scenario import write_run_outputs

            write_run_outputs(
                out, sc, sim.topology, sim.built, sim.prepared, sim.steps, sim.result, args
            )

    def summary() -> None:
        from simulator.report.summary import print_summary  # rich: only for the table

        print_summary(
            sim.result,
            title=f"commsim run {sc.name}",
            memory_per_gpu_B=sim.built.memory_per_gpu_B,
            reference=sim.built.reference,
            k_links=args.links,
            what_if=res.network_what_if,
            faults=res.faults,
        )
        if sim.steps is not None:
            from simulator.faults.scenario import print_steps

            print_steps(sim.steps)

    return res, summary


def _print_comparison(results: list[RunResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    from simulator.report.summary import format_part

    def fmt(seconds: float) -> str:
        return format_part(seconds)  # round-off of the event clock shows as 0 s

    common = results[0].scenario.split("/")[0]
    t = Table(title=f"variants of {common}", header_style="bold")
    for col in ("variant", "step", "compute", "exposed comm", "bubble", "vs first"):
        t.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
    base = results[0].step_time_s
    for r in results:
        t.add_row(
            r.scenario.split("/", 1)[-1],
            fmt(r.step_time_s),
            fmt(r.compute_s),
            fmt(r.exposed_comm_s),
            fmt(r.bubble_s),
            f"{100 * (r.step_time_s / base - 1):+.1f} %" if base > 0 else "-",
        )
    Console().print(t)
    if results[0].steps_summary:
        _print_steps_comparison(results, fmt)


def _print_steps_comparison(results: list[RunResult], fmt: Any) -> None:
    """With ``--steps``: the perturbed steps of every variant side by side (the table above is
    the unperturbed step; until 2026-12-06 only that was compared)."""
    from rich.console import Console
    from rich.table import Table

    first = results[0].steps_summary or {}
    t = Table(
        title=f"{first['steps']} perturbed steps per variant (seed {first['seed']})",
        header_style="bold",
    )
    for col in ("variant", "mean", "p50", "p90", "p99", "waiting"):
        t.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
    for r in results:
        s = r.steps_summary or {}
        t.add_row(
            r.scenario.split("/", 1)[-1],
            *(fmt(s[f"step_time_{k}_s"]) for k in ("mean", "p50", "p90", "p99")),
            f"{100 * s['straggler_wait_share']:.1f} %",
        )
    Console().print(t)


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
    from simulator.report.mplimport import import_plots
    from simulator.report.tables import write_tables
    from simulator.report.timeline import write_timeline

    prepare_out_dir(out)
    skip = {"faults"} if scenario.faults.empty else set()
    resolved = json.loads(json.dumps(scenario.model_dump(mode="json", exclude=skip), default=str))
    atomic_write_text(out / "scenario.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    atomic_write_text(
        out / "result.json", json.dumps(payload, indent=2, default=_json_default, allow_nan=False)
    )
    with atomic_path(out / "timeline.json") as tmp:  # first: see write_timeline
        write_timeline(result, tmp, k_links=k_links, topology=topology)
    write_tables(result, out)
    plots = import_plots()  # matplotlib without its docstrings' tables (simulator.report.mplimport)
    with atomic_path(out / "timeline.png") as tmp:
        plots.plot_timeline(result, tmp)
    with atomic_path(out / "links.png") as tmp:
        plots.plot_links(result, tmp)
