"""``commsim rig``: plan, check and clean the emulated cluster (network namespaces).

- ``commsim rig plan TOPOLOGY``: what would be built (no root needed).
- ``commsim rig check TOPOLOGY [--size 64MiB]``: build it, time a TCP transfer from rank 0 to
  every other rank, compare with the path's configured bottleneck rate, tear it down.
- ``commsim rig clean [--prefix cs-]``: delete namespaces left by killed runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from simulator.cli import emit_json


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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

    clean = sub.add_parser("clean", help="delete namespaces left by crashed runs")
    clean.add_argument("--prefix", default="cs-", help="namespace prefix (default cs-)")
    clean.add_argument("--json", action="store_true", help="one JSON object on stdout")
    clean.set_defaults(func=_clean)


def _plan(args: argparse.Namespace) -> int:
    from simulator.measure.rig import burst_B, plan_rig

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
    print(f"rig of {plan.topology_name}: {len(plan.hosts)} hosts, {len(plan.switches)} switches")
    for h in plan.hosts:
        print(f"  rank {h.rank}: {h.node} ns={h.ns} {h.dev} {h.address}")
    for s in plan.switches:
        print(f"  switch {s.node}: ns={s.ns} bridge {s.bridge}")
    for sh in shapers:
        print(f"  tbf {sh['ns']}/{sh['dev']}: {sh['rate_Bps'] * 8 / 1e6:.0f} Mbit/s")
    return 0


def _check(args: argparse.Namespace) -> int:
    from simulator.measure.probe import probe_pair
    from simulator.measure.rig import Rig
    from simulator.units import parse_size

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
    from simulator.measure import netns
    from simulator.measure.rig import clean

    netns.check_support()
    removed = clean(args.prefix)
    if args.json:
        emit_json({"removed": removed})
    else:
        print(
            f"removed {len(removed)} namespace(s)" + (": " + " ".join(removed) if removed else "")
        )
    return 0
