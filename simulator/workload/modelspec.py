"""Decoder-only transformer description and its analytical FLOP, parameter and activation counts.

Formulas (per transformer layer, micro-batch ``b``, sequence ``s``, hidden ``h``, heads ``a``,
KV heads ``g``, head dim ``d = h/a``, FFN width ``f``, vocabulary ``V``):

* Forward matmul FLOPs (2 FLOPs per multiply-add), Narayanan et al. 2021, "Efficient Large-Scale
  Language Model Training on GPU Clusters Using Megatron-LM", Sec. 5.1 / Appendix: for a GPT
  layer ``24 b s h^2 (1 + s/(6h))``. We count the terms separately so grouped-query attention,
  gated (SwiGLU) MLPs and mixture-of-experts come out right:
  QKV ``2bsh(h + 2gd)``, scores ``2bs^2h``, attention-over-values ``2bs^2h``, output projection
  ``2bsh^2``, MLP ``2 * n_mats * b s h f`` (``n_mats`` = 2, or 3 when gated) times top-k for MoE,
  router ``2bshE``. With ``g = a``, ``f = 4h`` and no gating this is exactly Narayanan's formula.
* Backward = 2 x forward (same paper). Full recomputation adds one forward; selective
  recomputation adds the attention core ``4 b s^2 h`` (Korthikanti et al. 2022, "Reducing
  Activation Recomputation in Large Transformer Models", Sec. 5).
* Activation bytes stored per layer for the backward pass, 16-bit activations: Korthikanti et al.
  2022, Sec. 4.1, Eq. (1)-(6): ``s b h (34 + 5 a s / h)`` without parallelism; with tensor
  parallelism ``t`` and sequence parallelism ``s b h (34 + 5 a s / h) / t``; without sequence
  parallelism ``s b h (10 + 24/t + 5 a s/(h t))``; selective recomputation drops the ``5as/h``
  term; full recomputation stores only the layer input ``2 s b h`` (divided by ``t`` with
  sequence parallelism). We split the 34 into attention ``11``, MLP ``19`` and layer norms ``4``
  (their Sec. 4.1 derivation) and rescale the MLP part by ``f/4h`` (and gating, top-k), the K/V
  parts by ``g/a``; flash attention stores no ``s^2`` terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import ClassVar

from pydantic import SerializerFunctionWrapHandler, model_serializer

from simulator.core.schema import Flag, PosInt
from simulator.core.vocab import DType, Recompute


class ModelArch(StrEnum):
    """Model families: decoder-only LLMs and the applications of :mod:`simulator.workload.apps`."""

    DECODER = "decoder"
    ENCODER_DECODER = "encoder_decoder"  # machine translation (layers = encoder layers)
    CONFORMER = "conformer"  # speech recognition (seq_len = encoder frames)
    DCGAN = "dcgan"  # generator + discriminator (hidden = ngf = ndf)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    """Shapes only the applications use (see :mod:`simulator.workload.apps`); a scenario's
    ``model.app`` section (validated by pydantic, unknown keys rejected)."""

    #: a scenario's unknown ``model.app`` key is an error (read by pydantic)
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    decoder_layers: PosInt | None = None  # encoder_decoder; default: layers
    target_len: PosInt | None = None  # target tokens / output labels; default: seq_len
    conv_kernel: PosInt = 32  # conformer depthwise kernel (Gulati et al. 2020)
    input_features: PosInt = 80  # conformer mel bins per frame
    decoder_hidden: PosInt = 640  # conformer RNN-T decoder width
    latent: PosInt = 100  # dcgan z
    image_size: PosInt = 64  # dcgan image side (pixels)
    image_channels: PosInt = 3  # dcgan image channels


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelShape:
    """A decoder-only transformer's architecture (GPT, LLaMA, Mixtral style): the one model
    description, what a scenario's ``model:`` section holds (validated by pydantic, unknown
    keys rejected). :class:`ModelSpec` adds the sequence length and the counts.

    Attributes:
        name: a label.
        layers, hidden, heads: depth, model width, attention heads.
        kv_heads: key/value heads (grouped-query attention); ``None`` means ``heads``.
        ffn_hidden: MLP inner width; ``None`` means ``4 * hidden``.
        vocab: vocabulary size.
        gated_mlp: SwiGLU-style MLP with three weight matrices (LLaMA, Mixtral).
        experts, top_k: mixture of experts (``experts == 1``: dense MLP).
        tie_embeddings: input embedding and LM head share weights (GPT-3).
        flash_attention: attention computed without materialising ``s x s`` scores.
        arch: the model family; anything but ``decoder`` names an application of
            :mod:`simulator.workload.apps` (machine translation, speech, GANs).
        app: shapes only the applications use.
    """

    #: a scenario's unknown model key is an error (read by pydantic)
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    name: str = "model"
    layers: PosInt
    hidden: PosInt
    heads: PosInt
    kv_heads: PosInt | None = None
    ffn_hidden: PosInt | None = None
    vocab: PosInt = 51200
    gated_mlp: Flag = False
    experts: PosInt = 1
    top_k: PosInt = 1
    tie_embeddings: Flag = True
    flash_attention: Flag = False
    arch: ModelArch = ModelArch.DECODER
    app: AppConfig = field(default_factory=AppConfig)

    @model_serializer(mode="wrap")
    def _drop_default_app(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """Leave ``arch``/``app`` out of dumps of decoder-only models (outputs unchanged)."""
        out: dict[str, object] = handler(self)
        if self.arch is ModelArch.DECODER and self.app == AppConfig():
            out.pop("arch", None)
            out.pop("app", None)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec(ModelShape):
    """A :class:`ModelShape` at a sequence length, with its FLOP, parameter and activation
    counts.

    Attributes:
        seq_len: tokens per sample on one GPU (a scenario takes it from ``training.seq_len``;
            with context parallelism, the shard of one rank: ``training.seq_len / cp``).
        context_parallel: ranks the sample's sequence is split over (1: none). Each rank's
            queries attend to the keys of the whole sample, ``seq_len * context_parallel``
            (:attr:`kv_len`); everything else sees the rank's own ``seq_len`` tokens.
    """

    seq_len: int = 2048
    context_parallel: int = 1

    @classmethod
    def of(cls, shape: ModelShape, seq_len: int, context_parallel: int = 1) -> ModelSpec:
        """``shape`` at ``seq_len`` tokens per sample, split over ``context_parallel`` ranks
        (``seq_len`` must divide by it)."""
        if seq_len % context_parallel:
            raise ValueError(f"seq_len {seq_len} does not split into cp={context_parallel} shards")
        kw = {f.name: getattr(shape, f.name) for f in fields(ModelShape)}
        return cls(**kw, seq_len=seq_len // context_parallel, context_parallel=context_parallel)

    @property
    def kv_len(self) -> int:
        """Keys each query attends over: the whole sample (``seq_len * context_parallel``)."""
        return self.seq_len * self.context_parallel

    # ---- shapes -------------------------------------------------------------------------
    @property
    def kv(self) -> int:
        """Number of key/value heads."""
        return self.kv_heads or self.heads

    @property
    def ffn(self) -> int:
        """MLP inner width."""
        return self.ffn_hidden or 4 * self.hidden

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // self.heads

    @property
    def mlp_mats(self) -> int:
        """Weight matrices per MLP (expert): 3 when gated, else 2."""
        return 3 if self.gated_mlp else 2

    @property
    def is_moe(self) -> bool:
        """True for a mixture-of-experts model."""
        return self.experts > 1

    def weight_shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of the dense weight matrices of one layer, one expert's MLP included."""
        h, f, kvd = self.hidden, self.ffn, self.kv * self.head_dim
        shapes = [(h, h + 2 * kvd), (h, h)]
        shapes += [(h, f)] * (self.mlp_mats - 1) + [(f, h)]
        return shapes

    # ---- parameters ---------------------------------------------------------------------
    def attn_params(self) -> int:
        """Attention parameters of one layer (QKV + output projection + one layer norm)."""
        h, kvd = self.hidden, self.kv * self.head_dim
        return h * (h + 2 * kvd) + h * h + 2 * h

    def expert_params(self) -> int:
        """Parameters of one expert's MLP (the dense MLP when ``experts == 1``)."""
        return self.mlp_mats * self.hidden * self.ffn

    def mlp_params(self) -> int:
        """MLP parameters of one layer: all experts, router and one layer norm."""
        router = self.hidden * self.experts if self.is_moe else 0
        return self.experts * self.expert_params() + router + 2 * self.hidden

    def layer_params(self) -> int:
        """Parameters of one transformer layer."""
        return self.attn_params() + self.mlp_params()

    def embedding_params(self) -> int:
        """Input embedding (vocab x hidden)."""
        return self.vocab * self.hidden

    def head_params(self) -> int:
        """LM head parameters (0 when tied to the embedding) plus the final layer norm."""
        return (0 if self.tie_embeddings else self.vocab * self.hidden) + 2 * self.hidden

    def total_params(self) -> int:
        """All parameters of the model."""
        return self.layers * self.layer_params() + self.embedding_params() + self.head_params()

    def active_params(self) -> int:
        """Parameters touched per token (MoE: top-k experts only)."""
        dense = self.total_params() - self.layers * (self.experts - self.top_k) * (
            self.expert_params()
        )
        return dense

    # ---- FLOPs per micro-batch ----------------------------------------------------------
    def attn_fwd_flops(self, b: int) -> float:
        """Forward FLOPs of the attention block of one layer (projections + core)."""
        s, h, kvd = self.seq_len, self.hidden, self.kv * self.head_dim
        proj = 2.0 * b * s * h * (h + 2 * kvd) + 2.0 * b * s * h * h
        return proj + self.attn_core_fwd_flops(b)

    def attn_core_fwd_flops(self, b: int) -> float:
        """Forward FLOPs of scores and attention over values: ``4 b s^2 h`` (``4 b s s_kv h``
        with context parallelism: this rank's queries against the whole sample's keys)."""
        return 4.0 * b * self.seq_len * self.kv_len * self.hidden

    @property
    def attn_core_executed_fraction(self) -> float:
        """Share of :meth:`attn_core_fwd_flops` the kernels execute. A decoder's attention is
        causal; flash attention (Dao et al. 2022, arXiv:2205.14135; the fused kernels of
        Transformer Engine / cuDNN) skips every key block that lies wholly above the diagonal,
        so it computes about half of the ``s x s_kv`` pairs (``(1 + 1/n_blocks) / 2`` with
        ``n_blocks`` = 64-128 query blocks at s = 8192 / 128-token blocks; 1/2 here). The
        unfused attention of Megatron-LM 2021/2022 multiplies the full score matrices and masks
        afterwards: all of it. The count itself (:meth:`attn_core_fwd_flops`, what MFU
        conventions report) stays the full ``4 b s s_kv h``."""
        return 0.5 if self.flash_attention else 1.0

    def attn_fwd_executed_flops(self, b: int) -> float:
        """:meth:`attn_fwd_flops` as the kernels execute them (causal flash attention skips
        about half the core, :attr:`attn_core_executed_fraction`)."""
        skipped = (1.0 - self.attn_core_executed_fraction) * self.attn_core_fwd_flops(b)
        return self.attn_fwd_flops(b) - skipped

    def attn_core_bwd_recompute_flops(self, b: int) -> float:
        """FLOPs flash attention's backward adds to twice the forward: it recomputes the scores
        ``Q K^T`` block by block instead of reading them (Dao 2023, arXiv:2307.08691, Sec. 3.1:
        five matrix products in backward against two in forward, 2.5x the forward). The
        executed (causal) share of one score product; 0 for the unfused attention."""
        if not self.flash_attention:
            return 0.0
        return 0.5 * self.attn_core_executed_fraction * self.attn_core_fwd_flops(b)

    def layer_train_executed_flops(self, b: int) -> float:
        """Forward + backward FLOPs one layer's kernels execute (no recomputation): three
        times the executed forward, plus flash attention's recomputed scores."""
        fwd = self.attn_fwd_executed_flops(b) + self.mlp_fwd_flops(b)
        return 3.0 * fwd + self.attn_core_bwd_recompute_flops(b)

    def attn_core_train_executed_flops(self, b: int) -> float:
        """Forward + backward FLOPs the attention core's kernels execute in one layer (no
        recomputation): three times its executed forward plus flash attention's recomputed
        scores; the part of :meth:`layer_train_executed_flops` that is not a linear layer."""
        core_fwd = self.attn_core_executed_fraction * self.attn_core_fwd_flops(b)
        return 3.0 * core_fwd + self.attn_core_bwd_recompute_flops(b)

    def linear_fwd_flops(self, b: int) -> float:
        """Forward FLOPs of one layer's linear layers (QKV, output projection, the MLP's
        matrices of the top-k experts): the GEMMs Transformer Engine runs in FP8. The
        attention core and a mixture-of-experts router are not among them."""
        router = 2.0 * b * self.seq_len * self.hidden * self.experts if self.is_moe else 0.0
        return self.attn_fwd_flops(b) - self.attn_core_fwd_flops(b) + self.mlp_fwd_flops(b) - router

    def linear_params(self) -> int:
        """Weights of one layer's linear layers (all experts): what ``fp8_params`` keeps in FP8."""
        h, kvd = self.hidden, self.kv * self.head_dim
        return h * (h + 2 * kvd) + h * h + self.experts * self.expert_params()

    def mlp_fwd_flops(self, b: int) -> float:
        """Forward FLOPs of the MLP block of one layer (top-k experts and router for MoE)."""
        s, h = self.seq_len, self.hidden
        per_expert = 2.0 * self.mlp_mats * b * s * h * self.ffn
        router = 2.0 * b * s * h * self.experts if self.is_moe else 0.0
        return per_expert * (self.top_k if self.is_moe else 1) + router

    def layer_fwd_flops(self, b: int) -> float:
        """Forward FLOPs of one layer."""
        return self.attn_fwd_flops(b) + self.mlp_fwd_flops(b)

    def head_fwd_flops(self, b: int) -> float:
        """Forward FLOPs of the LM head (logits): ``2 b s h V``."""
        return 2.0 * b * self.seq_len * self.hidden * self.vocab

    def model_flops_per_sample(self) -> float:
        """Model FLOPs (forward + backward, no recomputation) for one sample."""
        return 3.0 * (self.layers * self.layer_fwd_flops(1) + self.head_fwd_flops(1))

    def recompute_flops(self, b: int, mode: Recompute) -> float:
        """Extra forward FLOPs per layer spent recomputing activations in the backward pass."""
        if mode is Recompute.FULL:
            return self.layer_fwd_flops(b)
        if mode is Recompute.SELECTIVE and not self.flash_attention:
            return self.attn_core_fwd_flops(b)
        return 0.0

    # ---- activations ----------------------------------------------------------------------
    def boundary_bytes(self, b: int, act: DType) -> float:
        """The ``b x s x h`` tensor passed between layers/stages (bytes)."""
        return float(b * self.seq_len * self.hidden * act.bytes)

    def activation_bytes(
        self,
        b: int,
        *,
        tp: int = 1,
        sequence_parallel: bool = False,
        recompute: Recompute = Recompute.NONE,
    ) -> float:
        """Bytes of activations one layer keeps for backward, per GPU (Korthikanti Eq. 1-6).

        The coefficients assume 16-bit activations (the paper's setting).
        """
        s, h, a = self.seq_len, self.hidden, self.heads
        sbh = float(s * b * h)
        if recompute is Recompute.FULL:
            return 2.0 * sbh / (tp if sequence_parallel else 1)
        kv_ratio = self.kv / self.heads
        # attention: LN-out/QKV input 2, Q 2, K 2*kv, V 2*kv, proj input 2, dropout mask 1
        attn_lin = 2 + 2 + 4 * kv_ratio + 2 + 1
        # MLP: input 2, per up-projection 2*f/h, activation input/output, dropout mask 1
        fr = self.ffn / h
        mlp_lin = 2 + 2 * fr * (self.mlp_mats - 1) + 2 * fr + 1
        if self.is_moe:
            mlp_lin = 2 + (mlp_lin - 2) * self.top_k
        ln = 4.0
        core = 0.0
        if not self.flash_attention and recompute is Recompute.NONE:
            core = 5.0 * a * self.kv_len / h
        tp_part = attn_lin - 3 + mlp_lin - 3 + core  # parts inside the TP region
        replicated = 3 + 3 + ln  # LN inputs/outputs and dropout replicated without SP
        if sequence_parallel or tp == 1:
            return sbh * (tp_part + replicated) / tp
        return sbh * (replicated + tp_part / tp)

    def validate(self) -> None:
        """Raise ValueError on shapes that cannot be built."""
        if self.hidden % self.heads:
            raise ValueError("hidden must be divisible by heads")
        if self.heads % self.kv:
            raise ValueError("heads must be divisible by kv_heads")
        if self.top_k > self.experts:
            raise ValueError("top_k must not exceed experts")


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of ``a / b``."""
    return -(-a // b)
