"""Flags shared by ``commsim record`` and ``commsim validate`` for accelerator mode's durations.

``--durations measured`` (default): the CPU's, measured alone before the ranks start.
``--durations roofline --gpu NAME [--slowdown F]``: the simulator's roofline of a catalogue GPU
(:mod:`simulator.traces.roofline`), times a declared slowdown.
"""

from __future__ import annotations

import argparse
from typing import Any

from simulator.core.errors import InputError


def add_duration_args(p: Any) -> None:
    """Add ``--durations``, ``--gpu`` and ``--slowdown`` to the parser ``p``."""
    p.add_argument(
        "--durations",
        choices=("measured", "roofline"),
        default="measured",
        help="accel mode's layer durations: measured on the CPU alone, or the roofline of "
        "--gpu (docs/rig.md)",
    )
    p.add_argument("--gpu", metavar="NAME", help="with --durations roofline: a catalogue GPU")
    p.add_argument(
        "--slowdown",
        type=float,
        default=1.0,
        metavar="F",
        help="with --durations roofline: multiply every device duration by F (time dilation)",
    )


def roofline_choice(args: argparse.Namespace) -> tuple[str, float] | None:
    """``(gpu, slowdown)`` for ``--durations roofline``, None for measured durations.

    Raises:
        InputError: roofline without ``--device accel`` or ``--gpu``; ``--gpu``/``--slowdown``
            without roofline; an unknown GPU or a bad slowdown (checked here, before any rig).
    """
    if args.durations != "roofline":
        for flag, value, default in (("--gpu", args.gpu, None), ("--slowdown", args.slowdown, 1.0)):
            if value != default:
                raise InputError("only with --durations roofline", field=flag)
        return None
    if args.device != "accel":
        raise InputError("roofline durations need --device accel", field="--durations")
    if not args.gpu:
        raise InputError("roofline durations need a catalogue GPU name", field="--gpu")
    from simulator.traces.models import GPTConfig
    from simulator.traces.roofline import roofline_device_times

    roofline_device_times(GPTConfig(), args.gpu, args.slowdown)  # raises on bad input
    return args.gpu, args.slowdown
