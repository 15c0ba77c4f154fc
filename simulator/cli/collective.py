"""``commsim collective``: one collective alone on a topology, nccl-tests style.

``--size 1GiB`` runs one size; ``--sizes 1KiB:8GiB`` sweeps sizes by factors of two like
nccl-tests' ``-b 1K -e 8G -f 2`` (``1KiB:8GiB:4`` by factors of four, ``-f 4``). Human output
is a small table with units; ``--json`` prints one object (``time_s``, ``algbw_Bps``,
``busbw_Bps``, ``algo``, ``op``, ``size_B``, ``n_ranks``, ``topology``, ``backend``,
``fidelity``, ...) or, with ``--sizes``, ``{"rows": [...]}``; ``faults`` with ``--faults``.
Bad input (unknown op, a size like ``"12 parsecs"``, a rank out of range) exits 2.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm

#: nccl-tests' element size for its default float type (``count`` column = size / 4).
FLOAT_B = 4


def register(subparsers: Any) -> None:
    """Add the ``collective`` subcommand."""
    p = subparsers.add_parser(
        "collective",
        help="simulate one collective (nccl-tests style)",
        description="Simulate one collective on a topology and report time, algbw and busbw "
        "as nccl-tests defines them.",
    )
    p.add_argument("--topology", required=True, help="shipped topology name or YAML path")
    p.add_argument(
        "--op",
        required=True,
        help="all_reduce, reduce_scatter, all_gather, broadcast, reduce, all_to_all, "
        "send_recv or barrier",
    )
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", help="message size, e.g. 1GiB (nccl-tests convention)")
    size.add_argument(
        "--sizes", help="MIN:MAX[:FACTOR], e.g. 1KiB:8GiB (doubling, nccl-tests' -b -e -f)"
    )
    p.add_argument("--ranks", help="ranks, e.g. 0-7 or 0,2,4 (default: all)")
    p.add_argument(
        "--algo",
        default="auto",
        help=", ".join(a.value for a in Algorithm if a is not Algorithm.AUTO)
        + " or auto (default)",
    )
    p.add_argument("--backend", default="nccl", help="nccl (default), gloo, or a profile YAML")
    p.add_argument("--fidelity", default="flow", help="analytical, flow (default) or chunk")
    p.add_argument("--channels", type=int, help="parallel rings/trees (default: backend's)")
    p.add_argument("--chunks", type=int, default=1, help="pipeline chunks (chunk fidelity)")
    p.add_argument("--root", type=int, default=0, help="group index of the root")
    p.add_argument(
        "--faults",
        metavar="YAML",
        help="network faults in force (a file or inline YAML, a scenario's faults: section)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=collective_command)


def parse_ranks(text: str) -> list[int]:
    """``"0-7"``, ``"0,2,4"``, ``"0-3,8-11"`` -> list of ints; :class:`InputError` otherwise."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise InputError(
            f"cannot read {text!r}; write e.g. 0-7 or 0,2,4", field="--ranks"
        ) from None
    seen: set[int] = set()
    for r in out:  # was "ranks: a rank appears twice in [...]", the flag not named
        if r in seen:
            raise InputError(f"rank {r} listed twice in {text!r}", field="--ranks")
        seen.add(r)
    return out


def _size(text: str, field: str) -> float:
    from simulator.core.units import UnitError, parse_size

    try:
        s = parse_size(text)
    except (UnitError, ValueError, TypeError) as exc:
        raise InputError(str(exc), field=field) from None
    if s < 0 or math.copysign(1.0, s) < 0:  # -0 too: a sign is a slip
        raise InputError(f"a size must be >= 0, got {text!r}", field=field)
    if s != math.floor(s):  # 0.5, 1e-5, 1.5B: nccl-tests sizes are whole bytes
        raise InputError(f"a size is a whole number of bytes, got {text!r} ({s:g} B)", field=field)
    check_message_size(s, field)
    return s


def check_message_size(size_B: float, field: str) -> None:
    """Refuse a message larger than the largest GPU memory of the catalogue (unless forced):
    a collective's buffer lives in one GPU's memory (B200: 192 GB), so ``--size 1e20`` or
    ``1e18GiB`` is a slip, not a job."""
    from simulator.hardware import largest_gpu_hbm_B
    from simulator.limits import check_limit

    largest = largest_gpu_hbm_B()
    check_limit(
        size_B, int(largest), "bytes in one message", field=field, verb="is",
        hint="larger than any catalogue GPU's memory",
    )  # fmt: skip


def _factor(parts: list[str], text: str) -> int:
    """The ``FACTOR`` of ``MIN:MAX:FACTOR`` (nccl-tests' ``-f``; default 2), an integer >= 2."""
    if len(parts) == 2:
        return 2
    if len(parts) == 3 and parts[2].strip().isdigit() and int(parts[2]) >= 2:
        return int(parts[2])
    raise InputError(
        f"expected MIN:MAX or MIN:MAX:FACTOR with an integer FACTOR >= 2, got {text!r}",
        field="--sizes",
    )


def parse_sizes(text: str) -> list[float]:
    """``"MIN:MAX[:FACTOR]"`` -> ``[MIN, F MIN, F^2 MIN, ...]`` up to and including MAX
    (``F`` = FACTOR, default 2, like nccl-tests' ``-f``)."""
    if ":" not in text:
        raise InputError(
            f"expected MIN:MAX, e.g. 1KiB:8GiB, got {text!r} (one size: --size {text})",
            field="--sizes",
        )
    parts = text.split(":")
    factor = _factor(parts, text)
    lo, hi = _size(parts[0], "--sizes"), _size(parts[1], "--sizes")
    if lo <= 0 or hi < lo:
        raise InputError(f"need 0 < MIN <= MAX, got {text!r}", field="--sizes")
    from simulator.limits import check_sizes_count

    sizes = []  # finite MIN <= MAX and FACTOR >= 2: at most ~1,100 sizes even up to 1e308 B
    s = lo
    while s <= hi * (1 + 1e-12):
        sizes.append(s)
        s *= factor
    check_sizes_count(len(sizes), factor)
    return sizes


def collective_command(args: argparse.Namespace) -> int:
    """Run the command; exit status."""
    from simulator.cli import emit_json
    from simulator.cli.collective_checks import check_flags, check_rank_text
    from simulator.collectives import load_backend, simulate_collective
    from simulator.limits import check_collective
    from simulator.topology import load_topology

    _coerce_choices(args)
    topo = load_topology(args.topology)
    if args.ranks:
        check_rank_text(args.ranks, int(topo.num_ranks))
    ranks = parse_ranks(args.ranks) if args.ranks else None
    if args.faults:
        from simulator.faults.collective import faulted_topology

        topo = faulted_topology(topo, args.faults, ranks)
    backend = load_backend(args.backend, ranks=len(ranks) if ranks else topo.num_ranks)
    sizes = parse_sizes(args.sizes) if args.sizes is not None else [_size(args.size, "--size")]
    n_ranks = len(ranks) if ranks is not None else int(topo.num_ranks)
    check_flags(args, n_ranks)
    from simulator.collectives.choice import default_channels

    used = args.channels  # what the planner will use: --channels, else the profile's count
    if used is None:
        used = default_channels(topo, ranks if ranks is not None else range(n_ranks), backend)
    check_collective(
        n_ranks, used, args.chunks, str(args.fidelity), len(sizes), op=args.op, algo=args.algo,
        profile=None if args.channels is not None else str(args.backend),
    )  # fmt: skip
    in_force = _faults_in_force(args.faults) if args.faults else None  # the same for every size
    rows: list[dict[str, Any]] = []
    for s in sizes:
        r = simulate_collective(
            topo,
            args.op,
            s,
            ranks=ranks,
            algo=args.algo,
            backend=backend,
            fidelity=args.fidelity,
            chunks=args.chunks,
            channels=args.channels,
            root=args.root,
            record=False,
        )
        row = r.to_dict()
        row.update(topology=topo.name, backend=backend.name)
        if in_force is not None:
            row["faults"] = in_force
        rows.append(row)
    if args.json:
        emit_json({"rows": rows} if args.sizes else rows[0])
    elif args.sizes:
        print(_table(rows))
    else:
        print(_summary(rows[0]))
    return 0


def _coerce_choices(args: argparse.Namespace) -> None:
    """``--op``, ``--algo`` and ``--fidelity`` as their enum members, an unknown one refused
    naming the flag (the simulator's own check named ``op``, a field the user never wrote)."""
    from simulator.core.vocab import Algorithm, CollectiveOp, Fidelity, coerce

    args.op = coerce(CollectiveOp, args.op, field="--op")
    args.algo = coerce(Algorithm, args.algo, field="--algo")
    args.fidelity = coerce(Fidelity, args.fidelity, field="--fidelity")


def _faults_in_force(text: str) -> dict[str, Any]:
    """The ``--faults`` applied, as plain JSON without defaults (said in every output format:
    until 2026-12-06 nothing showed that the faults were in force)."""
    from simulator.faults.inputs import load_faults

    dumped: dict[str, Any] = load_faults(text).model_dump(mode="json", exclude_defaults=True)
    return dumped


def _faults_text(row: dict[str, Any]) -> str:
    import json

    return json.dumps(row["faults"], separators=(", ", ": "))


def _summary(row: dict[str, Any]) -> str:
    from simulator.core.units import format_bandwidth, format_size, format_time

    lines = [
        ("collective", f"{row['op']} on {row['n_ranks']} ranks of {row['topology']}"),
        ("size", format_size(row["size_B"])),
        ("algorithm", f"{row['algo']} ({row['protocol']}, {row['channels']} channel(s))"),
        ("backend / fidelity", f"{row['backend']} / {row['fidelity']}"),
        ("time", format_time(row["time_s"])),
        ("algbw", format_bandwidth(row["algbw_Bps"])),
        ("busbw", format_bandwidth(row["busbw_Bps"])),
    ]
    if "faults" in row:
        lines.insert(1, ("faults", _faults_text(row)))
    w = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in lines)


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'size (B)':>12} {'count':>12} {'time (us)':>11} {'algbw (GB/s)':>13} "
        f"{'busbw (GB/s)':>13}  algo"
    )
    r0 = rows[0]
    out = [
        f"# {r0['op']} on {r0['n_ranks']} ranks of {r0['topology']}, backend {r0['backend']}, "
        f"fidelity {r0['fidelity']} (GB/s = 1e9 B/s, like nccl-tests)",
        head,
    ]
    if "faults" in r0:
        out.insert(1, f"# faults in force: {_faults_text(r0)}")
    for r in rows:
        out.append(
            f"{int(r['size_B']):>12d} {int(r['size_B'] // FLOAT_B):>12d} "
            f"{r['time_s'] * 1e6:>11.2f} {r['algbw_Bps'] / 1e9:>13.2f} "
            f"{r['busbw_Bps'] / 1e9:>13.2f}  {r['algo']}/{r['protocol']}"
        )
    return "\n".join(out)
