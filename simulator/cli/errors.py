"""The one place where a command's exceptions become exit statuses and stderr lines.

:func:`run_guarded` calls a command and maps what escapes it:

* :class:`~simulator.core.errors.InputError` -> one line
  ``commsim CMD: error: FILE: FIELD: MESSAGE``, exit 2. Exceptions that can only come from
  what the user gave (a unit string that does not parse, a trace the engine cannot run, a
  corrupt protobuf stream) are mapped the same way by :func:`as_input_error`; commands convert
  them earlier where they know the file.
* ``BrokenPipeError`` (``commsim ... | head``) -> quiet exit 141 (128 + SIGPIPE, what a shell
  reports for a writer that lost its reader), stdout closed so Python prints nothing at exit.
* ``KeyboardInterrupt`` -> ``interrupted`` and exit 130, no traceback.
* ``MemoryError`` (or ``OverflowError``) after ``--force`` lifted a size limit
  (:func:`simulator.limits.lifted`) -> that limit's refusal, naming its file and field, exit 2:
  the job was the user's choice, not a bug.
* A recording that failed (a rank died) or a Dask cluster lost mid-sweep -> one line
  ``commsim CMD: error: ...``, exit 1: the machines failed, not commsim.
* Anything else is a bug in commsim: the traceback is printed, then one line saying it is a bug
  and where to report it; exit 70 (``EX_SOFTWARE``).

Every line is flattened to one line (a newline in an exception message would break the
one-line promise).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Callable
from typing import Final

from simulator.core.errors import InputError

#: Exit statuses.
EXIT_INPUT: Final[int] = 2
EXIT_BUG: Final[int] = 70
EXIT_PIPE: Final[int] = 141
EXIT_INTERRUPT: Final[int] = 130

#: Where a user reports a bug (printed under an internal error's traceback).
BUG_REPORT: Final[str] = (
    "this is a bug in commsim, not in your input; please report it with the command line and "
    "the traceback above to the commsim maintainers (the issue tracker of the repository "
    "commsim came from)"
)


#: OS errors that say a given path cannot be used (input, not a bug of commsim).
_PATH_ERRNOS: Final[frozenset[int]] = frozenset(
    {errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR}
)


def one_line(text: str) -> str:
    """``text`` with its line breaks replaced so it prints as one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def as_input_error(exc: BaseException) -> InputError | None:
    """The :class:`InputError` an exception stands for when it can only come from user input.

    ``None`` for anything else (then it is treated as a bug).
    """
    if isinstance(exc, InputError):
        return exc
    from simulator.core.units import UnitError

    if isinstance(exc, UnitError):
        return InputError(str(exc))
    from simulator.engine.errors import SimulationError

    if isinstance(exc, SimulationError):
        return InputError(f"the workload cannot run: {exc}")
    if isinstance(exc, MemoryError | OverflowError):
        from simulator.limits import FORCE_HINT, lifted

        over = lifted()  # a job --force let past a size limit is the user's, not a bug
        if over is not None:
            return InputError(
                "ran out of memory after --force lifted a size limit: "
                + over.message.replace(f" {FORCE_HINT}", ""),
                file=over.file,
                field=over.field,
            )
    if isinstance(exc, OSError) and exc.errno in _PATH_ERRNOS and exc.filename is not None:
        # a path the user gave that the OS refuses (300 characters, a symlink loop, no
        # permission): Path.is_file() and open() raise these, wherever a path is looked at
        return InputError(
            f"cannot use this path: {exc.strerror or exc}",
            file=one_line(str(exc.filename))[:200],
        )
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if name == "DecodeError" and module.startswith("google.protobuf"):
        return InputError(f"not a valid protobuf message: {exc}")
    return None


def _print_error(command: str, err: InputError) -> None:
    print(f"commsim {command}: error: {one_line(str(err))}", file=sys.stderr)


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no real stdout (tests)
        pass


def run_guarded(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Call ``func(args)`` and return the exit status (see the module docstring)."""
    command = str(getattr(args, "command", "") or "")
    try:
        status = func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        print(f"commsim {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    except Exception as exc:
        mapped = as_input_error(exc)
        if mapped is not None:
            _print_error(command, mapped)
            return EXIT_INPUT
        if _is_broken_pipe(exc):
            _quiet_stdout()
            return EXIT_PIPE
        if _is_recording_failure(exc) or _is_cluster_lost(exc):  # the world failed, not commsim
            print(f"commsim {command}: error: {one_line(str(exc))}", file=sys.stderr)
            return 1
        traceback.print_exc()
        print(f"commsim {command}: internal error: {BUG_REPORT}", file=sys.stderr)
        return EXIT_BUG
    return int(status or 0)


def _is_recording_failure(exc: BaseException) -> bool:
    """A recording's rank failed or timed out (:class:`simulator.traces.record.RecordingError`)."""
    from simulator.traces.record import RecordingError

    return isinstance(exc, RecordingError)


def _is_cluster_lost(exc: BaseException) -> bool:
    """A Dask cluster lost mid-sweep (``plan``, or any command that sweeps without
    ``sweep``'s own handling: :class:`simulator.studies.sweep_runner.ClusterLost`)."""
    from simulator.studies.sweep_runner import ClusterLost

    return isinstance(exc, ClusterLost)


def _is_broken_pipe(exc: BaseException) -> bool:
    """A BrokenPipeError wrapped by a library (rich, pandas) still means the reader left."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        if isinstance(cur, BrokenPipeError):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False
