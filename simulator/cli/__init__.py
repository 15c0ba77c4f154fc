"""The ``commsim`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers: argparse._SubParsersAction) -> None``, which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit status).
Add a new command by writing the module and naming it in :data:`COMMAND_MODULES`.

Contract (DESIGN.md): every command takes ``--json`` (exactly one JSON object on stdout);
bad input exits 2 with one line on stderr naming the file and the field, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

#: Subcommand modules, in the order ``commsim --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "collective",
    "run",
    "topology",
    "record",
    "replay",
    "validate",
    "rig",
    "sweep",
    "plan",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered, or only ``command``'s
    when it names one (``main`` does so for start-up time: the other commands' modules are not
    imported; a sub-parser's help, usage and errors do not depend on its siblings)."""
    names = (command,) if command in COMMAND_MODULES else COMMAND_MODULES
    parser = argparse.ArgumentParser(
        prog="commsim",
        description="Discrete-event simulator of communication cost in distributed LLM training.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in names:
        # a listed command whose module is missing is a broken install: fail loudly
        module = importlib.import_module(f"simulator.cli.{name}")
        module.register(sub)
    from simulator.cli.guards import add_force_flags

    add_force_flags(sub)
    _once(parser)
    return parser


class _StoreOnce(argparse._StoreAction):
    """A single-valued option that refuses a second occurrence: ``--size 1MiB --size 2MiB``
    ran 2 MiB and dropped the first value without a word (argparse keeps the last). Options
    meant to repeat (``--set``, ``--vary``, ``--reference``) append and are left alone."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(self, "_given_in", None) is namespace and option_string is not None:
            raise argparse.ArgumentError(
                self,
                f"given twice ({getattr(namespace, self.dest)!r}, then {values!r}); give it once",
            )
        self._given_in = namespace
        super().__call__(parser, namespace, values, option_string)


def _once(parser: argparse.ArgumentParser) -> None:
    """Make every single-valued option of ``parser`` and its sub-parsers a :class:`_StoreOnce`."""
    for action in parser._actions:
        if type(action) is argparse._StoreAction and action.option_strings:
            action.__class__ = _StoreOnce
        elif isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _once(sub)


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (numpy scalars and paths converted).

    Strict JSON: a NaN or infinity is refused (``ValueError``), never printed as ``NaN``.
    """
    print(json.dumps(obj, default=_json_default, indent=2, sort_keys=False, allow_nan=False))


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commsim`` console script; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    from simulator.cli.errors import run_guarded
    from simulator.core.errors import InputNote
    from simulator.limits import forced

    def call(a: argparse.Namespace) -> int:
        _refuse_empty(parser, a)
        # notes on the input (simulator.core.errors.InputNote: a calibrated backend used for
        # another rank count, a latency the rig cannot emulate): one line each
        with warnings.catch_warnings(record=True) as notes:
            status = a.func(a)
        said: set[str] = set()
        for note in notes:
            if issubclass(note.category, InputNote):
                if str(note.message) not in said:  # a check and the run may note the same
                    said.add(str(note.message))
                    print(f"commsim {a.command}: note: {note.message}", file=sys.stderr)
            else:
                warnings.showwarning(
                    note.message, note.category, note.filename, note.lineno, None, note.line
                )
        return int(status or 0)

    with forced(bool(getattr(args, "force", False))):
        return run_guarded(call, args)


def _flag_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """``dest`` -> the flag a user writes (``overrides`` -> ``--set``) on the parsers the
    command line went through (``rig plan``: rig's, then plan's), positionals by metavar."""
    names: dict[str, str] = {}
    current: argparse.ArgumentParser | None = parser
    while current is not None:
        chosen = None
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(str(getattr(args, action.dest, "")))
            else:
                shown = action.option_strings[-1:] or [str(action.metavar or action.dest)]
                names[action.dest] = shown[0]
        current = chosen
    return names


def _refuse_empty(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """An empty value (``--sizes ''``, ``--out ""``, a ``$VAR`` that was not set) is refused
    naming its flag. Until 2026-12-06 commands read ``''`` as "not given": ``--sizes ''`` ran
    ``--size`` and failed on ``None``, ``--ranks ''`` ran every rank, ``--faults ''`` none."""
    from simulator.core.errors import InputError

    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            flag = _flag_names(parser, args).get(dest, dest)
            raise InputError("expected a value, got an empty string", field=flag)


def console(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commsim`` console script (and ``python -m simulator``): :func:`main`,
    then the objects still alive frozen (:func:`gc.freeze`) before the process exits.

    On exit CPython's finalisation runs full cyclic collections over every object still
    alive: after ``commsim run`` on the flagship, ~370,000 of them (imported modules, caches),
    about 0.2 s of a 2 s command on the 2-core machine (docs/decisions.md, 2026-12-05, "A
    command's exit"), only to free memory the exit hands back anyway. Frozen objects are left
    out of those collections; everything else about the exit is unchanged (``atexit``
    handlers, module teardown, files flushed and closed by reference counting). Library
    callers of :func:`main` (tests, notebooks) keep collecting as before."""
    import gc

    status = main(argv)
    gc.freeze()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
