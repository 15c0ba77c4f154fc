"""Progress bars for long commands, on the terminal only.

A command opens a bar with :func:`track`; the library code doing the work reports with
:func:`set_total` and :func:`advance`, which do nothing when no bar is open (library calls,
notebooks, tests). The bar is drawn with rich on **stderr**, only when stderr is a terminal and
``COMMSIM_PROGRESS=0`` is not set, and is removed when the work ends: stdout (and with it every
``--json`` object) never receives a byte from it, and neither does a redirected stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class _Bar:
    progress: Any
    task: Any


#: The innermost open bar of this context (a ContextVar, not module state: each thread or task
#: sees its own).
_BAR: ContextVar[_Bar | None] = ContextVar("commsim_progress_bar", default=None)


def enabled() -> bool:
    """True when a bar would be drawn: stderr is a terminal and progress is not switched off."""
    if os.environ.get("COMMSIM_PROGRESS", "1") == "0":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def track(description: str, total: float | None = None) -> Iterator[None]:
    """Show a bar (``total`` units; ``None``: a spinner with elapsed time) while the body runs."""
    if not enabled():
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
        redirect_stdout=False,  # stdout stays untouched (JSON, tables)
        redirect_stderr=False,
    )
    with progress:
        token = _BAR.set(_Bar(progress, progress.add_task(description, total=total)))
        try:
            yield
        finally:
            _BAR.reset(token)


def set_total(total: float, description: str | None = None) -> None:
    """Set the open bar's total (and description); nothing without a bar."""
    bar = _BAR.get()
    if bar is not None:
        kw: dict[str, Any] = {"total": total}
        if description is not None:
            kw["description"] = description
        bar.progress.update(bar.task, **kw)


def advance(n: float = 1.0, description: str | None = None) -> None:
    """Advance the open bar by ``n`` units (and relabel it); nothing without a bar."""
    bar = _BAR.get()
    if bar is not None:
        kw: dict[str, Any] = {"advance": n}
        if description is not None:
            kw["description"] = description
        bar.progress.update(bar.task, **kw)


def note(message: str) -> None:
    """Print a line on stderr, above the open bar if there is one (so it does not tear it)."""
    bar = _BAR.get()
    if bar is not None:
        bar.progress.console.print(message, markup=False, highlight=False)
    else:
        print(message, file=sys.stderr, flush=True)
