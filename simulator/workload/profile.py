"""LayerProfile: what strategies need to know about a model, analytical or measured.

Strategies never look at a :class:`~simulator.workload.modelspec.ModelSpec` directly: they shard
and schedule a :class:`LayerProfile` (per-layer forward/backward seconds, parameter counts,
activation bytes, the tensors that cross layer boundaries). :func:`profile_from_model` builds one
from the analytical model and a :class:`~simulator.workload.costmodel.CostModel`; the trace
importer builds one from measured kernels (see docs/interfaces.md, "Workload from a profile"),
and both go through the same strategies (``build_from_profile``).

A profile describes **one GPU of a tensor-parallel group of degree** ``tp`` running micro-batches
of ``micro_batch`` samples: times, parameter counts and activation bytes are per GPU.
:meth:`LayerProfile.rescaled` re-shards it to another TP degree or micro-batch size (linear
scaling; GEMM efficiency changes with shape are not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from simulator.core.vocab import DType, Recompute
from simulator.workload.costmodel import CostModel
from simulator.workload.elementwise import (
    attention_core_bytes,
    fp8_cast_bytes,
    layer_elementwise_bytes,
    loss_bytes,
)
from simulator.workload.modelspec import ModelSpec
from simulator.workload.software import overlaps_tp_backward, overlaps_tp_comm

#: Bytes of HBM traffic per parameter of a mixed-precision Adam step: read fp32 master weight,
#: m, v (12 B) and the gradient, write master, m, v (12 B) and the 16-bit weight copy (2 B).
#: Counted from the Adam update (Kingma & Ba 2015) in mixed precision (Micikevicius et al. 2018).
ADAM_BYTES_PER_PARAM_EXCL_GRAD = 26.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerCost:
    """One transformer layer on one GPU, per micro-batch.

    Attributes:
        attn_fwd_s, mlp_fwd_s: forward seconds of the attention and MLP halves.
        attn_bwd_s, mlp_bwd_s: backward seconds (input and weight gradients).
        recompute_s: extra seconds recomputing activations before this layer's backward
            (selective recomputation; full recomputation re-runs the forward ops instead).
        params: dense parameters held by this GPU (attention, norms, router, dense MLP).
        expert_params: parameters of the experts held by this GPU when experts are
            *not* expert-parallel (all experts); divide by ``ep`` for expert parallelism.
        activation_B: activation bytes kept for backward, per micro-batch.
        flops_fwd: forward FLOPs (information only).
    """

    attn_fwd_s: float
    mlp_fwd_s: float
    attn_bwd_s: float
    mlp_bwd_s: float
    recompute_s: float = 0.0
    params: float = 0.0
    expert_params: float = 0.0
    activation_B: float = 0.0
    flops_fwd: float = 0.0

    @property
    def fwd_s(self) -> float:
        """Forward seconds."""
        return self.attn_fwd_s + self.mlp_fwd_s

    @property
    def bwd_s(self) -> float:
        """Backward seconds (without recomputation)."""
        return self.attn_bwd_s + self.mlp_bwd_s

    def scaled(self, time: float, size: float, act: float) -> LayerCost:
        """Times x ``time``, parameters x ``size``, activations x ``act``."""
        return LayerCost(
            attn_fwd_s=self.attn_fwd_s * time,
            mlp_fwd_s=self.mlp_fwd_s * time,
            attn_bwd_s=self.attn_bwd_s * time,
            mlp_bwd_s=self.mlp_bwd_s * time,
            recompute_s=self.recompute_s * time,
            params=self.params * size,
            expert_params=self.expert_params * size,
            activation_B=self.activation_B * act,
            flops_fwd=self.flops_fwd * time,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerProfile:
    """Per-layer costs of a model on one GPU (see the module docstring for the frame).

    Attributes:
        layers: one :class:`LayerCost` per transformer layer, in model order.
        micro_batch, seq_len, hidden: the micro-batch frame the costs were taken in.
        tp: tensor-parallel degree the costs already include.
        recompute: recomputation policy the costs include; ``FULL`` means strategies re-run
            each layer's forward (with its TP communication) before its backward.
        act_bytes, grad_bytes, param_bytes: bytes per element of activations, gradients on the
            wire, and parameters on the wire (16-bit; under the FP8 recipe the average over FP8
            linear weights and 16-bit others, :func:`fp8_param_bytes`).
        embed_fwd_s, embed_bwd_s, head_fwd_s, head_bwd_s: embedding and LM head (+loss).
        embed_params, head_params: parameters of embedding and head on this GPU.
        experts, top_k: mixture-of-experts shape (1, 1 for dense models).
        weight_shapes: (rows, cols) of one layer's unsharded weight matrices (PowerSGD).
        optimizer_s_per_param: seconds of optimizer step per local parameter.
        achieved_flops, memory_Bps: rates for kernels strategies add (compression).
        tp_backward_overlap: the backward all-reduce of each TP block runs under the weight
            gradient of its column-parallel linear (Megatron-LM 2022,
            :func:`~simulator.workload.software.overlaps_tp_backward`); ``False`` for
            measured profiles (torch DTensor does not).
        kv_hidden: width of one token's keys (= of its values), ``kv_heads * head_dim``
            (0: ``hidden``); the context-parallel K/V exchange moves it.
        tp_comm_overlap: with sequence parallelism, each TP block's all-gather and
            reduce-scatter run beside its compute (Transformer Engine userbuffers,
            :func:`~simulator.workload.software.overlaps_tp_comm`).
        tp_gather_bytes: bytes per element of the sequence-parallel all-gathers (0: as
            ``act_bytes``); 1 under the FP8 recipe with userbuffers (:func:`profile_from_model`).
        source: where the numbers come from.
    """

    layers: tuple[LayerCost, ...]
    micro_batch: int
    seq_len: int
    hidden: int
    tp: int = 1
    recompute: Recompute = Recompute.NONE
    act_bytes: int = 2
    grad_bytes: int = 2
    param_bytes: float = 2
    embed_fwd_s: float = 0.0
    embed_bwd_s: float = 0.0
    head_fwd_s: float = 0.0
    head_bwd_s: float = 0.0
    embed_params: float = 0.0
    head_params: float = 0.0
    tie_embeddings: bool = True
    experts: int = 1
    top_k: int = 1
    weight_shapes: tuple[tuple[int, int], ...] = ()
    optimizer_s_per_param: float = 0.0
    achieved_flops: float = 1e14
    memory_Bps: float = 1e12
    tp_backward_overlap: bool = False
    tp_comm_overlap: bool = False
    kv_hidden: int = 0
    tp_gather_bytes: float = 0.0
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        """Number of transformer layers."""
        return len(self.layers)

    @property
    def boundary_B(self) -> float:
        """Bytes of the ``b x s x h`` activation between layers (full tensor, not TP-split)."""
        return float(self.micro_batch * self.seq_len * self.hidden * self.act_bytes)

    @property
    def tp_gather_B(self) -> float:
        """Bytes of one sequence-parallel all-gather (the full ``b x s x h`` tensor at
        ``tp_gather_bytes`` per element)."""
        if not self.tp_gather_bytes:
            return self.boundary_B
        return float(self.micro_batch * self.seq_len * self.hidden * self.tp_gather_bytes)

    @property
    def moe_dispatch_B(self) -> float:
        """All-to-all send buffer per GPU per MoE layer per micro-batch (0 for dense)."""
        if self.experts <= 1:
            return 0.0
        return self.boundary_B * self.top_k

    def total_params(self) -> float:
        """Parameters on this GPU without expert parallelism (all layers, embedding, head)."""
        return (
            sum(lc.params + lc.expert_params for lc in self.layers)
            + self.embed_params
            + self.head_params
        )

    def rescaled(self, *, tp: int | None = None, micro_batch: int | None = None) -> LayerProfile:
        """The same model re-sharded to ``tp`` and/or another micro-batch size (linear)."""
        tp_new = tp or self.tp
        mb_new = micro_batch or self.micro_batch
        shard = self.tp / tp_new
        batch = mb_new / self.micro_batch
        t = shard * batch
        return replace(
            self,
            layers=tuple(lc.scaled(t, shard, t) for lc in self.layers),
            tp=tp_new,
            micro_batch=mb_new,
            embed_fwd_s=self.embed_fwd_s * t,
            embed_bwd_s=self.embed_bwd_s * t,
            head_fwd_s=self.head_fwd_s * t,
            head_bwd_s=self.head_bwd_s * t,
            embed_params=self.embed_params * shard,
            head_params=self.head_params * shard,
        )


def _memory_bound_extra_s(
    spec: ModelSpec,
    cost: CostModel,
    b: int,
    tp: int,
    sequence_parallel: bool,
    recompute: Recompute,
    act_dtype: DType,
) -> tuple[float, float, float, float, float]:
    """Seconds (attn fwd, attn bwd, mlp fwd, mlp bwd, selective recompute) that one layer's
    memory-bound work adds to its GEMMs at the FLOP rate.

    The element-wise kernels of :mod:`simulator.workload.elementwise` at the memory rate, each as
    its own kernel (added); and the attention-core GEMMs as rooflines over the ``S`` tensors they
    write and read (forward 2 passes, backward 4): what their byte time exceeds their FLOP time.
    """
    ab = act_dtype.bytes
    core_flops = spec.attn_core_fwd_flops(b) / tp
    core_B = attention_core_bytes(spec, b, tp=tp, act_bytes=ab)
    ew = layer_elementwise_bytes(spec, b, tp=tp, sequence_parallel=sequence_parallel, act_bytes=ab)
    core_f = cost.time_s(core_flops, core_B) - cost.time_s(core_flops)
    core_b = cost.time_s(2.0 * core_flops, 2.0 * core_B) - cost.time_s(2.0 * core_flops)
    rec = 0.0
    if recompute is Recompute.SELECTIVE and not spec.flash_attention:
        rec = core_f + cost.time_s(bytes_B=ew.scores_fwd_B)
    return (
        core_f + cost.time_s(bytes_B=ew.attn_fwd_B),
        core_b + cost.time_s(bytes_B=ew.attn_bwd_B),
        cost.time_s(bytes_B=ew.mlp_fwd_B),
        cost.time_s(bytes_B=ew.mlp_bwd_B),
        rec,
    )


def _head_s(spec: ModelSpec, cost: CostModel, b: int, tp: int) -> tuple[float, float]:
    """Seconds (forward, backward) of the LM head of one micro-batch on one GPU: the logits
    GEMM (backward twice the forward) and, with ``cost.elementwise``, the cross-entropy loss
    over the ``b s V / tp`` logits at the memory rate."""
    head_f = cost.time_s(spec.head_fwd_flops(b) / tp)
    head_b = 2.0 * head_f
    if not cost.elementwise:
        return head_f, head_b
    loss_f, loss_b = loss_bytes(spec, b, tp=tp)
    return head_f + cost.time_s(bytes_B=loss_f), head_b + cost.time_s(bytes_B=loss_b)


def _layer_times_s(
    spec: ModelSpec,
    cost: CostModel,
    b: int,
    tp: int,
    sequence_parallel: bool,
    recompute: Recompute,
    act_dtype: DType,
) -> tuple[float, float, float, float, float]:
    """Seconds (attn fwd, attn bwd, mlp fwd, mlp bwd, selective recompute) of one layer on one
    GPU: the FLOPs its kernels execute at the FLOP rate (causal flash attention: half the core,
    its backward recomputing the scores, :meth:`ModelSpec.layer_train_executed_flops`), plus,
    with ``cost.elementwise``, the memory-bound work (:func:`_memory_bound_extra_s`)."""
    if cost.fp8:
        attn_f, mlp_f = _fp8_fwd_s(spec, cost, b, tp)
    else:
        attn_f = cost.time_s(spec.attn_fwd_executed_flops(b) / tp)
        mlp_f = cost.time_s(spec.mlp_fwd_flops(b) / tp)
    attn_b = 2.0 * attn_f + cost.time_s(spec.attn_core_bwd_recompute_flops(b) / tp)
    mlp_b = 2.0 * mlp_f
    rec = 0.0
    if recompute is Recompute.SELECTIVE:
        rec = cost.time_s(spec.recompute_flops(b, recompute) / tp)
    times = (attn_f, attn_b, mlp_f, mlp_b, rec)
    if not cost.elementwise:
        return times
    extra = _memory_bound_extra_s(spec, cost, b, tp, sequence_parallel, recompute, act_dtype)
    a_f, a_b, m_f, m_b, r = (t + dt for t, dt in zip(times, extra, strict=True))
    if cost.fp8:
        casts = fp8_cast_bytes(spec, b, tp=tp)
        a_f += cost.time_s(bytes_B=casts.attn_fwd_B)
        a_b += cost.time_s(bytes_B=casts.attn_bwd_B)
        m_f += cost.time_s(bytes_B=casts.mlp_fwd_B)
        m_b += cost.time_s(bytes_B=casts.mlp_bwd_B)
    return a_f, a_b, m_f, m_b, r


def _fp8_fwd_s(spec: ModelSpec, cost: CostModel, b: int, tp: int) -> tuple[float, float]:
    """Forward seconds (attention, MLP) of one layer's GEMMs under Transformer Engine's FP8
    recipe: the linear layers at the FP8 rate (:meth:`CostModel.linear_time_s`), the attention
    core (and a mixture-of-experts router) at the BF16 rate. Backward doubles both, as for BF16
    (the dgrad and wgrad GEMMs of each linear run in FP8 too: ``fp8_wgrad`` in the recipes)."""
    core = spec.attn_core_executed_fraction * spec.attn_core_fwd_flops(b)
    proj = spec.attn_fwd_flops(b) - spec.attn_core_fwd_flops(b)
    mlp_linear = spec.linear_fwd_flops(b) - proj
    router = spec.mlp_fwd_flops(b) - mlp_linear
    attn_f = cost.linear_time_s(proj / tp) + cost.time_s(core / tp)
    mlp_f = cost.linear_time_s(mlp_linear / tp) + cost.time_s(router / tp)
    return attn_f, mlp_f


def activation_dtype(dtype: DType) -> DType:
    """The dtype activations are kept and sent in for a scenario's ``training.dtype``: BF16 under
    the FP8 recipe (Transformer Engine casts only GEMM operands to FP8; layer outputs, the
    pipeline's sends and the saved activations stay BF16), else ``dtype`` itself."""
    return DType.BF16 if dtype is DType.FP8 else dtype


def fp8_param_bytes(spec: ModelSpec) -> float:
    """Bytes per parameter of the distributed optimizer's parameter all-gather under the FP8
    recipes of NVIDIA/dgxc-benchmarking (``fp8_params``): the linear layers' weights are FP8
    tensors, gathered as 1-byte data (NeMo ``MegatronDistributedFusedAdam.init_params_bucket``:
    ``param_sync_dtype=torch.uint8`` for FP8 parameters), the others (norms, embeddings, head)
    at 2 bytes; averaged over the model's parameters."""
    total = float(spec.total_params())
    linear = float(spec.layers * spec.linear_params())
    return (linear * 1.0 + (total - linear) * 2.0) / total


def _layer_cost(
    spec: ModelSpec,
    cost: CostModel,
    b: int,
    tp: int,
    sequence_parallel: bool,
    recompute: Recompute,
    act_dtype: DType,
) -> LayerCost:
    """One transformer layer's times (s), parameters and activation bytes on one GPU of a TP
    group of ``tp`` (:func:`profile_from_model`)."""
    attn_f, attn_b, mlp_f, mlp_b, rec = _layer_times_s(
        spec, cost, b, tp, sequence_parallel, recompute, act_dtype
    )
    expert_total = spec.experts * spec.expert_params() if spec.is_moe else 0
    dense = spec.layer_params() - expert_total
    act_B = spec.activation_bytes(
        b, tp=tp, sequence_parallel=sequence_parallel, recompute=recompute
    )
    return LayerCost(
        attn_fwd_s=attn_f,
        mlp_fwd_s=mlp_f,
        attn_bwd_s=attn_b,
        mlp_bwd_s=mlp_b,
        recompute_s=rec,
        params=dense / tp,
        expert_params=expert_total / tp,
        activation_B=act_B * act_dtype.bytes / 2.0,
        flops_fwd=spec.layer_fwd_flops(b) / tp,
    )


def profile_from_model(
    spec: ModelSpec,
    cost: CostModel,
    *,
    micro_batch: int,
    tp: int = 1,
    sequence_parallel: bool = False,
    recompute: Recompute = Recompute.NONE,
    act_dtype: DType = DType.BF16,
    grad_dtype: DType = DType.BF16,
) -> LayerProfile:
    """The analytical profile of ``spec`` on one GPU of a TP group of ``tp``.

    Forward times are ``flops / tp`` at the cost model's achieved FLOP/s; backward is twice the
    forward (Narayanan et al. 2021); selective recomputation re-runs the attention core
    (Korthikanti et al. 2022). The embedding lookup is memory-bound (``b s h`` bytes written).
    With ``cost.elementwise`` the layer's memory-bound kernels are added from HBM bandwidth and
    the attention-core GEMMs become rooflines over their score tensors
    (:func:`_memory_bound_extra_s`), and the LM head carries the cross-entropy loss over its
    ``b s V / tp`` logits (:func:`simulator.workload.elementwise.loss_bytes`).
    Under the FP8 recipe (``cost.fp8``) the linear layers' GEMMs run at the FP8 rate and their
    operands' casts are added at the memory rate (:func:`_fp8_fwd_s`,
    :func:`simulator.workload.elementwise.fp8_cast_bytes`); the all-gathers of the userbuffer
    TP overlap and the parameter gathers carry FP8 (``tp_gather_bytes``, ``param_bytes``).
    """
    b = micro_batch
    layer = _layer_cost(spec, cost, b, tp, sequence_parallel, recompute, act_dtype)
    head_f, head_b = _head_s(spec, cost, b, tp)
    embed_f = cost.time_s(bytes_B=spec.boundary_bytes(b, act_dtype) * 2)
    opt_per_param = cost.time_s(bytes_B=ADAM_BYTES_PER_PARAM_EXCL_GRAD + grad_dtype.bytes)
    return LayerProfile(
        layers=tuple(layer for _ in range(spec.layers)),
        micro_batch=b,
        seq_len=spec.seq_len,
        hidden=spec.hidden,
        tp=tp,
        recompute=recompute,
        act_bytes=act_dtype.bytes,
        grad_bytes=grad_dtype.bytes,
        param_bytes=fp8_param_bytes(spec) if cost.fp8 else 2,
        embed_fwd_s=embed_f,
        embed_bwd_s=embed_f,
        head_fwd_s=head_f,
        head_bwd_s=head_b,
        embed_params=spec.embedding_params() / tp,
        head_params=spec.head_params() / tp,
        tie_embeddings=spec.tie_embeddings,
        experts=spec.experts,
        top_k=spec.top_k,
        weight_shapes=tuple(spec.weight_shapes()),
        optimizer_s_per_param=opt_per_param,
        achieved_flops=cost.achieved_flops,
        memory_Bps=cost.hbm_Bps * cost.memory_efficiency,
        tp_backward_overlap=overlaps_tp_backward(cost.software),
        tp_comm_overlap=overlaps_tp_comm(cost.software),
        kv_hidden=spec.kv * spec.head_dim,
        # Transformer Engine's userbuffers hold the all-gathered GEMM inputs in FP8 under the
        # FP8 recipe ("AllGather buffers use fp8 when using fp8 recipe": initialize_ub in
        # transformer_engine/pytorch/module/base.py, TE 1.x); reduce-scatters stay BF16
        tp_gather_bytes=1.0 if cost.fp8 and overlaps_tp_comm(cost.software) else 0.0,
        source=f"analytical ({spec.name}; {cost.gpu}, efficiency {cost.efficiency:.3f}: "
        f"{cost.source})",
    )
