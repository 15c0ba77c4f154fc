"""``commsim plan``: the cheapest cluster and layout that reach a target step time.

    commsim plan gpt3-175b-1024xh100 --target-step 12s \\
        --topologies dgx-h100-32node,h100-superpod-1024,dgx-a100-superpod --pp 4,8,16 --tp 8

Sweeps topology x TP x PP (DP fills the cluster) on Dask and ranks the points that run, fit in
memory and meet the target by the cost of one step (catalog price per GPU-hour: an assumption;
``--prices FILE`` gives your own). Every point that lost is listed with why (memory or step
time over by how much). ``--json`` prints ``{"best", "ranked", "verdicts",
"points", ...}``.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any

from simulator.cli.run import FIDELITIES

if TYPE_CHECKING:
    from simulator.studies import PlanResult


def register(subparsers: Any) -> None:
    """Add the ``plan`` subcommand."""
    p = subparsers.add_parser(
        "plan",
        help="cheapest cluster and layout that reach a target step time",
        description=(
            "Sweep candidate topologies x TP x PP degrees (DP fills the cluster) and rank the "
            "points that meet --target-step by the cost of one training step."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="shipped scenario name or YAML path")
    p.add_argument("--target-step", required=True, help="slowest acceptable step, e.g. 12s")
    p.add_argument(
        "--topologies", required=True, help="comma-separated candidate topologies (names/paths)"
    )
    p.add_argument("--tp", default="1,2,4,8", help="candidate TP degrees (default 1,2,4,8)")
    p.add_argument("--pp", default="1,2,4,8,16", help="candidate PP degrees (default 1,2,4,8,16)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override applied to every point, repeatable",
    )
    p.add_argument("--scheduler", default="local", help="'local' (default), 'inline' or address")
    p.add_argument("--workers", type=int, help="local cluster worker processes (default: cores)")
    p.add_argument("--fidelity", choices=FIDELITIES, help="override the scenario's fidelity")
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="YAML of USD per GPU-hour by GPU name (others keep the shipped assumptions)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=plan_command)


def _ints(text: str, flag: str) -> list[int]:
    """Candidate degrees: comma-separated integers in 1..MAX_RANKS, each once, at least one.
    Until 2026-12-06 ``--tp 1e30``'s refusal named the scenario's ``strategy.tp`` and
    ``--tp ,`` planned nothing."""
    from simulator.core.errors import InputError
    from simulator.limits import MAX_RANKS

    try:
        values = list(dict.fromkeys(int(v) for v in text.split(",") if v.strip()))  # each once
    except ValueError:
        raise InputError(f"comma-separated integers expected, got {text!r}", field=flag) from None
    bad = [v for v in values if not 1 <= v <= MAX_RANKS]
    if bad or not values:
        raise InputError(
            f"expected degrees between 1 and {MAX_RANKS:,} (the most ranks a topology may "
            f"have), got {text!r}",
            field=flag,
        )
    return values


def plan_command(args: argparse.Namespace) -> int:
    """Run the plan and print its ranking. Exit status."""
    from simulator.cli import emit_json
    from simulator.core.errors import InputError
    from simulator.core.units import UnitError, parse_time
    from simulator.prices import load_prices
    from simulator.report import progress
    from simulator.studies import plan

    try:
        target = parse_time(args.target_step)
    except UnitError as err:
        raise InputError(str(err), field="--target-step") from None
    topologies = list(dict.fromkeys(t.strip() for t in args.topologies.split(",") if t.strip()))
    tp, pp = _ints(args.tp, "--tp"), _ints(args.pp, "--pp")
    from simulator.limits import check_sweep
    from simulator.topology import load_topology

    check_sweep([("--topologies", topologies), ("--tp", tp), ("--pp", pp)], args.workers)

    for t in topologies:  # a typo is an input error, not a plan with no feasible point
        try:
            load_topology(t)
        except InputError as err:
            raise InputError(str(err), field="--topologies") from None
    if not math.isfinite(target) or target <= 0:
        raise InputError(
            f"must be a finite time > 0, got {args.target_step!r}", field="--target-step"
        )
    if args.workers is not None and args.workers < 1:  # refused as sweep refuses it
        raise InputError("must be >= 1", field="--workers")
    prices = load_prices(args.prices) if args.prices else None
    with progress.track("plan"):
        res = plan(
            args.scenario,
            target,
            topologies,
            tp=tp,
            pp=pp,
            base=list(args.overrides),
            scheduler=args.scheduler,
            workers=args.workers,
            fidelity=args.fidelity,
            prices=prices,
        )
    if args.json:
        emit_json(res.to_json())
    else:
        _print(res)
    return 0


def _print(res: PlanResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from simulator.core.units import format_size, format_time
    from simulator.studies.capacity import dp_degree

    t = Table(
        title=f"plan for {res.scenario}: step <= {format_time(res.target_step_s)}; "
        "candidates cheapest first, then every point that lost and why"
    )
    for col in ("topology", "GPUs", "gpu", "tp", "pp", "dp", "step", "mem/GPU", "$/step"):
        t.add_column(col, justify="left" if col in ("topology", "gpu") else "right", no_wrap=True)
    t.add_column("verdict: why", justify="left")
    losers = sorted(
        (p for p in res.points if p.verdict != "ok"),
        key=lambda p: (p.verdict or "", p.over_target_s or 0.0),
    )
    for p in [*res.ranked, *losers]:
        s = p.set
        if p.error is not None:
            t.add_row(str(s["topology"]), "", "", str(s["strategy.tp"]), str(s["strategy.pp"]),
                      "", "", "", "", str(p.reason))  # fmt: skip
            continue
        cost = p.cost_per_step_usd
        t.add_row(
            str(s["topology"]),
            str(p.gpus),
            p.gpu,
            str(s["strategy.tp"]),
            str(s["strategy.pp"]),
            str(dp_degree(p)),
            format_time(p.step_time_s),
            format_size(p.memory_per_gpu_B),
            "-" if cost is None else f"{cost:.3f}",
            f"{p.verdict}: {p.reason}",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(t)
    counts = ", ".join(f"{v} {k}" for k, v in sorted(res.verdicts.items()))
    print(f"{len(res.points)} points: {counts}; the sweep took {res.wall_s:.1f} s of wall time")
    if res.best is None:
        print(_no_candidate(res))
    sources = sorted({p.price_source for p in res.points if p.price_source})
    user = [x for x in sources if not x.startswith("assumption")]
    if user:
        print(f"prices per GPU-hour from {', '.join(user)}; other GPUs at the shipped assumptions")
    else:
        print(
            "prices per GPU-hour are the shipped assumptions (simulator/data/hardware.yaml); "
            "give your own with --prices FILE"
        )


def _no_candidate(res: PlanResult) -> str:
    """The line of a plan no candidate meets: how near the fastest candidate that fits memory
    comes (or that none fits, or none runs)."""
    from simulator.core.units import format_time

    ran = [p for p in res.points if p.error is None]
    fits = [p for p in ran if p.fits_memory is not False]
    if not ran:
        return "no candidate meets the target: none can run (see why above)"
    if not fits:
        return "no candidate meets the target: none fits its GPU's memory (see by how much above)"
    p = min(fits, key=lambda q: q.step_time_s)
    s = p.set
    return (
        f"no candidate meets the target: the fastest that fits memory is {s['topology']} "
        f"tp {s['strategy.tp']} pp {s['strategy.pp']} at {format_time(p.step_time_s)} "
        f"({p.step_time_s / res.target_step_s - 1:.0%} over {format_time(res.target_step_s)}); "
        "relax --target-step or add larger clusters"
    )
