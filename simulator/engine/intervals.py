"""The interval arithmetic of :mod:`simulator.engine.breakdown` on numpy arrays, bit for bit.

:func:`simulator.engine.result.build_result` splits every simulated rank's time into compute,
exposed communication and bubble over ~15,000 op intervals per rank (the flagship). The
list-of-tuples functions of :mod:`~simulator.engine.breakdown` spend most of that in Python
loops; these take start and end arrays and return the same floats: unions are found with
sorts and running maxima (no arithmetic), and every sum adds the same differences in the same
order as the loops do (Python's ``sum`` over a list, left to right). Intervals in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.core.arrays import FloatArray, IntArray
from simulator.engine.breakdown import Breakdown


@dataclass(frozen=True, slots=True)
class Union:
    """A sorted, disjoint union of intervals ``[starts[k], ends[k]]`` (seconds); as
    :func:`simulator.engine.breakdown.merge` returns it, touching intervals joined."""

    starts: FloatArray
    ends: FloatArray

    def measure(self) -> float:
        """Total length (:func:`simulator.engine.breakdown.measure`)."""
        return float(sum((self.ends - self.starts).tolist()))


def union(start: FloatArray, end: FloatArray) -> Union:
    """:func:`simulator.engine.breakdown.merge` of the intervals ``[start[i], end[i]]``
    (empty, reversed and NaN ones dropped)."""
    keep = end > start
    s, e = start[keep], end[keep]
    order = np.lexsort((e, s))  # by start, then end: the order of sorted tuples
    s, e = s[order], e[order]
    if not s.size:
        return Union(s, e)
    reach = np.maximum.accumulate(e)  # end of the union so far
    opens = np.empty(s.size, dtype=bool)
    opens[0] = True
    opens[1:] = s[1:] > reach[:-1]  # merge() joins when start <= the last end
    closes = np.flatnonzero(np.append(opens[1:], True))
    return Union(s[opens], reach[closes])


def overlap(x: Union, y: Union) -> float:
    """:func:`simulator.engine.breakdown.intersection_measure` of two unions: the lengths of
    the overlapping pairs, added in time order (the order the two-pointer walk adds them)."""
    if not x.starts.size or not y.starts.size:
        return 0.0
    first = np.searchsorted(y.ends, x.starts, side="right")  # first y ending after x starts
    stop = np.searchsorted(y.starts, x.ends, side="left")  # first y starting at/after x ends
    n: IntArray = np.maximum(stop - first, 0)
    total = int(n.sum())
    if not total:
        return 0.0
    i = np.repeat(np.arange(x.starts.size), n)
    j = np.repeat(first - (np.cumsum(n) - n), n) + np.arange(total)
    lo = np.maximum(x.starts[i], y.starts[j])
    hi = np.minimum(x.ends[i], y.ends[j])
    return float(sum((hi - lo).tolist()))


def breakdown_of(compute: Union, comm: Union, total_s: float) -> Breakdown:
    """:func:`simulator.engine.breakdown.breakdown` from the two unions."""
    compute_s = compute.measure()
    comm_s = comm.measure()
    exposed = max(comm_s - overlap(compute, comm), 0.0)
    bubble = max(total_s - compute_s - exposed, 0.0)
    return Breakdown(total_s, compute_s, comm_s, exposed, bubble)


def exposed(comm: Union, compute: Union) -> float:
    """:func:`simulator.engine.breakdown.exposed_of`: ``|comm \\ compute|``."""
    return max(comm.measure() - overlap(compute, comm), 0.0)
