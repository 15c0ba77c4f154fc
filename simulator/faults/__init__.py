"""Faults, stragglers and mixed hardware: what goes wrong in a training step, as data.

* :mod:`simulator.faults.schema`: the scenario's ``faults:`` section (pydantic).
* :mod:`simulator.faults.targets`: links and nodes named by id, endpoints or pattern.
* :mod:`simulator.faults.network`: links/NICs/switches down or degraded, background traffic,
  static or changing in the step; cut detection.
* :mod:`simulator.faults.engine`: the engine process that applies changes mid-step.
* :mod:`simulator.faults.compute`: slow ranks, seeded jitter, host stalls per rank and step.
* :mod:`simulator.faults.steps`: many steps, exact or re-timed, and their distribution.
"""
