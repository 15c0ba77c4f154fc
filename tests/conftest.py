"""Test-session settings shared by every test module.

The validated-input cache (:mod:`simulator.core.validated`) goes to a folder of this session,
so that tests neither read nor fill the user's cache (child processes inherit it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

os.environ["COMMSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="commsim-test-cache-")


@pytest.fixture(scope="session")
def gan_result() -> Any:
    """The :class:`~simulator.engine.StepResult` of ``scenarios/gan-dcgan-dgx1.yaml``'s first
    variant simulated with its load timelines (``record="timelines"``, as ``run --out``
    simulates): a small job whose outputs the ``run --out`` tests compare."""
    from simulator.config import load_scenario
    from simulator.studies import run_variant

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "gan-dcgan-dgx1.yaml"
    res = run_variant(load_scenario(scenario).variants()[0], record="timelines", faults=None)
    assert res.simulation is not None
    return res.simulation.result
