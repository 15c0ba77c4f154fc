"""Compute perturbations per rank and step: slow ranks, seeded jitter, host stalls.

:func:`sample` draws, for ``steps`` training steps of a job of ``world`` ranks, the factor on
every rank's compute time in every step and the seconds it loses to stalls, from one seeded
``numpy.random.Generator`` (PCG64): the same seed gives the same draws, bit for bit. The draws
do not depend on the workload, so two strategies compared with one seed see the same
stragglers.

* ``slow_ranks``: a constant factor per rank (factors of several entries multiply).
* ``jitter``: ``lognormal`` draws ``exp(N(0, sigma^2))`` (median 1); ``exponential`` draws
  ``1 + Exp(mean)`` (never faster, an exponential tail). One draw per rank and step.
* ``stalls``: ``duration`` seconds added to the rank's first compute op of the steps
  ``first, first + every, ...``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.core.errors import InputError
from simulator.faults.schema import Distribution, FaultsConfig


@dataclass(frozen=True)
class ComputeDraws:
    """Per step and rank: ``factor[s, r]`` on compute time, ``stall_s[s, r]`` seconds lost."""

    factor: np.ndarray
    stall_s: np.ndarray

    @property
    def steps(self) -> int:
        """Number of steps drawn."""
        return int(self.factor.shape[0])

    def even(self) -> ComputeDraws:
        """The same steps with every rank at the step's mean factor and mean stall (nobody
        waits for a slower rank; what is left is the load itself)."""
        f = np.repeat(self.factor.mean(axis=1, keepdims=True), self.factor.shape[1], axis=1)
        st = np.repeat(self.stall_s.mean(axis=1, keepdims=True), self.stall_s.shape[1], axis=1)
        return ComputeDraws(f, st)


def check_ranks(faults: FaultsConfig, world: int, file: str | None = None) -> None:
    """InputError naming the field when a compute fault names a rank outside ``0..world-1``."""
    for field, r in faults.ranks_named():
        if r >= world:
            raise InputError(
                f"no rank {r} in a job of {world} ranks (0..{world - 1})", file=file, field=field
            )


def sample(faults: FaultsConfig, world: int, steps: int, seed: int) -> ComputeDraws:
    """Draw compute factors and stalls for ``steps`` steps of ``world`` ranks (seeded)."""
    check_ranks(faults, world)
    factor = np.ones((steps, world))
    for s in faults.slow_ranks:
        factor[:, list(s.ranks)] *= s.compute_factor
    rng = np.random.default_rng(seed)
    j = faults.jitter
    if j is not None:
        shape = (steps, world)
        if j.distribution is Distribution.LOGNORMAL:
            draw = rng.lognormal(0.0, j.sigma, shape)
        else:
            draw = 1.0 + rng.exponential(j.mean, shape)
        if j.ranks is not None:
            mask = np.zeros(world, dtype=bool)
            mask[list(j.ranks)] = True
            draw[:, ~mask] = 1.0
        factor *= draw
    stall = np.zeros((steps, world))
    for st in faults.stalls:
        stall[st.first :: st.every, list(st.ranks)] += st.duration
    return ComputeDraws(factor, stall)
