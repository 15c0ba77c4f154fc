"""Where a rank's time goes: pure interval arithmetic on op times.

For one rank and a window ``[0, T]`` (``T``: the makespan of the simulated run):

* ``compute_s``: length of the union of the rank's compute-op intervals ``[start, end]``
  (several compute streams running at once count once).
* ``comm_s``: length of the union of its communication-op intervals (collectives, sends,
  receives) from the moment their transfers start (rendezvous complete) to their end. Time
  spent waiting for peers to arrive is *not* communication.
* ``exposed_comm_s``: communication time not under any compute: ``|comm \\ compute|``.
* ``bubble_s``: ``T - |compute ∪ comm|``: the rank neither computes nor communicates
  (pipeline bubbles, waiting for peers at a rendezvous, idle time after its last op).

So ``T = compute_s + exposed_comm_s + bubble_s`` exactly, for every rank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Interval = tuple[float, float]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint union of ``intervals`` (empty and reversed ones are dropped)."""
    out: list[Interval] = []
    for a, b in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def measure(merged: Sequence[Interval]) -> float:
    """Total length of disjoint intervals."""
    return sum(b - a for a, b in merged)


def intersection_measure(x: Sequence[Interval], y: Sequence[Interval]) -> float:
    """Length of the intersection of two sorted, disjoint interval lists."""
    i = j = 0
    total = 0.0
    while i < len(x) and j < len(y):
        lo = max(x[i][0], y[j][0])
        hi = min(x[i][1], y[j][1])
        if hi > lo:
            total += hi - lo
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return total


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Seconds of one rank over a window of ``total_s`` (see the module docstring)."""

    total_s: float
    compute_s: float
    comm_s: float
    exposed_comm_s: float
    bubble_s: float

    def scaled(self, factor: float) -> Breakdown:
        """Every figure multiplied by ``factor`` (e.g. ``1 / steps_per_program``)."""
        return Breakdown(
            self.total_s * factor,
            self.compute_s * factor,
            self.comm_s * factor,
            self.exposed_comm_s * factor,
            self.bubble_s * factor,
        )


def breakdown(compute: Iterable[Interval], comm: Iterable[Interval], total_s: float) -> Breakdown:
    """Split ``total_s`` into compute, exposed communication and bubble."""
    cmp_u = merge(compute)
    com_u = merge(comm)
    compute_s = measure(cmp_u)
    comm_s = measure(com_u)
    exposed = comm_s - intersection_measure(cmp_u, com_u)
    exposed = max(exposed, 0.0)
    bubble = max(total_s - compute_s - exposed, 0.0)
    return Breakdown(total_s, compute_s, comm_s, exposed, bubble)


def exposed_of(comm: Iterable[Interval], compute_merged: Sequence[Interval]) -> float:
    """``|comm \\ compute|`` for one group of communication intervals."""
    com_u = merge(comm)
    return max(measure(com_u) - intersection_measure(compute_merged, com_u), 0.0)
