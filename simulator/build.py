"""From a scenario and a topology to a runnable workload (the contract ``commsim run`` uses).

``build_workload(scenario, topology) -> BuiltWorkload``: the analytical profile of the model on
the scenario's GPU (:func:`~simulator.workload.profile.profile_from_model`), sharded and
scheduled by the scenario's strategy (:func:`~simulator.workload.strategies.build_from_profile`),
plus memory per GPU, the published reference and metadata (model FLOPs per step, efficiency and
its source) so the CLI can report MFU and the error against the reference.

A scenario with ``compare:`` variants: call :func:`build_variants` (or
``scenario.variants()`` and ``build_workload`` on each); ``build_workload`` builds the base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.config import Scenario
from simulator.core.errors import InputError
from simulator.core.ir import Workload
from simulator.workload.costmodel import CostModel, cost_model_for
from simulator.workload.memory import memory_per_gpu
from simulator.workload.profile import LayerProfile, profile_from_model
from simulator.workload.strategies import build_from_profile
from simulator.workload.strategies.options import StrategyKind
from simulator.workload.strategies.pipeline import bubble_fraction


@dataclass
class BuiltWorkload:
    """A workload ready for :func:`simulator.engine.simulate`.

    Attributes:
        workload: the programs. compute_model: the roofline used for the profile (the programs'
            compute ops carry durations already).
        memory_per_gpu_B: ``params, grads, optimizer, activations, total`` (bytes, first stage).
        reference: ``{"step_time_s", "source"}`` or ``None``.
        metadata: model/strategy facts: ``model_flops_per_step``, ``params``, ``gpu``,
            ``efficiency``, ``efficiency_source``, ``ideal_bubble_fraction``, ...
        profile: the per-GPU profile the strategy scheduled.
    """

    workload: Workload
    compute_model: CostModel
    memory_per_gpu_B: dict[str, float]
    reference: dict[str, Any] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    profile: LayerProfile | None = None


def _gpu_name(scenario: Scenario, topology: Any) -> str:
    name = scenario.hardware.gpu or (getattr(topology, "metadata", {}) or {}).get("gpu")
    if not name:
        raise InputError(
            "no GPU given and the topology names none",
            file=scenario.source_file,
            field="hardware.gpu",
        )
    return str(name)


def build_workload(scenario: Scenario, topology: Any) -> BuiltWorkload:
    """Build the base scenario's workload on ``topology``.

    Raises:
        InputError: unknown GPU, or parallel degrees / batch that do not fit the topology
            (naming the scenario file and field).
    """
    spec = scenario.model_spec()
    tr, st, hw = scenario.training, scenario.strategy, scenario.hardware
    try:
        cost = cost_model_for(
            _gpu_name(scenario, topology),
            tr.dtype,
            efficiency=hw.mfu,
            memory_efficiency=hw.memory_efficiency,
            source=hw.mfu_source,
        )
    except InputError as err:
        raise err.located(file=scenario.source_file, field_prefix="hardware") from None
    prof = profile_from_model(
        spec,
        cost,
        micro_batch=tr.micro_batch,
        tp=st.tp,
        sequence_parallel=st.sequence_parallel,
        recompute=tr.recompute,
        act_dtype=tr.dtype,
        grad_dtype=scenario.grad_dtype,
    )
    world = int(topology.num_ranks)
    try:
        wl = build_from_profile(
            prof, st, world, topology, global_batch=tr.global_batch, micro_batch=tr.micro_batch
        )
    except ValueError as exc:
        raise InputError(
            f"{exc} (topology {scenario.topology} has {world} ranks)",
            file=scenario.source_file,
            field="strategy",
        ) from None
    dp = int(str(wl.metadata.get("dp", world))) if st.kind is StrategyKind.COLLECTIVE else 1
    m = int(str(wl.metadata.get("microbatches", 1)))
    mem = memory_per_gpu(prof, st, dp, m)
    v = st.pipeline.virtual_stages
    meta: dict[str, Any] = {
        "scenario": scenario.name,
        "model": spec.name,
        "params": spec.total_params(),
        "model_flops_per_step": spec.model_flops_per_sample() * tr.global_batch,
        "gpu": cost.gpu,
        "peak_flops": cost.peak_flops,
        "efficiency": cost.efficiency,
        "efficiency_source": cost.source,
        "ideal_bubble_fraction": bubble_fraction(st.pp, m, v) if st.pp > 1 else 0.0,
        "world": world,
        **{f"workload.{k}": val for k, val in wl.metadata.items()},
    }
    wl.metadata.update({"scenario": scenario.name})
    ref = None
    if scenario.reference is not None:
        ref = {"step_time_s": scenario.reference.step_time_s, "source": scenario.reference.source}
    return BuiltWorkload(
        workload=wl,
        compute_model=cost,
        memory_per_gpu_B=mem,
        reference=ref,
        metadata=meta,
        profile=prof,
    )


def build_variants(scenario: Scenario, topology: Any) -> list[tuple[str, BuiltWorkload]]:
    """``(variant name, built workload)`` for each ``compare:`` variant (or the base alone)."""
    out = []
    for v in scenario.variants():
        name = v.name.split("/", 1)[1] if "/" in v.name else v.name
        out.append((name, build_workload(v, topology)))
    return out
