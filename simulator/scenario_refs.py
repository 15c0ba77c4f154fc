"""Loading what a scenario names (its topology and backend) with errors that name the scenario.

A scenario ``topology: dgx-a100-8nodee`` used to fail with ``dgx-a100-8nodee: no such file``,
leaving the user to guess which file said so. Here the error reads
``scen.yaml: topology: dgx-a100-8nodee: no such file, and no shipped topology ...``.
"""

from __future__ import annotations

from typing import Any

from simulator.collectives import load_backend
from simulator.core.errors import InputError
from simulator.topology import load_topology


def load_scenario_topology(scenario: Any) -> Any:
    """``load_topology(scenario.topology)``; an error names the scenario file and ``topology``."""

    try:
        return load_topology(scenario.topology)
    except InputError as err:
        raise InputError(str(err), file=scenario.source_file, field="topology") from None


def load_scenario_backend(scenario: Any, flag: str | None = None) -> Any:
    """The backend profile: ``--backend`` when given, else the scenario's ``backend``."""

    if flag:
        try:
            return load_backend(flag)
        except InputError as err:
            raise InputError(err.message, file=err.file, field="--backend") from None
    try:
        return load_backend(str(scenario.backend))
    except InputError as err:
        inner = ": ".join(p for p in (err.file, err.message) if p)
        raise InputError(inner, file=scenario.source_file, field="backend") from None
