"""A wake-up on simpy's event queue, lighter than :class:`simpy.Timeout`.

The runner schedules one timeout per compute op and per replayed collective (about 124,000 in
the flagship's step) and attaches one callback to each. :meth:`simpy.Environment.step` reads
two things of a scheduled event: its ``callbacks`` (taken, set to ``None``, each called with the
event) and ``_ok`` (an event that failed crashes the run). :class:`Wake` has exactly those, plus
the op index and the algorithm its callback needs, in slots: no ``Timeout.__init__``, no
``functools.partial`` per op. It is scheduled with :meth:`simpy.Environment.schedule` at the
priority a timeout has (``NORMAL``), which takes the next insertion number exactly as a
timeout created at the same moment would, so the order of events, ties included, is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import simpy
from simpy.events import NORMAL, EventPriority

#: ``schedule(wake, priority, delay_s)``: :meth:`simpy.Environment.schedule` typed for wake-ups
Schedule = Callable[["Wake", EventPriority, float], None]


class Wake:
    """A scheduled wake-up carrying op ``g`` (and ``algo``, for a replayed collective).

    ``callbacks`` may be a tuple shared by many wake-ups: ``step`` only iterates it and then
    sets this wake-up's own attribute to ``None``."""

    __slots__ = ("algo", "callbacks", "g")
    #: never fails: :meth:`simpy.Environment.step` checks this after the callbacks
    _ok = True

    def __init__(
        self, callbacks: tuple[Callable[[Wake], None], ...], g: int, algo: str = ""
    ) -> None:
        self.callbacks: tuple[Callable[[Wake], None], ...] | None = callbacks
        self.g = g
        self.algo = algo


def wake_after(
    env: simpy.Environment,
    delay_s: float,
    callbacks: tuple[Callable[[Wake], None], ...],
    g: int,
    algo: str = "",
) -> Wake:
    """Schedule ``callback(wake)`` for each of ``callbacks``, ``delay_s`` seconds from now
    (``delay_s >= 0``), as ``env.timeout(delay_s)`` with the callbacks appended would."""
    if not delay_s >= 0:
        raise ValueError(f"negative delay {delay_s} s")
    w = Wake(callbacks, g, algo)
    env.schedule(w, NORMAL, delay_s)  # type: ignore[arg-type]
    return w


def scheduler(env: simpy.Environment) -> Schedule:
    """``env.schedule``, typed to take wake-ups (for loops that schedule many: no check)."""
    return cast(Schedule, env.schedule)
