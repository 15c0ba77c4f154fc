"""Flags every command shares for the reliability guards (see :mod:`simulator.limits`).

``--force`` lifts the size limits of :mod:`simulator.limits` and lets a writer use a
non-empty directory or an existing file it did not create (:mod:`simulator.outputs`).
"""

from __future__ import annotations

import argparse
from typing import Any

FORCE_HELP = (
    "run even when the job looks too big (size limits), and write into a non-empty "
    "directory or over an existing file"
)


def add_force_flags(subparsers: Any) -> None:
    """Add ``--force`` to every registered subcommand that does not define it itself."""
    for parser in subparsers.choices.values():
        if not isinstance(parser, argparse.ArgumentParser):  # pragma: no cover
            continue
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:  # e.g. ``topology show``: the flag goes on the leaves
            for action in nested:
                add_force_flags(action)
            continue
        if any("--force" in a.option_strings for a in parser._actions):
            continue
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)
