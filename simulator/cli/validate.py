"""``commsim validate``: measured against predicted, on the rig or against published figures.

    commsim validate --topology rig-2host --world 2 --strategies ddp,fsdp,pp,tp,ps,compress \
        [--tiers replay,topology,strategy] [--steps 5] [--json] [--out DIR]
    commsim validate --published [--kind K] [--reference NAME] [--fidelity F] [--json]
    commsim validate --published --kind nccl_tests --write-doc docs/published-fidelity.md

The rig needs root (network namespaces); see docs/rig.md. ``--json`` prints
``{"cases": [{"tier", "case", "measured_s", "predicted_s", "error_pct", ...}], "summary": ...}``;
``--out DIR`` also writes ``DIR/validate.json`` and ``DIR/scatter.png`` (with ``--faults``, also
``DIR/faults.png``) and keeps the traces in ``DIR/traces`` (a later run with the same ``--out``
reuses them). ``--faults all`` adds the rig fault cases (:mod:`simulator.studies.rig_faults`).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.cli import emit_json
from simulator.core.errors import InputError
from simulator.report import progress

if TYPE_CHECKING:
    from simulator.studies import RigValidation
    from simulator.studies.rig_cases import ModelShape
    from simulator.studies.rig_faults import FaultCase

#: The rig topology used for a world size when ``--topology`` is not given.
DEFAULT_TOPOLOGY = {2: "rig-2host", 4: "rig-4host-2rack"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``validate``."""
    p = subparsers.add_parser(
        "validate",
        help="measured vs predicted: rig runs (3 tiers) or published figures",
        description="Record real gloo training steps on the emulated rig and compare them with "
        "predictions: replay (record on T, predict T), topology what-if (record on T1, predict "
        "and measure T2), strategy what-if (record DDP, predict and measure others). "
        "Needs root. With --published, compare with published measurements instead.",
    )
    p.add_argument(
        "--topology", help="rig topology (default: rig-2host for 2, rig-4host-2rack for 4)"
    )
    p.add_argument("--world", type=int, help="ranks (must equal the topology's hosts)")
    p.add_argument(
        "--strategies",
        default="ddp,fsdp,pp,tp,ps,compress",
        help="comma-separated: ddp, fsdp, pp, tp, ps, compress (or recorder names)",
    )
    p.add_argument(
        "--tiers", default="replay,topology,strategy", help="comma-separated tiers to run"
    )
    p.add_argument(
        "--what-if", help="comma-separated tier-2 topologies (default: shipped variants)"
    )
    p.add_argument(
        "--faults",
        help="also run rig fault cases for ddp and ps-async: all, or slow-nic[:F][@RANK], "
        "cpu-throttle[:F][@RANK] (docs/rig.md)",
    )
    p.add_argument("--steps", type=int, default=8, help="measured steps per recording")
    p.add_argument("--warmup", type=int, default=2, help="warm-up steps per recording")
    p.add_argument("--backend", help="backend profile (default: the rig calibration)")
    p.add_argument("--layers", type=int, help="tiny GPT blocks")
    p.add_argument("--d-model", type=int, help="tiny GPT width")
    p.add_argument("--batch", type=int, help="sequences per rank and step")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per recording")
    p.add_argument(
        "--device",
        choices=("cpu", "accel"),
        default="cpu",
        help="recorder device mode: accel runs layer compute on an emulated accelerator",
    )
    from simulator.cli.accel_args import add_duration_args

    add_duration_args(p)
    p.add_argument("--out", help="write validate.json, scatter.png and traces/ here")
    p.add_argument("--published", action="store_true", help="compare with published figures")
    p.add_argument(
        "--reference",
        action="append",
        metavar="NAME",
        help="with --published: only this reference row, repeatable (default: all)",
    )
    p.add_argument(
        "--kind",
        action="append",
        choices=("nccl_tests", "training"),
        help="with --published: only rows of this kind, repeatable (default: both)",
    )
    p.add_argument(
        "--fidelity",
        choices=("analytical", "flow", "chunk"),
        help="with --published: collective fidelity of every row (default: flow)",
    )
    p.add_argument(
        "--write-doc",
        metavar="PATH",
        help="with --published: regenerate the tables inside PATH (docs/published-fidelity.md)",
    )
    p.add_argument(
        "--plot", metavar="PNG", help="draw predicted against measured (or published) here"
    )
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=validate_command)


def validate_command(args: argparse.Namespace) -> int:
    """Run ``commsim validate``."""
    if args.published:
        return _published(args)
    for flag in ("reference", "kind", "fidelity", "write_doc"):
        if getattr(args, flag) is not None:
            raise InputError("only with --published", field="--" + flag.replace("_", "-"))
    from simulator.cli.file_args import check_png_arg

    check_png_arg(args.plot, "--plot")
    from simulator.rig import netns
    from simulator.studies.rig_cases import ModelShape, Tier, parse_strategies
    from simulator.studies.rig_faults import parse_fault_cases
    from simulator.studies.rig_validation import validate_rig
    from simulator.topology import load_topology

    topology = args.topology or DEFAULT_TOPOLOGY.get(args.world or 2)
    if topology is None:
        raise InputError(
            f"no default rig for {args.world} ranks; give --topology", field="--topology"
        )
    topo = load_topology(topology)
    if args.world is not None and args.world != topo.num_ranks:
        raise InputError(
            f"{topology} has {topo.num_ranks} hosts but --world is {args.world}", field="--world"
        )
    strategies = parse_strategies(args.strategies)
    from simulator.cli.accel_args import roofline_choice

    roofline = roofline_choice(args)
    fault_cases = parse_fault_cases(args.faults) if args.faults else []
    try:
        tiers = [Tier(t.strip()) for t in args.tiers.split(",") if t.strip()]
    except ValueError:
        raise InputError(
            f"unknown tier in {args.tiers!r} (choose from {', '.join(t.value for t in Tier)})",
            field="--tiers",
        ) from None
    from simulator.cli.validate_checks import check_rig_args

    check_rig_args(args, topology, topo.num_ranks, strategies, tiers, [c.rank for c in fault_cases])
    shape = ModelShape()
    for attr, val in (("n_layer", args.layers), ("d_model", args.d_model), ("batch", args.batch)):
        if val is not None:
            shape = replace(shape, **{attr: val})
    _validator(args, topology, list(strategies), shape, roofline, tiers).check()  # before the rig
    netns.check_support()
    out_dir = Path(args.out) if args.out else None
    tmp = None
    if out_dir is not None:
        from simulator.outputs import prepare_out_dir

        prepare_out_dir(out_dir)
        work = out_dir / "traces"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="commsim-validate-")
        work = Path(tmp.name)
    try:
        with progress.track("validate on the rig"):
            res = validate_rig(
                topology,
                strategies,
                work,
                backend=args.backend or "",
                steps=args.steps,
                warmup=args.warmup,
                shape=shape,
                what_if=[t.strip() for t in args.what_if.split(",")] if args.what_if else None,
                tiers=tiers,
                timeout_s=args.timeout,
                log=progress.note,
                device=args.device,
                roofline=roofline,
            )
            if args.faults:
                res = _faults(res, args, fault_cases, work, shape)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return _rig_report(res, args, out_dir)


def _validator(
    args: argparse.Namespace, topology: str, strategies: list[str], shape: Any, roofline: Any,
    tiers: list[Any],
) -> Any:  # fmt: skip
    """The ladder's :class:`Validator` with the flags' recording settings (checks only)."""
    from simulator.studies.rig_validation import Validator

    return Validator(
        topology=topology, strategies=strategies, work_dir=Path("unused"),
        backend=args.backend or "",
        steps=args.steps, warmup=args.warmup, shape=shape, timeout_s=args.timeout,
        device=args.device, roofline=roofline, tiers=tuple(tiers),
    )  # fmt: skip


def _faults(
    res: RigValidation, args: argparse.Namespace, cases: list[FaultCase], work: Path,
    shape: ModelShape,
) -> RigValidation:  # fmt: skip
    """``res`` with the ``--faults`` cases (:mod:`simulator.studies.rig_faults`)."""
    from simulator.studies.rig_faults import with_fault_cases
    from simulator.studies.rig_validation import Validator

    validator = Validator(
        topology=res.summary.topology, strategies=[], work_dir=work, backend=res.backend,
        steps=args.steps, warmup=args.warmup, shape=shape, tiers=(), timeout_s=args.timeout,
        log=progress.note, device=res.summary.device,
    )  # fmt: skip
    return with_fault_cases(res, validator, cases)


def _rig_report(res: RigValidation, args: argparse.Namespace, out_dir: Path | None) -> int:
    """Write ``--out`` and ``--plot``, then print ``res`` (JSON or a table). Exit status."""
    from simulator.studies.rig_validation import format_cases, scatter_png

    obj = res.to_json()
    if out_dir is not None:
        import json

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "validate.json").write_text(json.dumps(obj, indent=2))
        scatter_png(res.cases, out_dir / "scatter.png")
        if res.summary.faults is not None and res.summary.faults.n:
            from simulator.studies.rig_faults import fault_scatter_png

            fault_scatter_png(res.cases, out_dir / "faults.png")
    if args.plot:
        scatter_png(res.cases, Path(args.plot))
    if args.json:
        emit_json(obj)
        return 0
    print(format_cases(res.cases))
    for tier, st in res.summary.stats().items():
        if st.n:
            print(
                f"{tier}: {st.n} cases, median |error| {st.median_abs_error_pct:.1f}%, "
                f"max {st.max_abs_error_pct:.1f}%"
            )
    print(f"backend: {res.backend}")
    return 0


def _published(args: argparse.Namespace) -> int:
    from simulator.cli.file_args import check_doc_arg, check_published_flags
    from simulator.studies import validate_published
    from simulator.studies.published import Kind, _markers, write_doc

    check_published_flags(args)
    check_doc_arg(args.write_doc, [_markers(k) for k in Kind])

    with progress.track("published references"):
        res = validate_published(args.reference, kinds=args.kind, fidelity=args.fidelity)
    if args.write_doc:
        write_doc(
            args.write_doc,
            res.rows,
            command=" ".join(["commsim validate --published", *_published_flags(args)]),
        )
    if args.plot:
        from simulator.studies.published_plot import published_png

        res = replace(res, plot=str(published_png(res.to_json()["rows"], args.plot)))
    if args.json:
        emit_json(res.to_json())
        return 0
    _print_published(res.rows)
    if res.plot:
        print(f"wrote {res.plot}")
    return 0


def _print_published(rows: Any) -> None:
    """The rows with their band, status and role, then the summary line, as
    docs/published-fidelity.md shows them (until 2026-12-06 neither misses nor held-out rows
    were marked here)."""
    from simulator.studies.published import band_summary

    print(
        f"{'reference':<40} {'expected':>12} {'predicted':>12} {'unit':<14} {'error_%':>8} "
        f"{'band_%':>7}  {'status':<6}  role"
    )
    for r in rows:
        status = "ok" if r.within_tolerance else "MISS"
        role = "held-out" if r.held_out else "calibration"
        print(
            f"{r.reference:<40} {r.expected:>12.4g} {r.predicted:>12.4g} {r.unit:<14} "
            f"{r.error_pct:>+8.1f} {r.tolerance_pct:>7.0f}  {status:<6}  {role}"
        )
    for kind in dict.fromkeys(r.kind for r in rows):
        print(f"{kind}: {band_summary([r for r in rows if r.kind == kind])}")


def _published_flags(args: argparse.Namespace) -> list[str]:
    """The ``--published`` options as given, for the generated doc's "Generated by" line."""
    flags: list[str] = []
    for name in args.reference or []:
        flags += ["--reference", name]
    for kind in args.kind or []:
        flags += ["--kind", kind]
    if args.fidelity:
        flags += ["--fidelity", args.fidelity]
    flags += ["--write-doc", args.write_doc]
    return flags
