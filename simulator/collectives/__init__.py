"""Collectives: algorithms expanded into the transfers they really make.

Public API (contract in ``docs/interfaces.md``):

* :class:`Algorithm`, :class:`Fidelity`, :func:`busbw_factor`;
* :class:`BackendProfile`, :func:`load_backend` (``nccl``, ``gloo``, or a calibration YAML);
* :func:`simulate_collective` -> :class:`CollectiveResult` (one collective alone);
* :class:`SimContext`: one simulation's profile, routes and resolved collectives; :func:`choose`;
* :class:`Transport`: every byte of a simulation (collectives and send/recv), its
  :meth:`~Transport.collective` a simpy generator for the engine;
* :func:`build_schedule` and :class:`Schedule`: the pure algorithm expansions.
"""

from simulator.collectives.backend import BackendProfile, ProtocolProfile, load_backend
from simulator.collectives.context import SimContext, choose
from simulator.collectives.registry import ALGORITHMS, build_schedule, supports
from simulator.collectives.schedule import Phase, Schedule, Transfer
from simulator.collectives.simulate import CollectiveResult, simulate_collective
from simulator.collectives.transport import RunInfo, Transport, run_alone
from simulator.collectives.types import busbw_factor
from simulator.core.vocab import Algorithm, Fidelity

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "BackendProfile",
    "CollectiveResult",
    "Fidelity",
    "Phase",
    "ProtocolProfile",
    "RunInfo",
    "Schedule",
    "SimContext",
    "Transfer",
    "Transport",
    "build_schedule",
    "busbw_factor",
    "choose",
    "load_backend",
    "run_alone",
    "simulate_collective",
    "supports",
]
