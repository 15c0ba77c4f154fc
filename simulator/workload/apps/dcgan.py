"""DCGAN generator and discriminator (Radford et al. 2016, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks", Sec. 3 and Fig. 1).

The layer list is the reference implementation's (pytorch/examples ``dcgan/main.py``, commit
13caa078cd69d74ffb447a9eda09f0a81b809480, BSD-3-Clause; not copied, only its shapes): for a
``2^n``-pixel image, the generator maps a ``z``-vector through a 4x4 transposed convolution to
``ngf 2^(n-3)`` channels, then ``n - 3`` stride-2 4x4 transposed convolutions halving the
channels, the last to ``c`` image channels; the discriminator mirrors it with stride-2 4x4
convolutions and a final 4x4 convolution to one logit. No biases; batch norm (2 parameters per
channel) after every layer except the generator's output and the discriminator's input and
output layers.

Forward FLOPs (2 per multiply-add): a convolution ``2 c_in c_out k^2 H_out W_out``; a
transposed convolution ``2 c_in c_out k^2 H_in W_in`` (every input pixel scatters a
``k x k x c_out`` patch). Backward = 2 x forward (input and weight gradients); the
discriminator's backward in the generator step computes input gradients only (1 x forward).
Activations kept for backward per layer: the convolution input, the batch-norm input and the
activation input, 16-bit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConvLayer:
    """One (transposed) convolution with its batch norm.

    Attributes:
        c_in, c_out, k: channels and square kernel. h_in, h_out: square feature-map sides.
        transposed: a transposed convolution. bn: followed by batch norm.
    """

    c_in: int
    c_out: int
    k: int
    h_in: int
    h_out: int
    transposed: bool
    bn: bool

    @property
    def params(self) -> int:
        """Weights (no bias) and batch-norm scale and shift."""
        return self.c_in * self.c_out * self.k * self.k + (2 * self.c_out if self.bn else 0)

    def fwd_flops(self, b: int) -> float:
        """Forward FLOPs for ``b`` images."""
        side = self.h_in if self.transposed else self.h_out
        return 2.0 * b * self.c_in * self.c_out * self.k * self.k * side * side

    def activation_B(self, b: int, act_bytes: int = 2) -> float:
        """Input, batch-norm input and activation input kept for backward."""
        inp = self.c_in * self.h_in**2
        out = self.c_out * self.h_out**2
        return float(b * act_bytes * (inp + (2 if self.bn else 1) * out))


@dataclass(frozen=True, slots=True, kw_only=True)
class DCGANSpec:
    """A DCGAN (pytorch/examples defaults: 64x64x3 images, z 100, ngf = ndf = 64)."""

    name: str = "dcgan"
    image_size: int = 64
    channels: int = 3
    latent: int = 100
    ngf: int = 64
    ndf: int = 64

    @property
    def stages(self) -> int:
        """Stride-2 stages between 4x4 and the image: ``log2(image_size) - 2``."""
        n = self.image_size.bit_length() - 1
        if self.image_size != 1 << n or n < 3:
            raise ValueError("image_size must be a power of two >= 8")
        return n - 2

    def generator(self) -> list[ConvLayer]:
        """Generator layers, input to output."""
        n = self.stages
        ch = self.ngf * 2 ** (n - 1)
        out = [ConvLayer(self.latent, ch, 4, 1, 4, True, True)]
        side = 4
        for i in range(n):
            last = i == n - 1
            nxt = self.channels if last else ch // 2
            out.append(ConvLayer(ch, nxt, 4, side, side * 2, True, not last))
            ch, side = nxt, side * 2
        return out

    def discriminator(self) -> list[ConvLayer]:
        """Discriminator layers, input to output."""
        n = self.stages
        out, ch, side = [], self.channels, self.image_size
        for i in range(n):
            nxt = self.ndf * 2**i
            out.append(ConvLayer(ch, nxt, 4, side, side // 2, False, i > 0))
            ch, side = nxt, side // 2
        out.append(ConvLayer(ch, 1, 4, side, 1, False, False))
        return out

    def generator_params(self) -> int:
        """Generator parameters."""
        return sum(lay.params for lay in self.generator())

    def discriminator_params(self) -> int:
        """Discriminator parameters."""
        return sum(lay.params for lay in self.discriminator())

    def total_params(self) -> int:
        """Both networks."""
        return self.generator_params() + self.discriminator_params()

    def model_flops_per_sample(self) -> float:
        """Forward + backward FLOPs of one GAN step per sample (see :func:`step_flops`)."""
        return step_flops(self, 1)


def step_flops(spec: DCGANSpec, b: int) -> float:
    """FLOPs of one alternating step for ``b`` real images (Goodfellow et al. 2014, Alg. 1):

    discriminator step: G forward (b), D forward and backward on b real + b fake images;
    generator step: G forward, D forward, D input-gradient backward (1x), G backward (2x).
    """
    g = sum(lay.fwd_flops(b) for lay in spec.generator())
    d = sum(lay.fwd_flops(b) for lay in spec.discriminator())
    d_step = g + 3.0 * 2 * d
    g_step = 3.0 * g + 2.0 * d
    return d_step + g_step
