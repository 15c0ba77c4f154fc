"""Pausing Python's cyclic garbage collector while a simulation builds many objects.

Building a 16,384-GPU fat tree and planning a collective on it allocate millions of objects
that form no reference cycles (links, transfers, paths, flows): reference counting frees them.
The cyclic collector still runs every 700 allocations, and its full passes walk every live
object: on the 1 GiB all-reduce over 16,384 GPUs, 12 full passes that found nothing to collect
took about a quarter of the run (``benchmarks/RESULTS.md``, round 6). :func:`paused_gc`
switches the collector off for the extent of a ``with`` block; it collects again afterwards
(cycles made meanwhile are found then, none is lost). Nested pauses resume only when the
outermost ends; a collector that was already off stays off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the ``with`` block with the cyclic garbage collector off (see the module
    docstring); its previous state is restored on exit, also on an exception."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
