"""From a scenario and a topology to a runnable workload (the contract ``commsim run`` uses).

``build_workload(scenario, topology) -> BuiltWorkload``: the analytical profile of the model on
the scenario's GPU (:func:`~simulator.workload.profile.profile_from_model`), sharded and
scheduled by the scenario's strategy (:func:`~simulator.workload.strategies.job_context` and
:func:`~simulator.workload.strategies.build_job`; memory reads the job's ``dp`` and micro-batch
count from its context, not back out of the workload's metadata), plus memory per GPU, the
published reference and metadata (model FLOPs per step, efficiency and its source) so the
CLI can report MFU and the error against the reference.

A scenario with ``compare:`` variants: call :func:`build_variants` (or
``scenario.variants()`` and ``build_workload`` on each); ``build_workload`` builds the base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.build_mixed import mixed_workload
from simulator.config import Scenario
from simulator.core.errors import InputError
from simulator.core.ir import Workload
from simulator.limits import check_app_buckets
from simulator.workload.apps.build import AppSpec, app_memory, concat_phases, phase_profiles
from simulator.workload.apps.conformer import ConformerSpec
from simulator.workload.apps.dcgan import DCGANSpec
from simulator.workload.apps.encdec import EncDecSpec
from simulator.workload.costmodel import CostModel, cost_model_for
from simulator.workload.memory import memory_per_gpu
from simulator.workload.modelspec import ModelArch, ModelSpec
from simulator.workload.profile import LayerProfile, activation_dtype, profile_from_model
from simulator.workload.strategies import build_job, job_context
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
            field="gpu",  # the caller's located(field_prefix="hardware") makes hardware.gpu
        )
    return str(name)


def _rank_spec(scenario: Scenario) -> ModelSpec:
    """The model as one GPU runs it: with context parallelism (``strategy.cp``) each rank
    holds ``seq_len / cp`` tokens of every sample and attends over all of them
    (:meth:`ModelSpec.of`). The scenario's own spec (whole samples) stays for the metadata."""
    try:
        return ModelSpec.of(scenario.model, scenario.training.seq_len, scenario.strategy.cp)
    except ValueError as exc:
        raise InputError(str(exc), file=scenario.source_file, field="strategy.cp") from None


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
            software=hw.software,
        )
    except InputError as err:
        # the dtype is the training section's; everything else cost_model_for checks is hardware
        prefix = "training" if err.field == "dtype" else "hardware"
        raise err.located(file=scenario.source_file, field_prefix=prefix) from None
    if scenario.model.arch is not ModelArch.DECODER:  # machine translation, speech, GANs
        return build_app(scenario, topology, cost)
    prof = profile_from_model(
        _rank_spec(scenario),
        cost,
        micro_batch=tr.micro_batch,
        tp=st.tp,
        sequence_parallel=st.sequence_parallel,
        recompute=tr.recompute,
        act_dtype=activation_dtype(tr.dtype),
        grad_dtype=scenario.grad_dtype,
    )
    world = int(topology.num_ranks)
    try:
        job = job_context(
            prof, st, world, topology, global_batch=tr.global_batch, micro_batch=tr.micro_batch
        )
        wl = build_job(job)
    except ValueError as exc:
        raise InputError(
            f"{exc} (topology {scenario.topology} has {world} ranks)",
            file=scenario.source_file,
            field="strategy",
        ) from None
    dp = job.layout.dp if st.kind is StrategyKind.COLLECTIVE else 1
    m = job.microbatches
    v = st.pipeline.virtual_stages
    if hw.node_gpus:
        wl = mixed_workload(
            scenario, topology, wl, job, lambda s, t: build_workload(s, t).workload, cost.gpu
        )
    return _built(
        scenario,
        spec,
        cost,
        wl,
        world,
        bubble=bubble_fraction(st.pp, m, v) if st.pp > 1 else 0.0,
        memory_per_gpu_B=memory_per_gpu(prof, st, dp, m),
        profile=prof,
    )


def _built(
    scenario: Scenario,
    spec: Any,
    cost: CostModel,
    wl: Workload,
    world: int,
    *,
    bubble: float,
    memory_per_gpu_B: dict[str, float],
    profile: LayerProfile,
) -> BuiltWorkload:
    """The built workload with its metadata (the same keys, in the same order, for every model
    family; ``arch`` follows ``model`` for non-decoder models) and the scenario's reference."""
    tr = scenario.training
    meta: dict[str, Any] = {"scenario": scenario.name, "model": spec.name}
    if scenario.model.arch is not ModelArch.DECODER:
        meta["arch"] = scenario.model.arch.value
    meta.update(
        {
            "params": spec.total_params(),
            "model_flops_per_step": spec.model_flops_per_sample() * tr.global_batch,
            "gpu": cost.gpu,
            "peak_flops": cost.peak_flops,
            "efficiency": cost.efficiency,
            "efficiency_source": cost.source,
            "ideal_bubble_fraction": bubble,
            "world": world,
            **{f"workload.{k}": val for k, val in wl.metadata.items()},
        }
    )
    wl.metadata.update({"scenario": scenario.name})
    ref = None
    if scenario.reference is not None:
        ref = {"step_time_s": scenario.reference.step_time_s, "source": scenario.reference.source}
    return BuiltWorkload(
        workload=wl,
        compute_model=cost,
        memory_per_gpu_B=memory_per_gpu_B,
        reference=ref,
        metadata=meta,
        profile=profile,
    )


def build_variants(scenario: Scenario, topology: Any) -> list[tuple[str, BuiltWorkload]]:
    """``(variant name, built workload)`` for each ``compare:`` variant (or the base alone)."""
    out = []
    for v in scenario.variants():
        name = v.name.split("/", 1)[1] if "/" in v.name else v.name
        out.append((name, build_workload(v, topology)))
    return out


# ---- the applications (machine translation, speech, GANs) ----------------------------------
def app_spec(scenario: Scenario) -> AppSpec:
    """The application spec a scenario's ``model`` describes (``arch`` other than decoder)."""
    m, tr = scenario.model, scenario.training
    app = m.app
    if m.arch is ModelArch.ENCODER_DECODER:
        return EncDecSpec(
            name=m.name,
            encoder_layers=m.layers,
            decoder_layers=app.decoder_layers or m.layers,
            hidden=m.hidden,
            heads=m.heads,
            ffn_hidden=m.ffn_hidden or 4 * m.hidden,
            vocab=m.vocab,
            src_len=tr.seq_len,
            tgt_len=app.target_len or tr.seq_len,
        )
    if m.arch is ModelArch.CONFORMER:
        return ConformerSpec(
            name=m.name,
            layers=m.layers,
            hidden=m.hidden,
            heads=m.heads,
            conv_kernel=app.conv_kernel,
            input_features=app.input_features,
            frames=tr.seq_len,
            labels=app.target_len or tr.seq_len,
            decoder_hidden=app.decoder_hidden,
            vocab=m.vocab,
        )
    if m.arch is ModelArch.DCGAN:
        spec = DCGANSpec(
            name=m.name,
            image_size=app.image_size,
            channels=app.image_channels,
            latent=app.latent,
            ngf=m.hidden,
            ndf=m.hidden,
        )
        try:
            n = spec.stages + 1
        except ValueError as exc:
            raise InputError(
                str(exc), file=scenario.source_file, field="model.app.image_size"
            ) from None
        if m.layers != n:
            raise InputError(
                f"a {app.image_size}-pixel DCGAN has {n} layers per network, got {m.layers}",
                file=scenario.source_file,
                field="model.layers",
            )
        return spec
    raise ValueError(f"{m.arch.value} is not an application")


def build_app(scenario: Scenario, topology: Any, cost: CostModel) -> BuiltWorkload:
    """:func:`build_workload` for an application scenario (:mod:`simulator.workload.apps`):
    data-parallel only; a GAN's two phases run one after the other every step."""
    st, tr = scenario.strategy, scenario.training
    for key in ("tp", "pp", "ep", "cp"):
        if getattr(st, key) != 1:
            raise InputError(
                f"{scenario.model.arch.value} models run data-parallel only (expected 1)",
                file=scenario.source_file,
                field=f"strategy.{key}",
            )
    spec = app_spec(scenario)
    profiles = phase_profiles(
        spec,
        cost,
        micro_batch=tr.micro_batch,
        act=activation_dtype(tr.dtype),
        grad=scenario.grad_dtype,
    )
    world = int(topology.num_ranks)
    check_app_buckets(
        [float(p.total_params()) * p.grad_bytes for p in profiles], st, world,
        file=scenario.source_file,
    )  # fmt: skip
    try:
        jobs = [
            job_context(
                p, st, world, topology, global_batch=tr.global_batch, micro_batch=tr.micro_batch
            )
            for p in profiles
        ]
        phases = [build_job(job) for job in jobs]
    except ValueError as exc:
        raise InputError(
            f"{exc} (topology {scenario.topology} has {world} ranks)",
            file=scenario.source_file,
            field="strategy",
        ) from None
    wl = phases[0] if len(phases) == 1 else concat_phases(phases)
    dp = jobs[0].layout.dp if st.kind is StrategyKind.COLLECTIVE else 1
    return _built(
        scenario,
        spec,
        cost,
        wl,
        world,
        bubble=0.0,
        memory_per_gpu_B=app_memory(profiles, st, dp),
        profile=profiles[-1],
    )
