"""``commsim topology list`` and ``commsim topology show T [--json] [--png FILE]``."""

from __future__ import annotations

import argparse
from typing import Any

from simulator.cli import emit_json
from simulator.core.errors import InputError
from simulator.core.units import format_bandwidth
from simulator.resources import shipped_dir, shipped_names


def register(subparsers: Any) -> None:
    """Add the ``topology`` command with its ``list`` and ``show`` subcommands."""
    p = subparsers.add_parser("topology", help="list and inspect cluster topologies")
    sub = p.add_subparsers(dest="topology_command", metavar="SUBCOMMAND")
    sub.required = True
    lp = sub.add_parser("list", help="list the shipped topologies with their descriptions")
    lp.add_argument("--json", action="store_true", help="one JSON object on stdout")
    lp.set_defaults(func=_list)
    sp = sub.add_parser("show", help="summary of a topology: ranks, links, tiers, bisection")
    sp.add_argument("topology", metavar="T", help="shipped topology name or YAML path")
    sp.add_argument("--json", action="store_true", help="one JSON object on stdout")
    sp.add_argument("--png", metavar="FILE", help="also draw the topology to FILE (PNG)")
    sp.set_defaults(func=_show)


def _description(name: str) -> str:
    from simulator.safeyaml import load_yaml_file

    path = shipped_dir("topologies") / f"{name}.yaml"
    try:
        data = load_yaml_file(path)
    except InputError:
        return ""
    desc = data.get("description", "") if isinstance(data, dict) else ""
    return " ".join(str(desc).split())


def _list(args: argparse.Namespace) -> int:
    rows = [{"name": n, "description": _description(n)} for n in shipped_names("topologies")]
    if args.json:
        emit_json({"topologies": rows})
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        desc = r["description"]
        print(f"{r['name']:<{width}}  {desc[:110] + ('...' if len(desc) > 110 else '')}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from simulator.topology import load_topology
    from simulator.topology.summary import summarize

    if args.png:
        from pathlib import Path

        from simulator.outputs import check_new_file

        if Path(args.png).suffix.lower() != ".png":
            raise InputError("expected a file name ending in .png", file=args.png, field="--png")
        check_new_file(Path(args.png), "--png")
    topo = load_topology(args.topology)
    summary = summarize(topo)
    if args.png:
        from simulator.outputs import atomic_path
        from simulator.topology.draw import draw_png

        try:
            with atomic_path(Path(args.png)) as tmp:
                draw_png(topo, tmp)
            summary["png"] = str(args.png)
        except OSError as exc:
            raise InputError(f"cannot write PNG: {exc}", file=args.png, field="--png") from None
    if args.json:
        emit_json(summary)
        return 0
    _print_summary(summary)
    return 0


def _print_summary(s: dict[str, Any]) -> None:
    print(
        f"topology {s['name']}: {s['ranks']} ranks ({s['gpus']} GPUs) on {s['hosts']} hosts"
        + (f", GPU {s['gpu_model']}" if s.get("gpu_model") else "")
    )
    if s["description"]:
        print(f"  {' '.join(s['description'].split())}")
    nodes = ", ".join(f"{n} {k}" for k, n in s["nodes_by_kind"].items())
    links = ", ".join(f"{n} {k}" for k, n in s["links_by_kind"].items())
    print(f"nodes: {nodes}")
    print(f"links (full duplex): {links}")
    print("bandwidth per direction:")
    for kind, bw in s["bandwidth_per_gpu_Bps"].items():
        print(f"  per GPU, {kind:<10} {format_bandwidth(bw)}")
    if s["nic_bandwidth_per_host_Bps"]:
        print(f"  per host, NICs      {format_bandwidth(s['nic_bandwidth_per_host_Bps'])}")
    for row in s["switch_tiers"]:
        over = row["oversubscription"]
        extra = f", oversubscription {over:.3g}:1" if over else ""
        n = row["switches"]
        # the top tier has no uplinks: say so, instead of "up 0 B/s"
        up = f"up {format_bandwidth(row['up_Bps'])}" if row["up_Bps"] > 0 else "top tier"
        print(
            f"  switch tier {row['tier']}: {n} switch{'' if n == 1 else 'es'}, down "
            f"{format_bandwidth(row['down_Bps'])}, {up}{extra}"
        )
    for bw in s["wan_links_Bps"]:
        print(f"  WAN link            {format_bandwidth(bw)}")
    print(
        f"bisection bandwidth: {format_bandwidth(s['bisection_Bps'])} per direction "
        f"({s['bisection_method']})"
    )
    if "png" in s:
        print(f"drawing: {s['png']}")
