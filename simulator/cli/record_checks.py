"""Checks of ``commsim record``'s flags made before any rank is launched.

A model factory that does not exist, ``--microbatches 0`` or an ``--out`` directory holding the
user's files used to be found out by the ranks (or to overwrite ``manifest.json``); here each is
refused up front, naming the flag.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.units import MAX_SIZE_B
from simulator.traces.recipe_limits import check_timeout

_POSITIVE_INTS = ("world", "steps", "microbatches", "layers", "d_model", "batch", "seq_len")


def check_record_args(args: Any) -> None:
    """Raise :class:`InputError` on a flag the recorder cannot run with."""
    for name in _POSITIVE_INTS:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise InputError(f"must be >= 1, got {value}", field=f"--{name.replace('_', '-')}")
    if args.warmup < 0:
        raise InputError(f"must be >= 0, got {args.warmup}", field="--warmup")
    value = float(args.bucket_cap_mb)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"must be a finite number > 0, got {value}", field="--bucket-cap-mb")
    if value * 2**20 > MAX_SIZE_B:  # 1e308 MiB was written into record_config.json
        raise InputError(
            f"must be at most {MAX_SIZE_B / 2**20:.0f} MiB (1 EiB), got {value:g}",
            field="--bucket-cap-mb",
        )
    check_timeout(float(args.timeout))
    check_model_spec(args.model)
    if getattr(args, "device", "cpu") == "accel" and args.emit_config:
        raise InputError(
            "accel mode measures device times before it launches the ranks itself; "
            "it cannot run under torchrun",
            field="--device",
        )
    if not args.finalize:
        from simulator.outputs import check_out_dir

        check_out_dir(Path(args.out), "--out")


def check_model_spec(spec: str) -> None:
    """``gpt-tiny`` or an importable ``module:factory`` whose factory is callable (not called)."""
    if spec == "gpt-tiny":
        return
    mod_name, sep, fn_name = spec.partition(":")
    if not sep or not mod_name or not fn_name:
        raise InputError(f"expected 'gpt-tiny' or 'module:factory', got {spec!r}", field="--model")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise InputError(f"cannot import {mod_name!r}: {exc}", field="--model") from None
    if not callable(getattr(module, fn_name, None)):
        raise InputError(f"{mod_name!r} has no callable {fn_name!r}", field="--model")
