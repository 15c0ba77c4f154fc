"""Re-sharding: a measured trace -> :class:`~simulator.workload.profile.LayerProfile` ->
Programs of another strategy or world size, through the workload strategies.

The profile is taken from the imported Programs (mean over measured steps):

* per layer ``l``: forward = compute ops with category ``fwd`` and layer ``l``; backward =
  category ``bwd`` and layer ``l`` (backward ops are tied to layers by the autograd sequence
  numbers of the forward ops inside the recorder's ``commsim.fwd.layer{l}`` annotations). With
  pipeline recordings a layer lives on one rank; the rank that ran it gives its times.
* the attention/MLP split of a layer's time follows the tiny GPT's FLOP ratio (the trace does
  not separate them; strategies only use the sum, except TP re-sharding, which scales both
  halves alike).
* embedding / head: unlabelled forward compute before / after the layers (head includes the
  loss); backward likewise in reverse order.
* optimizer seconds per parameter: ``optim`` compute / parameters on the rank; the effective
  memory rate ``memory_Bps`` = 12 B/param (SGD reads the fp32 weight and gradient and writes
  the weight) / that time, a measured rate, not a spec figure.
* parameter counts from the tiny GPT's shapes; activation bytes from Korthikanti et al. 2022
  (Reducing Activation Recomputation, eq. 1: ``s b h (34 + 5 a s / h)`` bytes at 16 bit),
  doubled for the fp32 recording.

Only ``gpt-tiny`` recordings can be re-sharded (a user model's shapes are unknown).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.ir import Compute, Workload
from simulator.core.suggest import hint
from simulator.engine import simulate
from simulator.engine.result import StepResult
from simulator.topology import Topology, load_topology
from simulator.traces.kineto import ImportedTrace, import_trace_dir, read_manifest
from simulator.traces.manifest_check import named_in_manifest
from simulator.traces.models import GPTConfig
from simulator.traces.recipe import RecordStrategy
from simulator.workload.profile import LayerCost, LayerProfile
from simulator.workload.strategies import build_job, job_context
from simulator.workload.strategies.options import (
    CompressionConfig,
    CompressionKind,
    DataParallelConfig,
    DataParallelMode,
    ParameterServerConfig,
    PipelineConfig,
    PipelineSchedule,
    PSMode,
    QKVLayout,
    StrategyConfig,
    StrategyKind,
    TensorConfig,
)

FP32_B = 4  # the recorder trains in fp32


def _layer_params(g: GPTConfig) -> float:
    d = g.d_model
    # q, k, v, proj (weight + bias), fc1 (d x 4d + 4d), fc2 (4d x d + d), two LayerNorms (2d each)
    return 4 * (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d


def _attn_share(g: GPTConfig) -> float:
    """Attention's share of a layer's forward FLOPs (per token: q/k/v/proj GEMMs 8d^2 and the
    two attention products 4 s d, against the MLP's 16 d^2)."""
    d, s = g.d_model, g.seq_len
    attn = 8 * d * d + 4 * s * d
    return attn / (attn + 16 * d * d)


def need_reshardable(manifest: dict[str, Any], path: str) -> None:
    """Refuse to re-shard a directory that is not a ``commsim record`` of the tiny GPT.

    Re-sharding rebuilds the model's layers from the manifest's ``model_config``; a trace
    profiled elsewhere (any public Kineto trace) has no manifest, so only its replay as
    recorded is possible.

    Raises:
        InputError: no ``manifest.json`` with ``model_config``, or another model.
    """
    if manifest.get("model", "gpt-tiny") != "gpt-tiny" or "model_config" not in manifest:
        raise InputError(
            "--strategy/--world re-shard only a `commsim record` directory of the tiny GPT "
            "(its manifest.json has model_config); replay this trace as recorded, without them",
            file=path,
            field="model",
        )


def layer_profile(imp: ImportedTrace) -> LayerProfile:
    """The measured :class:`LayerProfile` of a tiny-GPT recording.

    Raises:
        InputError: not a gpt-tiny recording, or no per-layer compute in the trace.
    """
    man = imp.manifest
    need_reshardable(man, imp.path)
    g = GPTConfig(**man["model_config"])
    strategy = RecordStrategy(man.get("strategy", "ddp"))
    tp = imp.world if strategy is RecordStrategy.TP else 1
    pipeline = strategy in (RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B)
    n_mb = int(man.get("config", {}).get("microbatches", 1)) if pipeline else 1
    mb = g.batch // n_mb
    measured = [_rank_seconds(imp, r) for r in range(imp.world)]
    per_rank = [m[0] for m in measured]
    embed_head = [m[1] for m in measured]
    layers = [
        _layer_cost(imp, g, lay, per_rank, n_mb if pipeline else 1, mb, tp)
        for lay in range(g.n_layer)
    ]
    first = dict(embed_head[0])
    last = dict(embed_head[-1])
    if pipeline:
        # Per micro-batch, like the layers. Unlabelled forward/backward ops count as embedding
        # until a stage has run a layer, as head after that (_rank_seconds). So the first
        # stage's embed_fwd and the last stage's head_bwd hold the first micro-batch only; the
        # first stage's embed_bwd follows every micro-batch's layers and holds all of them, and
        # so does the last stage's head_fwd under GPipe (every forward before the first
        # backward; under 1F1B the later ones are not labelled forward).
        first["embed_bwd"] = first.get("embed_bwd", 0.0) / n_mb
        if strategy is RecordStrategy.PP_GPIPE:
            last["head_fwd"] = last.get("head_fwd", 0.0) / n_mb
    embed_params = (g.vocab + g.seq_len) * g.d_model
    head_params = g.d_model * g.vocab + g.vocab + 2 * g.d_model
    total_params = _layer_params(g) * g.n_layer / tp + embed_params + head_params
    optim_s = statistics.fmean(e.get("optim", 0.0) for e in embed_head)
    s_per_param = optim_s / total_params if optim_s > 0 else 0.0
    fwd_sum = sum(lc.fwd_s for lc in layers)
    return LayerProfile(
        layers=tuple(layers),
        micro_batch=mb,
        seq_len=g.seq_len,
        hidden=g.d_model,
        tp=tp,
        act_bytes=FP32_B,
        grad_bytes=FP32_B,
        param_bytes=FP32_B,
        embed_fwd_s=first.get("embed_fwd", 0.0),
        embed_bwd_s=first.get("embed_bwd", 0.0),
        head_fwd_s=last.get("head_fwd", 0.0),
        head_bwd_s=last.get("head_bwd", 0.0),
        embed_params=embed_params,
        head_params=head_params,
        tie_embeddings=False,
        optimizer_s_per_param=s_per_param,
        achieved_flops=sum(lc.flops_fwd for lc in layers) / fwd_sum if fwd_sum else 1e9,
        memory_Bps=12.0 / s_per_param if s_per_param > 0 else 1e10,
        source=f"trace {imp.path} ({man.get('strategy')}, {imp.num_steps} steps)",
    )


def _rank_seconds(
    imp: ImportedTrace, r: int
) -> tuple[dict[tuple[str, int], float], dict[str, float]]:
    """Rank ``r``'s measured compute, averaged over the good steps: seconds per
    ``(category, layer)`` of forward and backward, and of embedding, head and optimizer."""
    acc: dict[tuple[str, int], list[float]] = defaultdict(list)
    eh: dict[str, list[float]] = defaultdict(list)
    for k in imp.good_steps:
        sums: dict[tuple[str, int], float] = defaultdict(float)
        e: dict[str, float] = defaultdict(float)
        seen_layer = {"fwd": False, "bwd": False}
        for op in imp.workload(k).programs[r].ops:
            if not isinstance(op, Compute) or op.duration_s is None:
                continue
            cat = op.category
            if cat in ("fwd", "bwd") and op.layer >= 0:
                sums[(cat, op.layer)] += op.duration_s
                seen_layer[cat] = True
            elif cat == "fwd":
                e["head_fwd" if seen_layer["fwd"] else "embed_fwd"] += op.duration_s
            elif cat == "bwd":
                e["embed_bwd" if seen_layer["bwd"] else "head_bwd"] += op.duration_s
            elif cat == "optim":
                e["optim"] += op.duration_s
        for key, v in sums.items():
            acc[key].append(v)
        for key2, v in e.items():
            eh[key2].append(v)
    return (
        {key: statistics.fmean(v) for key, v in acc.items()},
        {key: statistics.fmean(v) for key, v in eh.items()},
    )


def _layer_cost(
    imp: ImportedTrace,
    g: GPTConfig,
    lay: int,
    per_rank: list[dict[tuple[str, int], float]],
    n_mb: int,
    mb: int,
    tp: int,
) -> LayerCost:
    """Layer ``lay``'s cost per micro-batch: the ranks' mean measured time split into
    attention and MLP by FLOPs, with its parameters, activations and FLOPs on one TP rank."""
    fwd = [pr[("fwd", lay)] for pr in per_rank if ("fwd", lay) in pr]
    bwd = [pr[("bwd", lay)] for pr in per_rank if ("bwd", lay) in pr]
    if not fwd or not bwd:
        raise InputError(
            f"no measured forward/backward compute for layer {lay}", file=imp.path, field="traces"
        )
    f_s, b_s = statistics.fmean(fwd) / n_mb, statistics.fmean(bwd) / n_mb
    share = _attn_share(g)
    act = g.seq_len * mb * g.d_model * (34 + 5 * g.n_head * g.seq_len / g.d_model) * 2
    return LayerCost(
        attn_fwd_s=f_s * share,
        mlp_fwd_s=f_s * (1 - share),
        attn_bwd_s=b_s * share,
        mlp_bwd_s=b_s * (1 - share),
        params=_layer_params(g) / tp,
        activation_B=act / tp,
        flops_fwd=2 * _layer_params(g) * mb * g.seq_len / tp,
    )


def strategy_config(
    strategy: str, world: int, g: GPTConfig, bucket_cap_mb: float
) -> StrategyConfig:
    """The workload :class:`StrategyConfig` for a recorder strategy name on ``world`` ranks."""
    try:
        s = RecordStrategy(strategy)
    except ValueError as exc:
        raise InputError(f"unknown strategy {strategy!r}", field="--strategy") from exc
    bucket = DataParallelConfig(mode=DataParallelMode.DDP, bucket_size=bucket_cap_mb * 2**20)
    if s is RecordStrategy.DDP:
        return StrategyConfig(data_parallel=bucket)
    if s is RecordStrategy.DDP_FP16:
        return StrategyConfig(
            data_parallel=bucket, compression=CompressionConfig(kind=CompressionKind.FP16)
        )
    if s is RecordStrategy.DDP_POWERSGD:
        return StrategyConfig(
            data_parallel=bucket,
            compression=CompressionConfig(kind=CompressionKind.POWERSGD, rank=1),
        )
    if s is RecordStrategy.FSDP:
        return StrategyConfig(data_parallel=DataParallelConfig(mode=DataParallelMode.FSDP))
    if s in (RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B):
        pp = max(
            p for p in range(1, min(g.n_layer, world) + 1) if g.n_layer % p == 0 and world % p == 0
        )
        sched = (
            PipelineSchedule.GPIPE if s is RecordStrategy.PP_GPIPE else PipelineSchedule.ONE_F_ONE_B
        )
        return StrategyConfig(pp=pp, pipeline=PipelineConfig(schedule=sched))
    if s is RecordStrategy.TP:
        tp = max(
            t for t in range(1, min(g.n_head, world) + 1) if g.n_head % t == 0 and world % t == 0
        )
        # the recorder's DTensor plan shards q, k, v as three ColwiseParallel linears
        return StrategyConfig(tp=tp, tensor=TensorConfig(qkv=QKVLayout.SEPARATE))
    mode = PSMode.SYNC if s is RecordStrategy.PS_SYNC else PSMode.ASYNC
    return StrategyConfig(
        kind=StrategyKind.PARAMETER_SERVER, parameter_server=ParameterServerConfig(mode=mode)
    )


def resharded_workload(
    imp: ImportedTrace,
    strategy: str,
    world: int,
    topology: Topology | None,
    *,
    blocking_host: bool = False,
) -> Workload:
    """Programs of ``strategy`` on ``world`` ranks from the trace's measured profile.

    The global batch keeps the recording's per-rank batch (weak scaling): ``world`` x batch
    (divided among data-parallel replicas by the strategy builder). ``blocking_host``: build
    the strategy as the rig's recorder runs it (``JobContext.blocking_host``), for predictions
    that are compared with rig recordings; False: as on GPUs, whose host runs ahead.

    Raises:
        InputError: the strategy cannot be built for this world size / batch.
    """
    prof = layer_profile(imp)
    g = GPTConfig(**imp.manifest["model_config"])
    bucket = float(imp.manifest.get("config", {}).get("bucket_cap_mb", 25.0))
    cfg = strategy_config(strategy, world, g, bucket)
    dp = world // (cfg.tp * cfg.pp)
    mb = prof.micro_batch
    if RecordStrategy(strategy) in (RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B):
        # The recorder splits each rank's batch into ``microbatches`` pipeline micro-batches
        # (RecordConfig.microbatches); the schedule (and its bubble) depends on that count.
        n_mb = int(imp.manifest.get("config", {}).get("microbatches", 1))
        mb = max(1, g.batch // max(1, n_mb))
    try:
        ctx = job_context(prof, cfg, world, topology, global_batch=dp * g.batch, micro_batch=mb)
        ctx.blocking_host = blocking_host
        return build_job(ctx)
    except ValueError as exc:
        raise InputError(str(exc), field="--strategy") from exc


@dataclass(frozen=True)
class ReshardResult:
    """A recording re-sharded to another strategy or world size and simulated.

    ``measured_step_s`` is the recording's own mean measured step (seconds; None when it has
    no measured step), ``predicted_step_s`` the re-sharded step's prediction (seconds), and
    ``result`` the engine's step result (its JSON summary is the ``result`` key).
    """

    trace: str
    recorded_strategy: str | None
    recorded_world: int
    measured_step_s: float | None
    strategy: str
    world: int
    topology: str
    backend: str
    predicted_step_s: float
    result: StepResult = field(repr=False, compare=False)
    workload: Workload | None = field(default=None, repr=False, compare=False)
    out: str | None = None
    chakra_out: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object (``chakra_out`` only when set)."""
        d: dict[str, Any] = {
            "trace": self.trace,
            "recorded_strategy": self.recorded_strategy,
            "recorded_world": self.recorded_world,
            "measured_step_s": self.measured_step_s,
            "strategy": self.strategy,
            "world": self.world,
            "topology": self.topology,
            "backend": self.backend,
            "predicted_step_s": self.predicted_step_s,
            "result": self.result.to_dict(),
        }
        if self.out is not None:
            d["out"] = self.out
        if self.chakra_out is not None:
            d["chakra_out"] = self.chakra_out
        return d


def check_degree(manifest: dict[str, Any], strategy: str, world: int) -> None:
    """Refuse ``tp``/``pp-*`` re-shards that would end up with a degree of 1 on > 1 ranks."""
    try:
        s = RecordStrategy(strategy)
    except ValueError:
        known = ", ".join(x.value for x in RecordStrategy)
        near = hint(strategy, [x.value for x in RecordStrategy])
        msg = f"unknown strategy {strategy!r}{near} (one of {known})"
        raise InputError(msg, field="--strategy") from None
    if world < 2 or s not in (RecordStrategy.TP, RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B):
        return
    try:
        g = GPTConfig(**manifest["model_config"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"no usable model_config ({exc})", file="manifest.json") from None
    cfg = strategy_config(strategy, world, g, 25.0)
    degree, what = (
        (cfg.tp, f"n_head ({g.n_head})")
        if s is RecordStrategy.TP
        else (
            cfg.pp,
            f"n_layer ({g.n_layer})",
        )
    )
    if degree < 2:
        raise InputError(
            f"{strategy} on {world} ranks: the recording's {what} and {world} have no common "
            f"degree > 1, so it would run data parallel; choose a --world that shares a factor "
            "with it",
            field="--world",
        )


def reshard(
    trace_dir: str | Path,
    *,
    strategy: str | None = None,
    world: int | None = None,
    topology: str | None = None,
    backend: str | None = None,
    fidelity: str = "flow",
    blocking_host: bool = False,
) -> ReshardResult:
    """Re-shard the recording in ``trace_dir`` and predict one step.

    Defaults: the recording's strategy; all ranks of ``topology`` when given, else the
    recording's world size; the manifest's topology (``loopback-N``) and backend.
    ``blocking_host``: see :func:`resharded_workload` (the rig validation's tier 3 sets it).

    Raises:
        InputError: the topology has fewer ranks than ``world``, the recording cannot be
            re-sharded (:func:`check_degree`), or the strategy cannot be built.
    """
    src = Path(trace_dir)
    # before the import: a foreign trace was imported first and refused for a partial rank set
    # ("pass --mirror-ranks", even when given) or, with a pp/tp --strategy, for a manifest.json
    # it does not have; its real reason came last or never
    if src.is_dir():
        need_reshardable(read_manifest(src), str(src))
    imp = import_trace_dir(src)
    strategy = strategy or str(imp.manifest.get("strategy", "ddp"))
    name = topology or imp.manifest.get("topology", f"loopback-{imp.world}")
    with named_in_manifest(src, "topology", name, topology):
        topo = load_topology(name)
    world = world or (topo.num_ranks if topology else imp.world)
    check_degree(imp.manifest, strategy, world)
    if topo.num_ranks < world:
        which = (
            f"topology {topo.name}"
            if topology
            else f"the recording's topology {topo.name} (no --topology given)"
        )
        raise InputError(
            f"{which} has {topo.num_ranks} ranks, fewer than --world {world}; give --topology "
            f"with at least {world} ranks",
            field="--world",
        )
    wl = resharded_workload(imp, strategy, world, topo, blocking_host=blocking_host)
    be = backend or imp.manifest.get("backend", "gloo")
    with named_in_manifest(src, "backend", be, backend):
        res = simulate(wl, topo, backend=be, fidelity=fidelity, record=False)
    measured = imp.measured_step_times_s()
    return ReshardResult(
        trace=str(src),
        recorded_strategy=imp.manifest.get("strategy"),
        recorded_world=imp.world,
        measured_step_s=sum(measured) / len(measured) if measured else None,
        strategy=strategy,
        world=world,
        topology=topo.name,
        backend=str(be),
        predicted_step_s=res.step_time_s,
        result=res,
        workload=wl,
    )
