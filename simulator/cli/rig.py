"""``commsim rig``: plan, check and clean the emulated cluster (network namespaces).

- ``commsim rig plan TOPOLOGY``: what would be built (no root needed).
- ``commsim rig check TOPOLOGY [--size 64MiB]``: build it, time a TCP transfer from rank 0 to
  every other rank, compare with the path's configured bottleneck rate, tear it down.
- ``commsim rig bench TOPOLOGY``: gloo collective microbenchmarks (nccl-tests-like table) with
  the simulator's prediction beside each row.
- ``commsim rig calibrate --topology rig-2host``: fit the gloo backend profile to a
  microbenchmark and write ``simulator/data/calibration/gloo-rig.yaml`` (2 ranks;
  ``--topology rig-4host-flat`` writes ``gloo-rig-4rank.yaml``, the 4-rank profile).
- ``commsim rig clean [--prefix cs-]``: delete namespaces left by killed runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from simulator.cli import emit_json
from simulator.core.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``rig`` and its subcommands."""
    p = subparsers.add_parser("rig", help="emulated cluster of network namespaces (needs root)")
    sub = p.add_subparsers(dest="rig_command", metavar="ACTION")
    sub.required = True

    plan = sub.add_parser("plan", help="show the namespaces, veths and shapers a rig would make")
    plan.add_argument("topology", help="topology NAME or PATH (cpu hosts and switches)")
    plan.add_argument("--json", action="store_true", help="one JSON object on stdout")
    plan.set_defaults(func=_plan)

    check = sub.add_parser("check", help="build a rig and measure each host's TCP rate")
    check.add_argument("topology", help="topology NAME or PATH")
    check.add_argument("--size", default="32MiB", help="bytes per transfer (default 32MiB)")
    check.add_argument("--json", action="store_true", help="one JSON object on stdout")
    check.set_defaults(func=_check)

    bench = sub.add_parser("bench", help="gloo collective microbenchmarks vs predictions")
    bench.add_argument("topology", help="topology NAME or PATH")
    _bench_args(bench)
    bench.add_argument(
        "--backend", help="profile to predict with (default: the calibration of its rank count)"
    )
    bench.add_argument("--json", action="store_true", help="one JSON object on stdout")
    bench.set_defaults(func=_bench)

    cal = sub.add_parser("calibrate", help="fit the gloo profile to microbenchmarks")
    cal.add_argument("--topology", default="rig-2host", help="fit topology (default rig-2host)")
    _bench_args(cal)
    cal.add_argument(
        "--out",
        help="profile YAML (default simulator/data/calibration/gloo-rig.yaml for 2 ranks, "
        "gloo-rig-<N>rank.yaml for N)",
    )
    cal.add_argument("--json", action="store_true", help="one JSON object on stdout")
    cal.add_argument(
        "--hop-floors",
        action="store_true",
        help="also fit a per-op hop floor (not in the shipped profiles: docs/rig.md)",
    )
    cal.set_defaults(func=_calibrate)

    clean = sub.add_parser("clean", help="delete namespaces left by crashed runs")
    clean.add_argument("--prefix", default="cs-", help="namespace prefix (default cs-)")
    clean.add_argument("--json", action="store_true", help="one JSON object on stdout")
    clean.set_defaults(func=_clean)


def _plan(args: argparse.Namespace) -> int:
    from simulator.rig.cluster import burst_B, plan_rig

    plan = plan_rig(args.topology)
    shapers: list[dict[str, Any]] = []
    for ln in plan.links:
        for ns, dev, rate in (
            (ln.a_ns, ln.a_dev, ln.rate_ab_Bps),
            (ln.b_ns, ln.b_dev, ln.rate_ba_Bps),
        ):
            shapers.append(
                {"ns": ns, "dev": dev, "rate_Bps": rate, "burst_B": burst_B(rate, plan.mtu_B)}
            )
    obj = {
        "topology": plan.topology_name,
        "mtu_B": plan.mtu_B,
        "hosts": [
            {"rank": h.rank, "node": h.node, "ns": h.ns, "dev": h.dev, "address": h.address}
            for h in plan.hosts
        ],
        "switches": [{"node": s.node, "ns": s.ns, "bridge": s.bridge} for s in plan.switches],
        "links": [
            {
                "a": ln.a,
                "b": ln.b,
                "a_dev": ln.a_dev,
                "b_dev": ln.b_dev,
                "rate_ab_Bps": ln.rate_ab_Bps,
                "rate_ba_Bps": ln.rate_ba_Bps,
            }
            for ln in plan.links
        ],
        "shapers": shapers,
    }
    if args.json:
        emit_json(obj)
        return 0
    n_sw = len(plan.switches)
    switches = f"{n_sw} switch" + ("" if n_sw == 1 else "es")
    print(f"rig of {plan.topology_name}: {len(plan.hosts)} hosts, {switches}")
    for h in plan.hosts:
        print(f"  rank {h.rank}: {h.node} ns={h.ns} {h.dev} {h.address}")
    for s in plan.switches:
        print(f"  switch {s.node}: ns={s.ns} bridge {s.bridge}")
    for sh in shapers:
        print(f"  tbf {sh['ns']}/{sh['dev']}: {sh['rate_Bps'] * 8 / 1e6:.0f} Mbit/s")
    return 0


def _check(args: argparse.Namespace) -> int:
    from simulator.core.units import parse_size
    from simulator.rig.cluster import Rig
    from simulator.rig.probe import probe_pair

    size_B = int(parse_size(args.size))
    rows = []
    with Rig(args.topology) as rig:
        topo = rig.topology
        for dst in range(1, rig.world_size):
            expect_Bps = topo.path_bandwidth_Bps(topo.route(0, dst))
            got = probe_pair(rig, 0, dst, size_B)
            rows.append(
                {
                    "src": 0,
                    "dst": dst,
                    "configured_Bps": expect_Bps,
                    "goodput_Bps": got["goodput_Bps"],
                    "fraction": got["goodput_Bps"] / expect_Bps,
                }
            )
    if args.json:
        emit_json({"topology": topo.name, "size_B": size_B, "pairs": rows})
        return 0
    print(f"{'pair':>8} {'configured Mbit/s':>18} {'TCP goodput Mbit/s':>19} {'fraction':>9}")
    for r in rows:
        print(
            f"{r['src']:>3}->{r['dst']:<4} {r['configured_Bps'] * 8e-6:>18.1f} "
            f"{r['goodput_Bps'] * 8e-6:>19.1f} {r['fraction']:>9.3f}"
        )
    return 0


def _clean(args: argparse.Namespace) -> int:
    from simulator.rig import netns
    from simulator.rig.cluster import clean

    netns.check_support()
    removed = clean(args.prefix)
    if args.json:
        emit_json({"removed": removed})
    else:
        print(
            f"removed {len(removed)} namespace(s)" + (": " + " ".join(removed) if removed else "")
        )
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ops", help="comma-separated ops (default: all five and the concurrency probe)"
    )
    p.add_argument("--sizes", help="comma-separated sizes (default 4KiB..64MiB by x4)")
    p.add_argument("--budget", type=float, default=1.5, help="timed seconds per (op, size)")
    p.add_argument("--load", help="reuse a saved microbenchmark JSON instead of measuring")
    p.add_argument("--save", help="save the microbenchmark JSON here")


def _measure(args: argparse.Namespace, topology: str) -> Any:
    from simulator.outputs import check_new_file
    from simulator.rig.microbench import (
        ALL_OPS,
        DEFAULT_SIZES_B,
        load_microbench,
        run_microbench,
    )

    for flag in ("--save", "--out"):  # before measuring: never overwrite, never measure in vain
        value = getattr(args, flag[2:], None)
        if value:
            check_new_file(Path(value), flag)
    if args.load:
        bench = load_microbench(args.load)
    else:
        ops = args.ops.split(",") if args.ops else list(ALL_OPS)
        sizes = _sizes(args.sizes) if args.sizes else DEFAULT_SIZES_B
        _check_budget(args.budget)
        command = "commsim rig " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
        bench = run_microbench(
            topology, ops=ops, sizes_B=sizes, budget_s=args.budget, command=command
        )
    if args.save:
        bench.save(args.save)
    return bench


def _sizes(text: str) -> list[int]:
    """``--sizes``: whole bytes, each in 1 B..a quarter of this machine's memory (every rank
    holds a buffer; ``--sizes 0`` measured nothing and ``1e12`` asked each rank for 1 TB)."""
    from simulator.core.units import parse_size
    from simulator.traces.recipe_limits import physical_memory_B

    top = physical_memory_B() / 4
    out = []
    for part in text.split(","):
        size = parse_size(part)
        if not (1 <= size <= top and size == int(size)):
            raise InputError(
                f"expected whole sizes between 1 B and {top:,.0f} B (a quarter of this "
                f"machine's memory), got {part.strip()!r}",
                field="--sizes",
            )
        out.append(int(size))
    return out


def _check_budget(budget: float) -> None:
    """``--budget``: seconds per (op, size), finite, > 0 and at most a day."""
    from simulator.traces.recipe_limits import MAX_TIMEOUT_S

    if not 0 < budget <= MAX_TIMEOUT_S:
        raise InputError(
            f"expected seconds > 0 and at most {MAX_TIMEOUT_S:,.0f}, got {budget:g}",
            field="--budget",
        )


def _bench(args: argparse.Namespace) -> int:
    from simulator.rig.calibrate import rig_calibration
    from simulator.rig.microbench import format_table, predict_rows, summarize, table_rows
    from simulator.topology import load_topology

    bench = _measure(args, args.topology)
    topo = load_topology(args.topology)
    backend = args.backend or rig_calibration(topo.num_ranks)
    records = table_rows(bench, predict_rows(topo, bench.rows, backend))
    summary = summarize(records)
    if args.json:
        emit_json({"topology": topo.name, "backend": backend, "rows": records, "summary": summary})
        return 0
    print(f"# {topo.name}, {bench.n_ranks} ranks, gloo; predictions: {backend}")
    print(format_table(records))
    if summary["n"]:
        print(
            f"sizes >= 1 MiB: {summary['n']} rows, median |error| "
            f"{summary['median_abs_error_pct']:.1f}%, max {summary['max_abs_error_pct']:.1f}%"
        )
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from simulator.rig.calibrate import calibration_path, fit_profile, write_profile
    from simulator.topology import load_topology

    bench = _measure(args, args.topology)
    fit = fit_profile(load_topology(args.topology), bench, hop_floors=args.hop_floors)
    if args.out:  # checked before measuring too; a file made meanwhile is not replaced either
        from simulator.outputs import check_new_file

        check_new_file(Path(args.out), "--out")
    path = write_profile(fit, args.out or calibration_path(bench.n_ranks))
    obj = {
        "out": str(path),
        "fit_topology": bench.topology,
        "efficiency": fit.efficiency,
        "base_latency_s": fit.base_latency_s,
        "step_latency_s": fit.step_latency_s,
        "concurrency": fit.concurrency,
        "concurrency_measured": fit.concurrency_measured,
        "reduce_scatter_over_all_reduce": fit.rs_over_ar,
        "fit_rows": fit.fit_rows,
        "fit_median_abs_error_pct": fit.fit_median_abs_error_pct,
        "fit_max_abs_error_pct": fit.fit_max_abs_error_pct,
    }
    if fit.hop_floor_s is not None:
        obj["hop_floor_s"] = fit.hop_floor_s
    if args.json:
        emit_json(obj)
    else:
        for k, v in obj.items():
            print(f"{k}: {v}")
    return 0
