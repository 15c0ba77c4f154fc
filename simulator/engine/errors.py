"""Errors the engine raises.

* :class:`WorkloadError`: the workload cannot be run as given (an op without a duration and no
  compute model, a collective whose members disagree on its size, a rank outside the topology).
* :class:`DeadlockError`: the simulation ran out of events with ops unfinished; the message names
  the ranks, the ops they wait on and why.
"""

from __future__ import annotations


class SimulationError(RuntimeError):
    """Base of the engine's errors."""


class WorkloadError(SimulationError, ValueError):
    """The workload is inconsistent or incomplete; the message names rank, op id and name."""


class DeadlockError(SimulationError):
    """No event left but some ops never finished.

    Attributes:
        time_s: simulated time at which the last event ran.
        blocked: ``(rank, op name, reason)`` for every op that was reached but never started.
    """

    def __init__(self, message: str, *, time_s: float, blocked: list[tuple[int, str, str]]):
        super().__init__(message)
        self.time_s = time_s
        self.blocked = blocked
