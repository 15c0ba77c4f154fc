"""Fewer garbage collections while a command builds large structures that live to its end.

CPython's cyclic collector runs a young collection every ``gen0`` net allocations (700 by
default) and, every so often, a full one that walks every tracked object. ``commsim run``
allocates hundreds of thousands of long-lived objects (imported modules, the topology, the
workload's ops, the engine's plan) and frees few of them, so with the defaults the collector
walks the same objects again and again: about 0.5 s of the flagship's ~3.5 s (docs/decisions.md,
2026-12-05, "Fewer garbage collections in a command").

:func:`few_collections` raises the young threshold for the duration of a command and lets
:func:`checkpoint` move everything alive at the end of a build phase into the permanent
generation (:func:`gc.freeze`), where collections no longer walk it. On exit the thresholds
are restored and the frozen objects handed back to the collector (:func:`gc.unfreeze`), so
nothing frozen here stays uncollectable. Outside :func:`few_collections`, :func:`checkpoint`
does nothing: library callers keep Python's defaults. Garbage collection never changes a
result (commsim has no finalizers); only when memory is given back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Young-generation threshold inside :func:`few_collections` (net allocations between young
#: collections; CPython's default is 700). 10,000: in the flagship `commsim run` (bench_scale
#: step-1024, 2026-12-05) 10,000 and 50,000 took the same time, within noise, and both about
#: 0.5 s less than 700; young garbage held between collections stays a few MB.
GEN0_THRESHOLD = 10_000

_depth = 0


@contextmanager
def few_collections(gen0: int = GEN0_THRESHOLD) -> Iterator[None]:
    """Collect young garbage every ``gen0`` allocations and honour :func:`checkpoint` inside.

    Nested uses share the outermost one's settings. On exit: the previous thresholds, and the
    objects frozen by :func:`checkpoint` handed back (unless something outside had frozen
    objects before, which this leaves as it found them: frozen).
    """
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    old = gc.get_threshold()
    owns_freeze = gc.get_freeze_count() == 0
    gc.set_threshold(max(gen0, old[0]), *old[1:])
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        gc.set_threshold(*old)
        if owns_freeze:
            gc.unfreeze()


def checkpoint() -> None:
    """Inside :func:`few_collections`: freeze every object alive now (they live to the end
    of the command, so collecting them again is wasted work). Outside: nothing."""
    if _depth:
        gc.freeze()


def active() -> bool:
    """Whether a :func:`few_collections` block is in force."""
    return _depth > 0
