"""``commsim record``: real torch training steps with real torch.distributed, traced.

Writes per rank the Kineto trace, the execution trace, the measured step times, and
``manifest.json`` into ``--out``. ``--json`` prints the manifest (one object).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from simulator.core.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``record`` subcommand."""
    from simulator.cli.accel_args import add_duration_args
    from simulator.traces.recipe import MICROBATCHES, CommBackend, RecordStrategy

    p = subparsers.add_parser(
        "record",
        help="record real torch training steps (Kineto + execution traces)",
        description="Run real training steps of a small GPT (or MODULE:FACTORY) with "
        "torch.distributed and record per-rank traces and step times into DIR.",
    )
    p.add_argument("--world", type=int, required=True, metavar="N", help="number of ranks")
    p.add_argument("--strategy", required=True, choices=[s.value for s in RecordStrategy])
    p.add_argument(
        "--steps",
        type=int,
        default=5,
        metavar="K",
        help="measured (profiled) steps; warm-up steps come on top",
    )
    p.add_argument("--warmup", type=int, default=2, metavar="W", help="unmeasured warm-up steps")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (empty)")
    p.add_argument("--model", default="gpt-tiny", help="gpt-tiny or module:factory")
    p.add_argument("--backend", default="gloo", choices=[b.value for b in CommBackend])
    p.add_argument(
        "--topology",
        metavar="RIG",
        help="run the ranks on this emulated rig (network namespaces, needs root)",
    )
    p.add_argument("--bucket-cap-mb", type=float, default=0.5, help="DDP bucket size, MiB")
    p.add_argument("--microbatches", type=int, default=MICROBATCHES, help="pipeline micro-batches")
    p.add_argument("--layers", type=int, default=4, help="tiny GPT: number of blocks")
    p.add_argument("--d-model", type=int, default=128, help="tiny GPT: model width")
    p.add_argument("--batch", type=int, default=8, help="sequences per rank and step")
    p.add_argument("--seq-len", type=int, default=64, help="tokens per sequence")
    p.add_argument(
        "--no-execution-trace", action="store_true", help="skip torch's ExecutionTraceObserver"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    p.add_argument(
        "--device",
        choices=("cpu", "accel"),
        default="cpu",
        help="accel: layer compute runs as timed work on an emulated accelerator that leaves "
        "the host's cores free (docs/rig.md)",
    )
    add_duration_args(p)
    p.add_argument(
        "--emit-config",
        action="store_true",
        help="only write DIR/record_config.json and print the torchrun command "
        "that runs the workers (multi-node GPU clusters); then --finalize",
    )
    p.add_argument(
        "--finalize",
        action="store_true",
        help="only write DIR/manifest.json from the ranks' files (after torchrun)",
    )
    p.add_argument("--json", action="store_true", help="print the manifest as one JSON object")
    p.set_defaults(func=record_command)


def record_command(args: argparse.Namespace) -> int:
    """Run the recording; print a summary (or the manifest with --json)."""
    from simulator.cli import emit_json
    from simulator.cli.accel_args import roofline_choice
    from simulator.cli.record_checks import check_record_args
    from simulator.rig.cluster import launch_on_rig
    from simulator.traces.models import GPTConfig
    from simulator.traces.recipe import CommBackend, RecordConfig, RecordStrategy
    from simulator.traces.record import record

    check_record_args(args)
    roofline = roofline_choice(args)

    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise InputError("needs torch (pip install 'commsim[torch]')", field="record") from exc
    cfg = RecordConfig(
        world=args.world,
        strategy=RecordStrategy(args.strategy),
        steps=args.steps,
        warmup_steps=args.warmup,
        out_dir=args.out,
        model=args.model,
        backend=CommBackend(args.backend),
        gpt=GPTConfig(
            n_layer=args.layers, d_model=args.d_model, batch=args.batch, seq_len=args.seq_len
        ),
        bucket_cap_mb=args.bucket_cap_mb,
        microbatches=args.microbatches,
        execution_trace=not args.no_execution_trace,
        device=args.device,
    )
    if roofline is not None:
        from dataclasses import replace

        from simulator.traces.roofline import roofline_device_times, tp_degree

        cfg = replace(
            cfg, device_times=roofline_device_times(cfg.gpt, *roofline, tp=tp_degree(cfg))
        )
    if not args.finalize:  # the config is sound: mark DIR as commsim's before writing into it
        from pathlib import Path

        from simulator.outputs import prepare_out_dir

        cfg.validate()
        prepare_out_dir(Path(args.out), "--out")
    if args.emit_config or args.finalize:
        return _torchrun_mode(cfg, args)
    from simulator.report import progress

    try:
        with progress.track(
            f"recording {cfg.world} ranks x {cfg.steps} steps of {cfg.strategy.value} "
            f"({cfg.backend.value})"
        ):
            manifest = record(
                cfg, topology=args.topology, timeout_s=args.timeout, launcher=launch_on_rig
            )
    except RuntimeError as err:
        print(f"commsim record: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        emit_json(manifest)
    else:
        print(
            f"recorded {cfg.world} ranks x {cfg.steps} steps of {cfg.strategy.value} "
            f"({cfg.backend.value}) into {args.out}"
        )
        print(
            f"measured step: {manifest['measured_step_s'] * 1e3:.2f} ms "
            "(mean over steps of the slowest rank)"
        )
    return 0


def _torchrun_mode(cfg: Any, args: argparse.Namespace) -> int:
    """``--emit-config``: write the config, print the torchrun line; ``--finalize``: manifest."""
    import json
    from pathlib import Path

    from simulator.cli import emit_json
    from simulator.traces.record import build_manifest, worker_argv

    out = Path(args.out)
    if args.emit_config:
        cfg.validate()
        out.mkdir(parents=True, exist_ok=True)
        cfg = type(cfg).from_dict({**cfg.to_dict(), "out_dir": str(out.resolve())})
        # absolute: the line runs on every node, each in its own working directory (until
        # 2026-12-06 it printed the path as given, e.g. shared/run/record_config.json)
        path = out.resolve() / "record_config.json"
        cfg.write(path)
        cmd = (
            f"torchrun --nnodes NODES --nproc-per-node GPUS_PER_NODE "
            f"--rdzv-backend c10d --rdzv-endpoint HOST:PORT "
            f"-m {worker_argv(path)[2]} {path}"
        )
        if args.json:
            emit_json({"config": str(path), "torchrun": cmd})
        else:
            print(cmd)
        return 0
    cfg_path = out / "record_config.json"
    if not cfg_path.is_file():
        raise InputError("no record_config.json (run with --emit-config first)", file=str(out))
    from simulator.traces.recipe import RecordConfig

    real = RecordConfig.read(cfg_path)
    missing = [r for r in range(real.world) if not (out / f"rank{r}.steps.json").is_file()]
    if missing:
        raise InputError(f"ranks {missing} wrote no steps file", file=str(out))
    manifest = build_manifest(real, out, args.topology, None)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if args.json:
        emit_json(manifest)
    else:
        print(f"wrote {out / 'manifest.json'}")
    return 0
