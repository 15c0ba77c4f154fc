"""The simulation engine: runs per-rank Programs on a topology and reports a StepResult.

Entry point: :func:`simulate`. The engine knows nothing of YAML, torch or plots.
"""

from simulator.engine.errors import DeadlockError, SimulationError, WorkloadError
from simulator.engine.result import StepResult
from simulator.engine.runner import ComputeModel, simulate

__all__ = [
    "ComputeModel",
    "DeadlockError",
    "SimulationError",
    "StepResult",
    "WorkloadError",
    "simulate",
]
