"""``commsim sweep``: simulate a scenario over a grid of overrides, in parallel on Dask.

    commsim sweep gpt3-175b-64xa100 --vary strategy.pp=4,8 --vary strategy.tp=4,8
    commsim sweep gpt3-175b-1024xh100 --vary network.bandwidth_scale.infiniband=0.5,1,2 --json
    commsim sweep S --vary ... --scheduler tcp://10.0.0.1:8786   # an existing Dask cluster

Prints one row per point (step time, exposed communication, bubble, memory per GPU, GPUs and
cost of one step), or with ``--json`` one object ``{"scenario", "vary", "scheduler",
"points": [...], "wall_s"}``. ``--out DIR`` writes ``sweep.csv`` and ``sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.cli.run import FIDELITIES, check_out_dir

if TYPE_CHECKING:
    from simulator.studies import SweepResult


def register(subparsers: Any) -> None:
    """Add the ``sweep`` subcommand."""
    p = subparsers.add_parser(
        "sweep",
        help="simulate a scenario over a grid of overrides (Dask)",
        description="Simulate SCENARIO at every combination of the --vary values, on Dask.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="shipped scenario name or YAML path")
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a scenario field (dotted key) and its values, repeatable (grid = product)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override applied to every point, repeatable",
    )
    p.add_argument(
        "--scheduler",
        default="local",
        help="'local' (a new Dask LocalCluster, default), 'inline' (no Dask), or an address",
    )
    p.add_argument("--workers", type=int, help="local cluster worker processes (default: cores)")
    p.add_argument("--fidelity", choices=FIDELITIES, help="override the scenario's fidelity")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write sweep.csv and sweep.json into DIR, and each point as it finishes (DIR/points/)",
    )
    p.add_argument("--plot", metavar="PNG", help="draw step time against the first --vary key")
    p.add_argument(
        "--resume", action="store_true", help="skip the points already finished in --out DIR"
    )
    p.add_argument(
        "--timeout", type=float, metavar="S", help="seconds per point (recorded in its row)"
    )
    p.add_argument(
        "--lost-after",
        type=float,
        default=30.0,
        metavar="S",
        help="give up when the cluster has had no running worker this long, and restart a "
        "worker whose heartbeat stopped this long (default 30 s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=sweep_command)


def sweep_command(args: argparse.Namespace) -> int:
    """Run the sweep and print or write its results. Exit status."""
    from simulator.cli import emit_json
    from simulator.cli.sweep_guard import check_sweep_args, open_store, run_guarded_sweep
    from simulator.core.errors import InputError
    from simulator.report import progress
    from simulator.studies import SweepResult, parse_vary, sweep
    from simulator.studies.sweep_runner import Survival

    if args.workers is not None and args.workers < 1:
        raise InputError("must be >= 1", field="--workers")
    check_sweep_args(args)
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out_dir(out)
    vary = parse_vary(args.vary)
    if not vary:
        raise InputError("give at least one KEY=V1,V2,...", field="--vary")
    from simulator.limits import check_sweep

    check_sweep(vary, args.workers, field="--vary")
    store = open_store(args, out, vary)

    def run() -> SweepResult:
        with progress.track("sweep"):
            return sweep(
                args.scenario,
                vary,
                list(args.overrides),
                scheduler=args.scheduler,
                workers=args.workers,
                fidelity=args.fidelity,
                survival=Survival(
                    timeout_s=args.timeout, store=store, lost_after_s=args.lost_after
                ),
            )

    res = run_guarded_sweep(run, out, _write)
    if not isinstance(res, SweepResult):
        return res
    if out is not None:
        _write(out, res.to_json())
    if args.plot:
        from dataclasses import replace

        from simulator.report.sweepplot import plot_sweep

        res = replace(res, plot=str(plot_sweep(res.to_json(), args.plot)))
    if args.json:
        emit_json(res.to_json())
    else:
        _print_table(res)
        if args.plot:
            print(f"wrote {res.plot}")
        if out is not None:
            print(f"wrote {out}/")
    return 0


def _rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in res["points"]:
        row: dict[str, Any] = dict(p["set"])
        row.update({k: v for k, v in p.items() if k != "set"})
        rows.append(row)
    return rows


def _write(out: Path, res: dict[str, Any]) -> None:
    """``sweep.csv`` and ``sweep.json`` of a sweep's JSON object (or the partial one a lost
    cluster or Ctrl-C left)."""
    import pandas as pd

    from simulator.outputs import atomic_path, atomic_write_text, prepare_out_dir

    prepare_out_dir(out)
    with atomic_path(out / "sweep.csv") as tmp:
        pd.DataFrame(_rows(res)).to_csv(tmp, index=False)
    atomic_write_text(out / "sweep.json", json.dumps(res, indent=2, default=str))


def _gpus_cell(world: int, gpus: int) -> str:
    """The GPUs column: the topology's GPUs, or ``"32 of 64 (*)"`` when the job (``world``
    ranks) leaves some of them idle (a ``--vary`` of pp or tp that keeps dp, a smaller job)."""
    return f"{world} of {gpus} (*)" if 0 < world < gpus else str(gpus)


def _print_table(res: SweepResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from simulator.core.units import format_size, format_time

    keys = list(res.vary)
    t = Table(title=f"sweep of {res.scenario} ({len(res.points)} points)")
    for k in keys:
        t.add_column(k, no_wrap=True)
    for col in ("step", "exposed comm", "bubble", "mem/GPU", "GPUs", "$/step"):
        t.add_column(col, justify="right", no_wrap=True)
    errors: list[str] = []
    for p in res.points:
        vals = [str(p.set[k]) for k in keys]
        if p.error is not None:
            errors.append(f"  [{len(errors) + 1}] {p.error}")
            t.add_row(*vals, f"cannot run [{len(errors)}]", "", "", "", "", "")
            continue
        cost = p.cost_per_step_usd
        t.add_row(
            *vals,
            format_time(p.step_time_s),
            format_time(p.exposed_comm_s),
            format_time(p.bubble_s),
            format_size(p.memory_per_gpu_B) + ("" if p.fits_memory is not False else " (!)"),
            _gpus_cell(p.world, p.gpus),
            "-" if cost is None else f"{cost:.3f}",
        )
    # a pipe gets rich's 80 columns, too narrow for a grid with several varied keys
    Console(width=None if sys.stdout.isatty() else 160).print(t)
    if errors:
        print("points that cannot run:")
        print("\n".join(errors))
    if any(p.ok and p.fits_memory is False for p in res.points):
        print("(!) the memory estimate exceeds the GPU's HBM: that point would not fit")
    if any(p.ok and 0 < p.world < p.gpus for p in res.points):
        print(
            "(*) the job uses fewer ranks than the topology's GPUs: the others stay idle "
            "(and $/step prices every GPU of the topology)"
        )
    print(
        f"{len(res.points)} points; the sweep took {res.wall_s:.1f} s of wall time "
        f"(scheduler {res.scheduler})"
    )
