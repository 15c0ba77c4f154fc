"""Studies: what a user asks commsim to do, each returning a typed result with ``to_json()``.

The façade every front end (the ``commsim`` CLI, notebooks, scripts) calls:

* :func:`run_scenario` / :func:`run_variant` -> :class:`ScenarioRun` / :class:`RunResult`
  (:mod:`.scenario`: load -> what-if -> build -> simulate, the one copy of that sequence).
* :func:`replay` -> :class:`ReplayResult`, :func:`replay_chakra` / :func:`replay_astra_text`
  -> :class:`ChakraReplayResult` (:mod:`.trace_replay`: a recording, or Chakra ETs, or an
  ASTRA-sim text workload, simulated and compared with measurement).
* :func:`reshard` -> :class:`ReshardResult` (:mod:`.trace_reshard`: a recording's measured
  profile re-sharded to another strategy or world size).
* :func:`sweep` -> :class:`SweepResult` of :class:`SweepPoint` (:mod:`.sweeps`: a grid of
  overrides, on Dask).
* :func:`plan` -> :class:`PlanResult` (:mod:`.capacity`: the cheapest cluster and layout that
  reach a target step time).
* :func:`validate_published` -> :class:`PublishedValidation` of :class:`PublishedRow`
  (:mod:`.published`: published measurements reproduced from spec-sheet hardware) and
  :func:`validate_rig` -> :class:`RigValidation` (:mod:`.rig_validation`: the three-tier ladder
  on the emulated rig, recordings made with :mod:`simulator.rig`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.studies.capacity import PlanResult, plan
    from simulator.studies.published import (
        PublishedRow,
        PublishedValidation,
        validate_published,
    )
    from simulator.studies.rig_validation import CaseResult, RigValidation, validate_rig
    from simulator.studies.scenario import (
        RunResult,
        ScenarioRun,
        ScenarioSimulation,
        run_scenario,
        run_variant,
        simulate_scenario,
    )
    from simulator.studies.sweeps import SweepPoint, SweepResult, parse_vary, sweep
    from simulator.studies.trace_replay import (
        ChakraReplayResult,
        CollectiveComparison,
        ReplayResult,
        StepComparison,
        replay,
        replay_astra_text,
        replay_chakra,
    )
    from simulator.studies.trace_reshard import ReshardResult, reshard

#: Where each name of the façade lives. A study's module is imported when one of its names is
#: first asked for (``commsim run`` needs only :mod:`.scenario`; see docs/decisions.md,
#: 2026-12-05, "The flagship `run`'s per-op costs").
_HOME: dict[str, str] = {
    **dict.fromkeys(("PlanResult", "plan"), "capacity"),
    **dict.fromkeys(("PublishedRow", "PublishedValidation", "validate_published"), "published"),
    **dict.fromkeys(("CaseResult", "RigValidation", "validate_rig"), "rig_validation"),
    **dict.fromkeys(
        (
            "RunResult",
            "ScenarioRun",
            "ScenarioSimulation",
            "run_scenario",
            "run_variant",
            "simulate_scenario",
        ),
        "scenario",
    ),
    **dict.fromkeys(("SweepPoint", "SweepResult", "parse_vary", "sweep"), "sweeps"),
    **dict.fromkeys(
        (
            "ChakraReplayResult",
            "CollectiveComparison",
            "ReplayResult",
            "StepComparison",
            "replay",
            "replay_astra_text",
            "replay_chakra",
        ),
        "trace_replay",
    ),
    **dict.fromkeys(("ReshardResult", "reshard"), "trace_reshard"),
}


def __getattr__(name: str) -> Any:
    """A name of the façade, imported from its study's module on first use (PEP 562)."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "CaseResult",
    "ChakraReplayResult",
    "CollectiveComparison",
    "PlanResult",
    "PublishedRow",
    "PublishedValidation",
    "ReplayResult",
    "ReshardResult",
    "RigValidation",
    "RunResult",
    "ScenarioRun",
    "ScenarioSimulation",
    "StepComparison",
    "SweepPoint",
    "SweepResult",
    "parse_vary",
    "plan",
    "replay",
    "replay_astra_text",
    "replay_chakra",
    "reshard",
    "run_scenario",
    "run_variant",
    "simulate_scenario",
    "sweep",
    "validate_published",
    "validate_rig",
]
