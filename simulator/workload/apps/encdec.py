"""Encoder-decoder Transformer (Vaswani et al. 2017, "Attention Is All You Need", Sec. 3).

Shapes: ``d`` model width, ``f`` FFN width, ``a`` heads, ``L_e`` / ``L_d`` encoder / decoder
layers, ``V`` shared source-target vocabulary (tied embeddings and pre-softmax projection,
Sec. 3.4), ``s`` source and ``t`` target tokens per sentence, micro-batch ``b``.

Parameters (biases included, post-norm, Sec. 3.1):

* encoder layer: self-attention ``4 d^2 + 4 d``, FFN ``2 d f + f + d``, two layer norms ``4 d``;
* decoder layer: self-attention and cross-attention ``2 (4 d^2 + 4 d)``, FFN, three layer norms;
* embeddings: one ``V x d`` matrix shared by source, target and output (Sec. 3.4).

Forward FLOPs (2 per multiply-add; the Narayanan et al. 2021 counting applied term by term):

* encoder layer: projections ``8 b s d^2``, scores + attention over values ``4 b s^2 d``,
  FFN ``4 b s d f``;
* decoder layer: self-attention ``8 b t d^2 + 4 b t^2 d``; **cross-attention**: queries and
  output on the target ``4 b t d^2``, keys and values on the encoder output ``4 b s d^2``,
  scores + attention over values ``4 b t s d``; FFN ``4 b t d f``;
* output projection ``2 b t d V``.

Backward = 2 x forward (Narayanan et al. 2021). Activations kept for backward use the
Korthikanti et al. 2022 Eq. (1) coefficients per ``b x len x d`` block (``34 + 5 a len / d``),
the cross-attention block counted like a self-attention block over ``t`` queries and ``s`` keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class EncDecSpec:
    """An encoder-decoder Transformer (Transformer-big: d 1024, f 4096, 16 heads, 6 + 6 layers).

    Attributes:
        src_len, tgt_len: source and target tokens per sentence.
    """

    name: str = "transformer"
    encoder_layers: int
    decoder_layers: int
    hidden: int
    heads: int
    ffn_hidden: int
    vocab: int
    src_len: int
    tgt_len: int

    # ---- parameters -------------------------------------------------------------------
    def attn_block_params(self) -> int:
        """One attention block: Q, K, V, output projections with biases."""
        d = self.hidden
        return 4 * d * d + 4 * d

    def ffn_params(self) -> int:
        """One position-wise FFN: ``d -> f -> d`` with biases."""
        d, f = self.hidden, self.ffn_hidden
        return 2 * d * f + f + d

    def encoder_layer_params(self) -> int:
        """Self-attention, FFN, two layer norms."""
        return self.attn_block_params() + self.ffn_params() + 4 * self.hidden

    def decoder_layer_params(self) -> int:
        """Self-attention, cross-attention, FFN, three layer norms."""
        return 2 * self.attn_block_params() + self.ffn_params() + 6 * self.hidden

    def embedding_params(self) -> int:
        """Shared source/target/output embedding."""
        return self.vocab * self.hidden

    def total_params(self) -> int:
        """All parameters."""
        return (
            self.encoder_layers * self.encoder_layer_params()
            + self.decoder_layers * self.decoder_layer_params()
            + self.embedding_params()
        )

    # ---- forward FLOPs per micro-batch ---------------------------------------------------
    def encoder_attn_fwd_flops(self, b: int) -> float:
        """Encoder self-attention: projections + scores + attention over values."""
        s, d = self.src_len, self.hidden
        return 8.0 * b * s * d * d + 4.0 * b * s * s * d

    def ffn_fwd_flops(self, b: int, tokens: int) -> float:
        """FFN over ``tokens`` positions."""
        return 4.0 * b * tokens * self.hidden * self.ffn_hidden

    def decoder_self_attn_fwd_flops(self, b: int) -> float:
        """Decoder (causal) self-attention, counted dense as Narayanan et al. do."""
        t, d = self.tgt_len, self.hidden
        return 8.0 * b * t * d * d + 4.0 * b * t * t * d

    def cross_attn_fwd_flops(self, b: int) -> float:
        """Cross-attention: Q/O on the target, K/V on the encoder output, ``t x s`` scores."""
        s, t, d = self.src_len, self.tgt_len, self.hidden
        return 4.0 * b * t * d * d + 4.0 * b * s * d * d + 4.0 * b * t * s * d

    def encoder_layer_fwd_flops(self, b: int) -> float:
        """One encoder layer."""
        return self.encoder_attn_fwd_flops(b) + self.ffn_fwd_flops(b, self.src_len)

    def decoder_layer_fwd_flops(self, b: int) -> float:
        """One decoder layer."""
        return (
            self.decoder_self_attn_fwd_flops(b)
            + self.cross_attn_fwd_flops(b)
            + self.ffn_fwd_flops(b, self.tgt_len)
        )

    def head_fwd_flops(self, b: int) -> float:
        """Output projection to the vocabulary: ``2 b t d V``."""
        return 2.0 * b * self.tgt_len * self.hidden * self.vocab

    def model_flops_per_sample(self) -> float:
        """Forward + backward FLOPs of one sentence pair."""
        fwd = (
            self.encoder_layers * self.encoder_layer_fwd_flops(1)
            + self.decoder_layers * self.decoder_layer_fwd_flops(1)
            + self.head_fwd_flops(1)
        )
        return 3.0 * fwd

    # ---- activations ----------------------------------------------------------------------
    def _block_B(self, b: int, q_len: int, k_len: int) -> float:
        """Korthikanti Eq. (1) for one layer, scores ``q_len x k_len`` (16-bit activations)."""
        d, a = self.hidden, self.heads
        return float(q_len * b * d) * 34.0 + 5.0 * a * q_len * k_len * b

    def encoder_activation_B(self, b: int) -> float:
        """Bytes one encoder layer keeps for backward."""
        return self._block_B(b, self.src_len, self.src_len)

    def decoder_activation_B(self, b: int) -> float:
        """Bytes one decoder layer keeps: a layer over ``t`` plus a cross-attention block
        (attention part of Eq. (1): ``11 t b d + 5 a t s b``)."""
        t, s, d, a = self.tgt_len, self.src_len, self.hidden, self.heads
        return self._block_B(b, t, t) + 11.0 * t * b * d + 5.0 * a * t * s * b
