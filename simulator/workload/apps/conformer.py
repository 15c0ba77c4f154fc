"""Conformer speech encoder with an RNN-T decoder (Gulati et al. 2020, "Conformer:
Convolution-augmented Transformer for Speech Recognition", Sec. 2 and Table 1).

Shapes: ``d`` encoder width, ``a`` heads, ``K`` depthwise-convolution kernel, ``L`` blocks,
``F`` mel features per 10 ms frame, ``T`` encoder frames after the 4x convolution subsampling
(40 ms each), ``U`` output labels, ``h`` decoder (prediction and joint network) width, ``V``
word-piece vocabulary, micro-batch ``b``.

A block (Gulati Fig. 1) is FFN/2 -> multi-head self-attention with relative positional
encoding -> convolution module -> FFN/2 -> layer norm. Parameters, biases included:

* each of the two FFN modules (Fig. 4): layer norm ``2d``, ``d -> 4d -> d`` with biases:
  ``8 d^2 + 7 d``;
* self-attention (Fig. 3) with Transformer-XL relative positions (Dai et al. 2019, Sec. 3.3):
  layer norm ``2d``, Q/K/V/output ``4 d^2 + 4 d``, position projection ``d^2`` (no bias), the
  two position biases ``u, v`` ``2d``: ``5 d^2 + 8 d``;
* convolution module (Fig. 2): layer norm ``2d``, pointwise ``d -> 2d`` (GLU) ``2 d^2 + 2d``,
  depthwise ``K d + d``, batch norm ``2d``, pointwise ``d -> d`` ``d^2 + d``:
  ``3 d^2 + (K + 8) d``;
* final layer norm ``2d``. A block: ``24 d^2 + (K + 32) d``.

Subsampling (Sec. 2, "convolution subsampling"; two 3x3 stride-2 convolutions as in ESPnet's
``Conv2dSubsampling``): ``10 d + 9 d^2 + d`` and a linear map from ``d F'`` to ``d`` with
``F' = ((F - 1) // 2 - 1) // 2`` frequency bins left. RNN-T decoder (Table 1: one LSTM layer
of width 640; Graves 2012): label embedding ``V h``, LSTM ``4 (2 h^2 + 2 h)`` (PyTorch's two
bias vectors), joint network ``d h + h^2 + h V`` with biases.

Forward FLOPs (2 per multiply-add):

* FFN modules ``2 x 16 T d^2``; attention: projections ``8 T d^2``, position projection over
  ``2T`` relative positions ``4 T d^2``, content scores, position scores and attention over
  values ``6 T^2 d``; convolution module: pointwise ``4 T d^2 + 2 T d^2``, depthwise
  ``2 T d K``. A block: ``50 T d^2 + 6 T^2 d + 2 T d K``;
* subsampling: ``2 * 9 d (2T)(2F') + 2 * 9 d^2 T F' + 2 T F' d^2``;
* decoder: LSTM ``16 U h^2``; joint network ``2 T d h + 2 U h^2 + 2 T U h V`` (the ``T x U``
  lattice is what makes RNN-T heavy).

Activations kept per block for backward (16-bit, dropout masks 1 byte), counted the way
Korthikanti et al. 2022 Sec. 4.1 count a GPT layer, per ``b T d``: each FFN module 21
(layer-norm input 2, first linear input 2, Swish input 8, second linear input 8, mask 1),
attention 11 plus ``7 a T / d`` (content and position scores, softmax output, mask), the
convolution module 17 (layer norm, two pointwise and the depthwise inputs, GLU input 4, batch
norm and Swish inputs, mask), final layer norm 2: ``72 + 7 a T / d``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ConformerSpec:
    """A Conformer-Transducer (Conformer-L: d 512, 17 blocks, 8 heads, K 32, decoder 640)."""

    name: str = "conformer"
    layers: int
    hidden: int
    heads: int
    conv_kernel: int = 32
    input_features: int = 80
    frames: int
    labels: int
    decoder_hidden: int = 640
    vocab: int = 1024

    @property
    def freq_bins(self) -> int:
        """Frequency bins left after two stride-2 3x3 convolutions."""
        return ((self.input_features - 1) // 2 - 1) // 2

    # ---- parameters -----------------------------------------------------------------------
    def ffn_params(self) -> int:
        """Both FFN modules of a block."""
        d = self.hidden
        return 2 * (8 * d * d + 7 * d)

    def attn_params(self) -> int:
        """Relative-position self-attention, its layer norm included."""
        d = self.hidden
        return 5 * d * d + 8 * d

    def conv_params(self) -> int:
        """Convolution module."""
        d = self.hidden
        return 3 * d * d + (self.conv_kernel + 8) * d

    def block_params(self) -> int:
        """One Conformer block (final layer norm included)."""
        return self.ffn_params() + self.attn_params() + self.conv_params() + 2 * self.hidden

    def subsampling_params(self) -> int:
        """Convolution subsampling and its output projection."""
        d = self.hidden
        return 10 * d + 9 * d * d + d + self.freq_bins * d * d + d

    def decoder_params(self) -> int:
        """RNN-T prediction network (embedding + one LSTM) and joint network."""
        d, h, v = self.hidden, self.decoder_hidden, self.vocab
        lstm = 4 * (2 * h * h + 2 * h)
        joint = d * h + h + h * h + h + h * v + v
        return v * h + lstm + joint

    def total_params(self) -> int:
        """All parameters."""
        return self.layers * self.block_params() + self.subsampling_params() + self.decoder_params()

    # ---- forward FLOPs per micro-batch ------------------------------------------------------
    def attn_conv_fwd_flops(self, b: int) -> float:
        """Attention and convolution module of one block."""
        t, d = self.frames, self.hidden
        attn = 12.0 * t * d * d + 6.0 * t * t * d
        conv = 6.0 * t * d * d + 2.0 * t * d * self.conv_kernel
        return b * (attn + conv)

    def ffn_fwd_flops(self, b: int) -> float:
        """Both FFN modules of one block."""
        return 32.0 * b * self.frames * self.hidden**2

    def block_fwd_flops(self, b: int) -> float:
        """One block."""
        return self.attn_conv_fwd_flops(b) + self.ffn_fwd_flops(b)

    def subsampling_fwd_flops(self, b: int) -> float:
        """The two subsampling convolutions and the projection."""
        t, d, fb = self.frames, self.hidden, self.freq_bins
        return b * (
            2.0 * 9 * d * (2 * t) * (2 * fb) + 2.0 * 9 * d * d * t * fb + 2.0 * t * fb * d * d
        )

    def decoder_fwd_flops(self, b: int) -> float:
        """Prediction network and the joint network over the ``T x U`` lattice."""
        t, u, d, h, v = self.frames, self.labels, self.hidden, self.decoder_hidden, self.vocab
        return b * (16.0 * u * h * h + 2.0 * t * d * h + 2.0 * u * h * h + 2.0 * t * u * h * v)

    def model_flops_per_sample(self) -> float:
        """Forward + backward FLOPs of one utterance."""
        fwd = (
            self.layers * self.block_fwd_flops(1)
            + self.subsampling_fwd_flops(1)
            + self.decoder_fwd_flops(1)
        )
        return 3.0 * fwd

    def block_activation_B(self, b: int) -> float:
        """Bytes one block keeps for backward (see the module docstring)."""
        t, d, a = self.frames, self.hidden, self.heads
        return float(b * t * d) * 72.0 + 7.0 * a * t * t * b
