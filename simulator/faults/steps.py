"""Many training steps with stragglers: the distribution of step time, deterministic per seed.

:func:`run_steps` draws compute factors and stalls for ``steps`` steps
(:func:`simulator.faults.compute.sample`), then either

* **re-times** (default): one exact event simulation of the unperturbed workload, then every
  step as a max-plus pass over its fixed communication structure
  (:mod:`simulator.faults.retime`; exact when communication durations do not depend on timing),
* or, with ``exact=True``, simulates every step on the event engine with its own compute times
  (unfolded workloads only; the oracle).

A program holding several steps (parameter server, local SGD: ``steps_per_program`` > 1) is run
``ceil(steps / steps_per_program)`` times, each with the next steps' draws; step ``k``'s time is
the end of its last op minus the end of step ``k - 1``'s.

Besides the steps as drawn, the same steps are timed with every rank at the step's mean factor
and mean stall (:meth:`ComputeDraws.even`): ``straggler_wait_share`` is the mean over steps of
``(T - T_even) / T``, the share of the step lost to waiting for slower ranks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from simulator.core.ir import Compute, Program, Workload
from simulator.engine import simulate
from simulator.faults.compute import ComputeDraws, sample
from simulator.faults.retime import base_run, op_step, retime
from simulator.faults.schema import FaultsConfig


@dataclass(frozen=True)
class StepsResult:
    """Step times of a many-step run (seconds) and how they were obtained."""

    step_time_s: np.ndarray
    even_step_time_s: np.ndarray
    base_step_time_s: float
    mode: str
    seed: int

    def summary(self) -> dict[str, Any]:
        """The JSON keys: mean, p50, p90, p99, min, max, wait share (see module docstring)."""
        t = self.step_time_s
        wait = (t - self.even_step_time_s) / np.where(t > 0, t, 1.0)
        return {
            "steps": int(t.size),
            "seed": self.seed,
            "steps_mode": self.mode,
            "step_time_mean_s": float(t.mean()),
            "step_time_p50_s": float(np.percentile(t, 50)),
            "step_time_p90_s": float(np.percentile(t, 90)),
            "step_time_p99_s": float(np.percentile(t, 99)),
            "step_time_min_s": float(t.min()),
            "step_time_max_s": float(t.max()),
            "unperturbed_step_time_s": self.base_step_time_s,
            "straggler_wait_share": float(np.clip(wait, 0.0, None).mean()),
        }

    def table(self) -> Any:
        """pandas DataFrame: one row per step (``step``, ``step_time_s``, ``even_step_time_s``)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "step": np.arange(self.step_time_s.size),
                "step_time_s": self.step_time_s,
                "even_step_time_s": self.even_step_time_s,
            }
        )


def _per_step(ends: np.ndarray, steps: int) -> np.ndarray:
    """``ends[run, k]`` (absolute end of program step k) -> the first ``steps`` step times."""
    prev = np.concatenate(
        [np.zeros((ends.shape[0], 1)), np.maximum.accumulate(ends, axis=1)[:, :-1]], axis=1
    )
    return (np.maximum.accumulate(ends, axis=1) - prev).reshape(-1)[:steps]


def scaled_workload(
    workload: Workload, compute_model: Any, factor: np.ndarray, stall_s: np.ndarray
) -> Workload:
    """``workload`` with every compute op's time x its rank's factor of its step (+ stalls).

    ``factor`` and ``stall_s`` are ``(steps_per_program, world)``; the stall goes on a rank's
    first compute op of each step.
    """
    progs = []
    for p in workload.programs:
        seen: set[int] = set()
        ops = []
        for op in p.ops:
            if isinstance(op, Compute):
                base = op.duration_s if op.duration_s is not None else compute_model(op, p.rank)
                k = min(op_step(op.name), factor.shape[0] - 1)
                d = float(base) * float(factor[k, p.rank])
                if k not in seen:
                    seen.add(k)
                    d += float(stall_s[k, p.rank])
                op = replace(op, duration_s=d)
            ops.append(op)
        progs.append(Program(rank=p.rank, ops=ops))
    return workload.with_programs(progs)


def run_steps(  # noqa: PLR0913 (keyword options of one run)
    workload: Workload,
    topology: Any,
    faults: FaultsConfig,
    *,
    steps: int,
    seed: int,
    backend: Any = "nccl",
    fidelity: str = "flow",
    compute_model: Any = None,
    network: Any = None,
    exact: bool = False,
    base_result: Any = None,
) -> StepsResult:
    """Simulate ``steps`` perturbed training steps (see the module docstring).

    Raises:
        ValueError: ``exact`` on a folded workload (no per-rank programs to perturb), or a
            workload the re-timer cannot read.
    """

    world = workload.world_size
    spp = workload.steps_per_program
    runs = math.ceil(steps / spp)
    draws = sample(faults, world, runs * spp, seed)
    even = draws.even()
    sim_kw = dict(backend=backend, fidelity=fidelity, compute_model=compute_model, network=network)
    if base_result is None:
        base_result = simulate(workload, topology, record=False, **sim_kw)
    base_step = float(base_result.step_time_s)
    if exact:
        if len(workload.programs) != world:
            raise ValueError("exact steps need every rank's program: set strategy.fold=false")
        t = _exact(workload, topology, draws, runs, spp, steps, sim_kw)
        te = _exact(workload, topology, even, runs, spp, steps, sim_kw)
        return StepsResult(t, te, base_step, "exact", seed)
    base = base_run(workload, topology, base_result, compute_model)
    both_f = np.concatenate([draws.factor, even.factor])
    both_s = np.concatenate([draws.stall_s, even.stall_s])
    ends = retime(base, both_f, both_s)
    t = _per_step(ends[:runs], steps)
    te = _per_step(ends[runs:], steps)
    return StepsResult(t, te, base_step, "retimed", seed)


def _exact(
    workload: Workload,
    topology: Any,
    draws: ComputeDraws,
    runs: int,
    spp: int,
    steps: int,
    kw: dict[str, Any],
) -> np.ndarray:

    ends = np.zeros((runs, spp))
    for r in range(runs):
        sl = slice(r * spp, (r + 1) * spp)
        wl = scaled_workload(workload, kw["compute_model"], draws.factor[sl], draws.stall_s[sl])
        res = simulate(wl, topology, record=False, **kw)
        ops = res.ops
        for k in range(spp):
            names = ops["name"].map(op_step) == k
            ends[r, k] = float(ops.loc[names, "end_s"].max()) if names.any() else 0.0
    return _per_step(ends, steps)
