"""HBM traffic of the memory-bound kernels of one transformer layer.

GEMMs are priced by their FLOPs (:mod:`simulator.workload.costmodel`). Between them a layer
runs kernels that do almost no arithmetic and are bound by HBM bandwidth: layer norms, the
softmax and dropout over the ``s x s`` attention scores, bias + activation, bias + dropout +
residual add, layout copies. At small model width they are a large share of the layer (for a
1.7B GPT at ``s = 2048`` the ``s x s`` score tensors alone outweigh ``b x s x h`` twenty-fold),
at large width a few percent; a single FLOP efficiency cannot describe both.

The kernel list is the one of a Megatron-LM GPT layer (NVIDIA/Megatron-LM,
``megatron/model/transformer.py`` and ``fused_kernels``: apex fused layer norm,
``FusedScaleMaskSoftmax``, jit-fused ``bias_gelu`` and ``bias_dropout_add``). Each kernel's
traffic is counted from its operands, in *passes* over a tensor (one pass = every element read or
written once at the activation dtype; a 1-byte dropout mask next to 2-byte activations counts
0.5):

* forward: inputs read + outputs written (incl. the dropout mask);
* backward: output gradient read + the saved tensors it needs read + input gradient written;
  per block one extra add of the residual-stream gradient (read 2, write 1).

Tensor shapes per micro-batch of ``b`` samples on one GPU of a TP group of ``tp``:

* ``T = b s h``: the residual stream. Layer norms and bias-dropout-add run on the full ``T`` on
  every TP rank (*replicated*) unless sequence parallelism splits them (Korthikanti et al. 2022,
  Sec. 4.2.2); the attention context copy runs on ``T / tp``.
* ``F = b s f / tp``: the MLP hidden activation (``x top_k`` for mixture-of-experts).
* ``S = b (a / tp) s^2``: attention scores; absent with flash attention, which never writes them.

The attention-core batched GEMMs also move ``S``: the score GEMM writes it, attention-over-values
reads it (forward: 2 passes; backward: 4). Those passes belong to GEMMs and are priced by the
roofline (``max`` of FLOP time and byte time) in :mod:`simulator.workload.profile`, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulator.workload.modelspec import ModelSpec


class Block(StrEnum):
    """Half of a transformer layer a kernel belongs to."""

    ATTN = "attn"
    MLP = "mlp"


class Shape(StrEnum):
    """Tensor a kernel streams over (see the module docstring)."""

    REPLICATED_T = "T (replicated without sequence parallelism)"
    SPLIT_T = "T / tp"
    F = "F"
    F_GATED = "F (gated MLP)"
    S = "S"


@dataclass(frozen=True, slots=True)
class Kernel:
    """One memory-bound kernel: passes over its tensor in forward and in backward."""

    name: str
    block: Block
    shape: Shape
    fwd_passes: float
    bwd_passes: float


#: The memory-bound kernels of one Megatron-LM GPT layer (pre-LN), with the passes counted as in
#: the module docstring. Gated MLPs (SwiGLU) read two ``F`` tensors and write one in forward.
KERNELS: tuple[Kernel, ...] = (
    # attention block
    Kernel("input_layernorm", Block.ATTN, Shape.REPLICATED_T, 2.0, 3.0),  # X->Y; dY,X->dX
    Kernel("scale_mask_softmax", Block.ATTN, Shape.S, 2.0, 3.0),  # fused; dY,Y->dX
    Kernel("attention_dropout", Block.ATTN, Shape.S, 2.5, 2.5),  # X->Y,mask; dY,mask->dX
    Kernel("context_layout_copy", Block.ATTN, Shape.SPLIT_T, 2.0, 2.0),  # [b,a,s,d]->[s,b,h]
    Kernel("bias_dropout_add", Block.ATTN, Shape.REPLICATED_T, 3.5, 2.5),  # X,res->Y,mask
    Kernel("residual_grad_add", Block.ATTN, Shape.REPLICATED_T, 0.0, 3.0),  # backward only
    # MLP block
    Kernel("post_attention_layernorm", Block.MLP, Shape.REPLICATED_T, 2.0, 3.0),
    Kernel("bias_gelu", Block.MLP, Shape.F, 2.0, 3.0),  # fused; dY,X->dX
    Kernel("swiglu", Block.MLP, Shape.F_GATED, 3.0, 5.0),  # gate,up->Y; dY,gate,up->dgate,dup
    Kernel("bias_dropout_add", Block.MLP, Shape.REPLICATED_T, 3.5, 2.5),
    Kernel("residual_grad_add", Block.MLP, Shape.REPLICATED_T, 0.0, 3.0),
)


@dataclass(frozen=True, slots=True)
class ElementwiseBytes:
    """HBM bytes of the memory-bound kernels of one layer, one micro-batch, one GPU.

    Attributes:
        attn_fwd_B, attn_bwd_B, mlp_fwd_B, mlp_bwd_B: per block and direction.
        scores_fwd_B: the part of ``attn_fwd_B`` that streams over ``S`` (what selective
            recomputation re-runs).
    """

    attn_fwd_B: float
    attn_bwd_B: float
    mlp_fwd_B: float
    mlp_bwd_B: float
    scores_fwd_B: float


def shape_elements(
    spec: ModelSpec, b: int, shape: Shape, *, tp: int, sequence_parallel: bool
) -> float:
    """Elements of ``shape`` on one GPU for a micro-batch of ``b`` samples (0 if absent)."""
    s, h = spec.seq_len, spec.hidden
    t = float(b * s * h)
    f = float(b * s * spec.ffn) / tp * (spec.top_k if spec.is_moe else 1)
    if shape is Shape.REPLICATED_T:
        return t / tp if sequence_parallel else t
    if shape is Shape.SPLIT_T:
        return t / tp
    if shape is Shape.F:
        return f if not spec.gated_mlp else 0.0
    if shape is Shape.F_GATED:
        return f if spec.gated_mlp else 0.0
    if spec.flash_attention:
        return 0.0
    return float(b * spec.heads * s * spec.kv_len) / tp


def layer_elementwise_bytes(
    spec: ModelSpec, b: int, *, tp: int = 1, sequence_parallel: bool = False, act_bytes: int = 2
) -> ElementwiseBytes:
    """HBM bytes of :data:`KERNELS` for one layer of ``spec`` (see the module docstring)."""
    acc = {(blk, d): 0.0 for blk in Block for d in ("fwd", "bwd")}
    scores = 0.0
    for k in KERNELS:
        n = shape_elements(spec, b, k.shape, tp=tp, sequence_parallel=sequence_parallel)
        acc[(k.block, "fwd")] += n * k.fwd_passes * act_bytes
        acc[(k.block, "bwd")] += n * k.bwd_passes * act_bytes
        if k.shape is Shape.S:
            scores += n * k.fwd_passes * act_bytes
    return ElementwiseBytes(
        attn_fwd_B=acc[(Block.ATTN, "fwd")],
        attn_bwd_B=acc[(Block.ATTN, "bwd")],
        mlp_fwd_B=acc[(Block.MLP, "fwd")],
        mlp_bwd_B=acc[(Block.MLP, "bwd")],
        scores_fwd_B=scores,
    )


def attention_core_bytes(spec: ModelSpec, b: int, *, tp: int = 1, act_bytes: int = 2) -> float:
    """HBM bytes of the forward attention-core GEMMs' score tensors: write ``S``, read ``S``.

    Backward moves twice this (``dS`` written and read twice over). 0 with flash attention.
    """
    if spec.flash_attention:
        return 0.0
    return 2.0 * float(b * spec.heads * spec.seq_len * spec.kv_len) / tp * act_bytes


#: HBM bytes per logit element of Megatron's vocab-parallel cross entropy, forward: the logits
#: cast to fp32 (read 2, write 4), their row max (read 4), the in-place subtraction of it (read
#: 4, write 4), the in-place exp (read 4, write 4), its row sum (read 4) and the in-place division
#: into the softmax kept for backward (read 4, write 4). Counted from
#: ``megatron/core/tensor_parallel/cross_entropy.py`` (NVIDIA/Megatron-LM, commit 8a78edd20c,
#: July 2024: ``calculate_logits_max``, ``calculate_predicted_logits``,
#: ``calculate_cross_entropy_loss``; the loss takes ``output.float()`` unless
#: ``fp16_lm_cross_entropy``, off in Megatron-LM and in the NeMo recipes); Megatron-LM 2021's
#: ``mpu/cross_entropy.py`` runs the same passes. The target gather touches one element per row.
LOSS_FWD_BYTES_PER_LOGIT = 6.0 + 4.0 + 8.0 + 8.0 + 4.0 + 8.0
#: Backward: the softmax scaled in place by the loss gradient (read 4, write 4) and cast back to
#: the activation dtype for the output layer's backward GEMMs (read 4, write 2)
#: (``calculate_gradients`` and the autograd of ``.float()``).
LOSS_BWD_BYTES_PER_LOGIT = 8.0 + 6.0


def loss_bytes(spec: ModelSpec, b: int, *, tp: int = 1) -> tuple[float, float]:
    """HBM bytes (forward, backward) of the cross-entropy loss over the logits of a micro-batch
    of ``b`` samples on one GPU of a TP group of ``tp`` (the vocabulary split ``tp`` ways)."""
    logits = float(b * spec.seq_len * spec.vocab) / tp
    return logits * LOSS_FWD_BYTES_PER_LOGIT, logits * LOSS_BWD_BYTES_PER_LOGIT


#: HBM bytes per element of one FP8 cast of a GEMM operand under Transformer Engine's delayed
#: scaling recipe: the BF16 tensor read once (2 B), written as FP8 and as its FP8 transpose
#: (1 + 1 B), the transpose being the operand layout of the weight-gradient GEMM; the amax the
#: next step's scale comes from is reduced inside the same kernel. Counted from TE 1.x's fused
#: kernels (``fp8_cast_transpose_fused``, ``fp8_cast_transpose_bgrad_fused`` in
#: ``transformer_engine/pytorch/cpp_extensions``, used by ``module/linear.py`` and
#: ``layernorm_linear.py`` / ``layernorm_mlp.py``); the layer-norm-fused cast of the QKV and FC1
#: inputs is counted the same (an upper estimate: that kernel skips the separate BF16 read).
FP8_CAST_BYTES_PER_ELEMENT = 2.0 + 1.0 + 1.0


@dataclass(frozen=True, slots=True)
class CastBytes:
    """HBM bytes of the FP8 casts of one layer, one micro-batch, one GPU, per block and
    direction (forward: the activation operand of each linear; backward: its output gradient)."""

    attn_fwd_B: float
    attn_bwd_B: float
    mlp_fwd_B: float
    mlp_bwd_B: float


def fp8_cast_bytes(spec: ModelSpec, b: int, *, tp: int = 1) -> CastBytes:
    """HBM bytes of the FP8 casts around the four linears of one layer (QKV, projection, FC1,
    FC2) on one GPU of a TP group of ``tp``: in forward each linear's input, in backward each
    linear's output gradient, as the GEMM sees them (column-parallel inputs and row-parallel
    output gradients whole ``b s h`` after their all-gather, the others split ``tp`` ways), at
    :data:`FP8_CAST_BYTES_PER_ELEMENT`. Weights are not cast per micro-batch: the recipes keep
    them in FP8 (``fp8_params``) and Transformer Engine caches their transposes."""
    s, h = spec.seq_len, spec.hidden
    t = float(b * s * h)
    kv_width = spec.kv * spec.head_dim
    f_in = shape_elements(
        spec, b, Shape.F_GATED if spec.gated_mlp else Shape.F, tp=tp, sequence_parallel=True
    )  # FC2's input: the (gated) activation output, b s f / tp (x top_k)
    f_out = f_in * (2.0 if spec.gated_mlp else 1.0)  # FC1's output: gate and up for SwiGLU
    qkv_out = float(b * s * (h + 2 * kv_width)) / tp
    c = FP8_CAST_BYTES_PER_ELEMENT
    return CastBytes(
        attn_fwd_B=c * (t + t / tp),  # QKV input, projection input (the attention context)
        attn_bwd_B=c * (qkv_out + t),  # QKV output gradient, projection output gradient
        mlp_fwd_B=c * (t + f_in),
        mlp_bwd_B=c * (f_out + t),
    )
