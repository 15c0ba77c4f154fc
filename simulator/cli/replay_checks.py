"""Checks and the import boundary of ``commsim replay``.

* :func:`check_world` refuses ``--world 0`` (it used to be read as "not given").
* :func:`check_degree` refuses a re-shard whose strategy would silently degrade: ``--strategy
  tp --world 3`` on a model with 4 heads has no TP degree > 1 and used to run data parallel
  while reporting ``tp``.
* :func:`import_boundary` turns whatever a malformed trace makes the importers raise (a
  truncated gzip stream, an event that is a number, a non-numeric ``ts``, a protobuf that does
  not decode, a workload the engine cannot run) into one :class:`InputError` naming the file.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

from simulator.core.errors import InputError

#: What a malformed trace can make the importers raise (besides InputError).
_TRACE_ERRORS: tuple[type[BaseException], ...] = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    EOFError,
    OSError,
    OverflowError,
    RecursionError,
    zlib.error,
)


def check_world(world: int | None) -> None:
    """``--world`` must be >= 1 when given."""
    if world is not None and world < 1:
        raise InputError(f"must be >= 1, got {world}", field="--world")


def check_degree(manifest: dict[str, Any], strategy: str, world: int) -> None:
    """Refuse ``tp``/``pp-*`` re-shards that would end up with a degree of 1 on > 1 ranks."""
    from simulator.traces.models import GPTConfig
    from simulator.traces.recipe import RecordStrategy
    from simulator.traces.reshard import strategy_config

    try:
        s = RecordStrategy(strategy)
    except ValueError:
        known = ", ".join(x.value for x in RecordStrategy)
        msg = f"unknown strategy {strategy!r} (one of {known})"
        raise InputError(msg, field="--strategy") from None
    if world < 2 or s not in (RecordStrategy.TP, RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B):
        return
    try:
        g = GPTConfig(**manifest["model_config"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"no usable model_config ({exc})", file="manifest.json") from None
    cfg = strategy_config(strategy, world, g, 25.0)
    degree, what = (
        (cfg.tp, f"n_head ({g.n_head})")
        if s is RecordStrategy.TP
        else (
            cfg.pp,
            f"n_layer ({g.n_layer})",
        )
    )
    if degree < 2:
        raise InputError(
            f"{strategy} on {world} ranks: the recording's {what} and {world} have no common "
            f"degree > 1, so it would run data parallel; choose a --world that shares a factor "
            "with it",
            field="--world",
        )


@contextlib.contextmanager
def import_boundary(file: str, what: str = "trace") -> Iterator[None]:
    """Map a malformed input's exceptions to :class:`InputError` naming ``file``."""
    from simulator.engine.errors import SimulationError

    try:
        yield
    except InputError:
        raise
    except SimulationError as exc:
        raise InputError(f"the {what} cannot be simulated: {exc}", file=file) from None
    except _TRACE_ERRORS as exc:
        raise InputError(f"malformed {what}: {type(exc).__name__}: {exc}", file=file) from None
    except Exception as exc:
        if type(exc).__name__ == "DecodeError":  # google.protobuf.message.DecodeError
            raise InputError(f"malformed {what}: not a valid protobuf: {exc}", file=file) from None
        raise
