"""``commsim replay TRACE_DIR``: predict a recorded run and compare with its measurement.

* ``commsim replay D [--topology T] [--backend gloo|PATH] [--json]``: replay the recording on
  T (default: the manifest's topology) -> measured vs predicted step time, error, and a
  per-collective table (kind, size, measured, predicted, error).
* ``commsim replay D --strategy S --world N --topology T``: re-shard the recording's measured
  per-layer profile to strategy S on N ranks and predict that step (no measurement to compare).
* ``commsim replay D --chakra-out DIR``: also write the imported Programs as Chakra ETs.
* ``commsim replay CHAKRA_DIR --topology T``: a directory of Chakra files (``*.et``, or
  Chakra's JSON forms) is imported and simulated.
* ``commsim replay WORKLOAD.txt --topology T [--world N]``: an ASTRA-sim 1.0 text workload
  (:mod:`simulator.traces.astra_text`) is imported and one step simulated on N ranks (default
  all of T's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.core.errors import InputError

if TYPE_CHECKING:
    from simulator.engine import StepResult
    from simulator.studies import ChakraReplayResult, ReplayResult, ReshardResult


def register(subparsers: Any) -> None:
    """Add the ``replay`` subcommand."""
    p = subparsers.add_parser(
        "replay",
        help="replay a recorded trace (or re-shard it to another strategy/world size)",
        description="Import TRACE_DIR (a `commsim record` output or a folder of Chakra .et "
        "files), simulate it and compare predicted with measured times.",
    )
    p.add_argument("trace_dir", metavar="TRACE_DIR")
    p.add_argument("--topology", help="topology name or YAML (default: the manifest's)")
    p.add_argument("--backend", help="backend profile name or file (default: the manifest's)")
    p.add_argument("--fidelity", default="flow", choices=("analytical", "flow", "chunk"))
    p.add_argument(
        "--strategy",
        help="re-shard to this strategy (recorder names: ddp, fsdp, "
        "pp-gpipe, pp-1f1b, tp, ddp-fp16, ddp-powersgd, ps-sync, ps-async; "
        "default with --world: the recorded one)",
    )
    p.add_argument(
        "--world",
        type=int,
        help="re-shard to this many ranks (default: all ranks of --topology, else the "
        "recording's); for a Chakra directory: the job's world size (missing ranks mirrored)",
    )
    p.add_argument(
        "--link-et",
        action="store_true",
        help="also link the execution traces (rank{r}.et.json) by record-function id",
    )
    p.add_argument(
        "--mirror-ranks",
        action="store_true",
        help="the directory holds only some ranks: assume the missing ones did what the given "
        "ones did (said in the output)",
    )
    p.add_argument(
        "--chakra-out",
        metavar="DIR",
        help="write the Programs (the re-sharded ones when re-sharding) as Chakra ETs into a "
        "new or empty DIR",
    )
    p.add_argument("--steps", help="with --chakra-out: the measured steps to write (default all)")
    p.add_argument("--out", metavar="DIR", help="write timeline, tables and plots into DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=replay_command)


def replay_command(args: argparse.Namespace) -> int:
    """Dispatch replay / re-shard / Chakra import; print the result."""
    from simulator.cli import emit_json

    src = Path(args.trace_dir)
    if src.is_file():
        from simulator.traces.astra_text import looks_like_text_workload

        if looks_like_text_workload(src):
            return _replay_text(src, args)
    if not src.is_dir():
        what = "a file" if src.is_file() else "not a directory"
        raise InputError(
            f"{what}: give the directory that holds the trace files (one per rank), or an "
            "ASTRA-sim text workload (first word a parallelism type such as DATA)",
            file=str(src),
        )
    from simulator.cli.replay_checks import check_world, import_boundary

    check_world(args.world)
    if args.steps is not None and not args.chakra_out:  # it was ignored without a word
        raise InputError("only with --chakra-out (the steps to write)", field="--steps")
    resharded: Any = None
    _check_outputs(args)
    from dataclasses import replace

    from simulator.report import progress
    from simulator.studies import ReplayResult, replay, reshard

    out: ReplayResult | ReshardResult | ChakraReplayResult
    is_chakra = _is_chakra_dir(src)
    with progress.track(f"replaying {src}"), import_boundary(str(src)):
        if is_chakra:
            out = _replay_chakra(src, args)
        elif args.strategy is not None or args.world is not None:
            res = reshard(
                src, strategy=args.strategy, world=args.world, topology=args.topology,
                backend=args.backend, fidelity=args.fidelity,
            )  # fmt: skip
            resharded = res.workload
            out = res
        else:
            out = replay(
                str(src),
                topology=args.topology,
                backend=args.backend,
                fidelity=args.fidelity,
                link_et=args.link_et,
                mirror_missing=args.mirror_ranks,
                out_dir=Path(args.out) if args.out else None,
            )
    if args.out and not isinstance(out, ReplayResult):
        out = _write_out(out, Path(args.out))
    if args.chakra_out:
        with import_boundary(str(src)):
            _export(src, Path(args.chakra_out), args, resharded, is_chakra)
        out = replace(out, chakra_out=args.chakra_out)
    if args.json:
        emit_json(out.to_json())
    elif isinstance(out, ReplayResult):
        _print_replay(out)
    else:
        _print_prediction(out)
        _note_cpu_backend_on_gpus(out, args)
    if not args.json:
        _print_written(args)
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """``--out`` and ``--chakra-out`` checked before anything is simulated (never overwritten)."""
    if args.out:
        from simulator.cli.run import check_out_dir

        check_out_dir(Path(args.out))
    if args.chakra_out:
        co = Path(args.chakra_out)
        from simulator.outputs import check_no_dead_link

        check_no_dead_link(co, "--chakra-out")
        if co.exists() and (not co.is_dir() or any(co.iterdir())):
            raise InputError(
                "exists and is not an empty directory; commsim never overwrites it",
                file=str(co),
                field="--chakra-out",
            )


def _note_cpu_backend_on_gpus(out: object, args: argparse.Namespace) -> None:
    """A re-shard onto a GPU topology keeps the recording's backend unless ``--backend`` is
    given: say so when that is gloo (DDP on 64 ranks of dgx-a100-8node: 34.8 ms of
    communication with gloo, 0.48 ms with nccl)."""
    from simulator.studies import ReshardResult
    from simulator.topology import NodeKind, load_topology

    if not isinstance(out, ReshardResult) or args.backend or not args.topology:
        return
    if out.backend != "gloo":
        return
    topo = load_topology(args.topology)
    if any(topo.graph.nodes[r].get("kind") == NodeKind.GPU for r in topo.ranks):
        print(
            f"  note: predicted with the recording's backend (gloo) on {out.topology}'s GPUs; "
            "add --backend nccl for what NCCL would do there"
        )


def _print_written(args: argparse.Namespace) -> None:
    """Say where ``--out`` and ``--chakra-out`` wrote, as ``commsim run --out`` does (until
    2026-12-06 replay wrote both silently)."""
    if args.out:
        print(f"wrote {Path(args.out)}/")
    if args.chakra_out:
        print(f"wrote Chakra execution traces into {Path(args.chakra_out)}/")


def _write_out(
    out: ReshardResult | ChakraReplayResult, where: Path
) -> ReshardResult | ChakraReplayResult:
    """``--out`` of a re-shard or a Chakra replay: the simulated step's timeline, tables and
    plots, as for a replay (until 2026-12-06 nothing was written and nothing said so)."""
    from dataclasses import replace

    from simulator.traces.outputs import write_replay_outputs

    write_replay_outputs(where, out.result, out.to_json())
    return replace(out, out=str(where))


def _export(
    src: Path, out: Path, args: argparse.Namespace, resharded: Any = None, chakra: bool = False
) -> None:
    """Write the re-sharded workload, else a Chakra directory's imported Programs, else the
    recorded steps (``--steps``, default all)."""
    from simulator.studies.trace_replay import chained_workload
    from simulator.traces.chakra import export_workload, import_chakra_dir
    from simulator.traces.kineto import import_trace_dir

    if resharded is not None:
        export_workload(resharded, out)
        return
    if chakra:
        # until 2026-12-06 the directory was read again as Kineto traces and refused
        export_workload(import_chakra_dir(src, world=args.world), out)
        return
    imp = import_trace_dir(src, mirror_missing=args.mirror_ranks)
    steps = imp.good_steps
    if args.steps:
        try:
            steps = [int(s) for s in args.steps.split(",")]
        except ValueError:
            raise InputError("expected step numbers like 0,1", field="--steps") from None
        bad = [k for k in steps if k not in imp.good_steps]
        if bad:
            raise InputError(f"steps {bad} are not among {imp.good_steps}", field="--steps")
    # the steps run back to back in one program: read back, its step is the mean step
    # (until 2026-12-06 the Chakra replay of 3 exported steps printed their sum as one step)
    chain = chained_workload(imp, steps).workload
    chain.steps_per_program = len(steps)
    export_workload(chain, out)


def _is_chakra_dir(src: Path) -> bool:
    """A directory of Chakra files: ``*.et`` (and no ``rank*.trace.json``), or Chakra JSON
    and no Kineto trace (until 2026-12-06 Chakra JSON was refused as not ``*.et``)."""
    if any(src.glob("*.et")):
        return not any(src.glob("rank*.trace.json*"))
    from simulator.traces.kineto import trace_kinds

    kinds = set(trace_kinds(src).values())
    return "chakra-json" in kinds and "kineto" not in kinds


def _replay_text(src: Path, args: argparse.Namespace) -> int:
    """``commsim replay WORKLOAD.txt --topology T``: an ASTRA-sim 1.0 text workload."""
    from simulator.cli import emit_json
    from simulator.cli.replay_checks import check_world, import_boundary
    from simulator.report import progress
    from simulator.studies import replay_astra_text

    check_world(args.world)
    if not args.topology:
        raise InputError("a text workload needs --topology", field="--topology")
    for opt in ("strategy", "chakra_out", "steps"):
        if getattr(args, opt) is not None:
            flag = "--" + opt.replace("_", "-")
            raise InputError("not with an ASTRA-sim text workload", file=str(src), field=flag)
    if args.out:
        from simulator.cli.run import check_out_dir

        check_out_dir(Path(args.out))
    with progress.track(f"replaying {src}"), import_boundary(str(src)):
        out: ChakraReplayResult = replay_astra_text(
            src, topology=args.topology, backend=args.backend, fidelity=args.fidelity,
            world=args.world,
        )  # fmt: skip
    for w in out.warnings:
        print(f"commsim replay: warning: {w}", file=sys.stderr)
    if args.out:
        out = _write_out(out, Path(args.out))  # type: ignore[assignment]
    if args.json:
        emit_json(out.to_json())
    else:
        _print_prediction(out)
        _print_written(args)
    return 0


def _replay_chakra(src: Path, args: argparse.Namespace) -> ChakraReplayResult:
    """Simulate a directory of Chakra execution traces (needs ``--topology``); warnings on
    stderr."""
    from simulator.studies import replay_chakra

    if not args.topology:
        raise InputError("a Chakra directory needs --topology", field="--topology")
    if args.strategy is not None:
        raise InputError(
            "a Chakra directory is simulated as it is; re-sharding to another strategy needs "
            "a Kineto recording (--world sets the Chakra job's world size)",
            file=str(src),
            field="--strategy",
        )
    chakra = replay_chakra(
        src, topology=args.topology, backend=args.backend, fidelity=args.fidelity,
        world=args.world,
    )  # fmt: skip
    for w in chakra.warnings:
        print(f"commsim replay: warning: {w}", file=sys.stderr)
    return chakra


def _print_replay(out: ReplayResult) -> None:
    # a GPU trace from elsewhere has no recorder strategy ("unknown"): say so as such
    what = "strategy unknown" if out.strategy == "unknown" else out.strategy
    print(
        f"{out.trace}: {what} on {out.world} rank{'s' if out.world != 1 else ''}, topology "
        f"{out.topology}, backend {out.backend}, {out.steps} step{'s' if out.steps != 1 else ''}"
    )
    print(f"  measured step  {out.measured_step_s * 1e3:10.3f} ms")
    print(f"  predicted step {out.predicted_step_s * 1e3:10.3f} ms   error {out.error_pct:+.1f} %")
    print(
        f"  {'collective':<16}{'size':>12}{'count':>7}{'measured ms':>13}"
        f"{'predicted ms':>14}{'error %':>9}"
    )
    for c in out.collectives:
        err = "n/a" if c.error_pct is None else f"{c.error_pct:+.0f}"
        print(
            f"  {c.kind:<16}{c.size_B:>12.0f}{c.count:>7}"
            f"{c.measured_s * 1e3:>13.3f}{c.predicted_s * 1e3:>14.3f}{err:>9}"
        )
    if out.mirrored_ranks:
        print(
            f"  note: {len(out.mirrored_ranks)} of {out.world} ranks were not in the trace; they "
            "mirror the given ranks (--mirror-ranks)"
        )
    summ = out.import_summary
    for note in summ.get("notes", []):
        print(f"  note: {note}")
    print(
        f"  import: {summ['events_total']} events; skipped {summ['skipped']}; "
        f"unknown {summ['unknown_total']}"
    )


def _print_prediction(out: ReshardResult | ChakraReplayResult) -> None:
    from simulator.studies import ReshardResult

    what = out.strategy if isinstance(out, ReshardResult) else out.format
    backend = f", backend {out.backend}" if isinstance(out, ReshardResult) else ""
    print(
        f"{out.trace}: predicted step {out.predicted_step_s * 1e3:.3f} ms "
        f"({what} on {out.world} ranks, topology {out.topology}{backend})"
    )
    print(f"  {breakdown_line(out.result)}")
    if isinstance(out, ReshardResult) and out.measured_step_s is not None:
        print(
            f"  recorded: {out.recorded_strategy or 'unknown'} on {out.recorded_world} ranks, "
            f"measured step {out.measured_step_s * 1e3:.3f} ms"
        )


def breakdown_line(result: StepResult) -> str:
    """Where a predicted step goes (critical rank; times per step, units printed): the one
    line a re-sharded or Chakra replay adds under its step time, so that a what-if to another
    world size shows what its communication costs, not only the step."""
    from simulator.report.summary import format_part

    return (
        f"compute {format_part(result.compute_s)}, exposed communication "
        f"{format_part(result.exposed_comm_s)} (of {format_part(result.comm_s)} in all), "
        f"bubble / idle {format_part(result.bubble_s)}"
    )
