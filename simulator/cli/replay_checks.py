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

from simulator.core.errors import InputError
from simulator.studies.trace_reshard import check_degree

__all__ = ["check_degree", "check_world", "import_boundary"]

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
