"""Gradient compression of data-parallel traffic: bytes on the wire and compute cost.

Each compressor turns one gradient bucket of ``n`` elements into collectives and kernels:

* ``fp16`` / ``bf16`` cast (Micikevicius et al. 2018; PyTorch DDP ``fp16_compress_hook``):
  all-reduce of ``2n`` bytes; cast kernels read/write ``n (g + 2)`` bytes each way.
* ``topk`` (Aji & Heafield 2017; Lin et al. 2018 "Deep Gradient Compression"): keep ``k = rn``
  elements; values (16- or 32-bit) + int32 indices, so the per-rank payload is ``rn (v + 4)``
  bytes -- at r = 1% and fp32 values 2% of the dense gradient. Sparse vectors cannot be summed
  in flight, so the payloads are **all-gathered** (``dp x payload``). Selection cost: PyTorch's
  CUDA top-k is a radix select with ``RADIX_BITS = 2`` (aten/src/ATen/native/cuda/
  SortingRadixSelect.cuh), i.e. 16 counting passes over 32-bit keys; plus error feedback (read
  gradient and residual, write residual: 3 passes). Decompression scatter-adds ``dp k`` elements
  and writes the dense gradient.
* ``powersgd`` rank ``r`` (Vogels et al. 2019, Algorithm 1): for each weight matrix ``M`` (rows x
  cols): ``P = M Q`` (2 rows cols r FLOPs), all-reduce ``P`` (rows r fp32), orthogonalise ``P``
  (2 rows r^2), ``Q = M^T P`` (2 rows cols r), all-reduce ``Q`` (cols r fp32), decompress
  ``P Q^T`` (2 rows cols r). Two all-reduces per bucket, the second waiting on the first.
* ``onebit`` with error feedback (Seide et al. 2014; Tang et al. 2021 "1-bit Adam",
  compressed all-reduce): signs (``n/8`` bytes) plus one fp32 scale per rank-chunk, exchanged
  by an all-to-all and an all-gather of the re-compressed averages. Kernels: error-compensate
  and sign (read gradient + error, write error + bits: ~3 fp32 passes) on the worker and again
  on the "server" chunk; decompress 1 pass.

Memory-bound kernels are priced at the profile's ``memory_Bps``, matmuls at ``achieved_flops``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulator.core.vocab import CollectiveOp
from simulator.workload.strategies.context import RankBuilder, deps_of
from simulator.workload.strategies.options import CompressionConfig, CompressionKind

STREAM = "comm.dp"
TOPK_SELECT_PASSES = 16  # radix select, RADIX_BITS=2 over 32-bit keys (PyTorch CUDA top-k)
INDEX_BYTES = 4  # int32 indices


@dataclass(frozen=True, slots=True)
class Payload:
    """What one bucket of ``n`` gradient elements costs under a compressor."""

    wire_per_rank_B: float  # bytes one rank contributes (the compressed message)
    compress_s: float
    decompress_s: float


def payload(
    cfg: CompressionConfig,
    n: float,
    grad_bytes: int,
    dp: int,
    memory_Bps: float,
    flops: float,
    shapes: Sequence[tuple[int, int]] = (),
) -> Payload:
    """Per-rank compressed message size and kernel times for ``n`` elements."""
    kind = cfg.kind
    g = grad_bytes
    if kind is CompressionKind.NONE:
        return Payload(n * g, 0.0, 0.0)
    if kind in (CompressionKind.FP16, CompressionKind.BF16):
        cast = n * (g + 2) / memory_Bps
        return Payload(n * 2, cast, cast)
    if kind is CompressionKind.TOPK:
        k = cfg.ratio * n
        vb = g
        select = (TOPK_SELECT_PASSES * n * 4 + 3 * n * g) / memory_Bps
        dec = (dp * k * (vb + INDEX_BYTES) + n * g) / memory_Bps
        return Payload(k * (vb + INDEX_BYTES), select, dec)
    if kind is CompressionKind.POWERSGD:
        p_frac, q_frac = powersgd_fractions(shapes, cfg.rank)
        mm = 2.0 * n * cfg.rank / flops
        return Payload(n * (p_frac + q_frac) * 4, 2 * mm, mm)
    if kind is CompressionKind.ONEBIT:
        comp = 2 * 3 * n * 4 / memory_Bps
        return Payload(n / 8 + 4 * dp, comp, n * 4 / memory_Bps)
    raise ValueError(f"unknown compression {kind}")  # pragma: no cover


def powersgd_fractions(shapes: Sequence[tuple[int, int]], rank: int) -> tuple[float, float]:
    """``(sum rows*r, sum cols*r) / sum rows*cols`` over a layer's matrices (square if none)."""
    if not shapes:
        shapes = [(4096, 4096)]
    total = sum(r * c for r, c in shapes)
    return (sum(r * rank for r, _ in shapes) / total, sum(c * rank for _, c in shapes) / total)


#: ``all_reduce(name, size_B, deps) -> id``: how a bucket's (possibly hierarchical) all-reduces
#: are emitted (the data-parallel sync's own).
AllReduce = Callable[[str, float, Sequence[int | None]], int | None]


@dataclass(frozen=True)
class _Bucket:
    """One bucket's compressed synchronisation being emitted (see :func:`emit_bucket`)."""

    rb: RankBuilder
    name: str
    n: float
    group: Sequence[int]
    deps: Sequence[int | None]
    mirrors: Sequence[Sequence[int]]
    ar: AllReduce
    pl: Payload

    def compress(self, what: str, time_s: float, deps: Sequence[int | None]) -> int:
        return self.rb.compute(f"{self.name}.{what}", time_s, deps=deps, category="compress")

    def collective(self, what: str, op: CollectiveOp, size_B: float, dep: int) -> int | None:
        return self.rb.collective(
            f"{self.name}.{what}", op, self.group, size_B, stream=STREAM, deps=(dep,),
            category="dp", mirrors=self.mirrors,
        )  # fmt: skip


def emit_bucket(
    rb: RankBuilder,
    name: str,
    n: float,
    group: Sequence[int],
    *,
    deps: Sequence[int | None],
    mirrors: Sequence[Sequence[int]],
    all_reduce: AllReduce,
) -> int | None:
    """Emit the compressed synchronisation of one bucket of ``n`` elements over ``group``.

    ``all_reduce`` emits the (possibly hierarchical) all-reduces (:data:`AllReduce`). Returns
    the id the optimizer must wait for.
    """
    ctx = rb.ctx
    cfg, prof = ctx.strategy.compression, ctx.profile
    shapes = _sharded_shapes(prof.weight_shapes, ctx.layout.tp)
    pl = payload(cfg, n, prof.grad_bytes, len(group), prof.memory_Bps, prof.achieved_flops, shapes)
    b = _Bucket(rb, name, n, group, deps, mirrors, all_reduce, pl)
    if cfg.kind in (CompressionKind.FP16, CompressionKind.BF16):
        return _cast(b)
    if cfg.kind is CompressionKind.TOPK:
        return _topk(b)
    if cfg.kind is CompressionKind.POWERSGD:
        return _powersgd(b, powersgd_fractions(shapes, cfg.rank))
    if cfg.kind is CompressionKind.ONEBIT:
        return _onebit(b)
    return all_reduce(name, n * prof.grad_bytes, deps)


def _cast(b: _Bucket) -> int:
    """fp16/bf16: cast, all-reduce the half-width gradients, cast back."""
    c = b.compress("cast", b.pl.compress_s, b.deps)
    a = b.ar(b.name, b.pl.wire_per_rank_B, (c,))
    # The cast back runs in the all-reduce future's callback (torch's fp16_compress_hook:
    # ``fut.then(decompress)``), on the communication side: it must not hold up backward.
    return b.rb.compute(
        f"{b.name}.uncast", b.pl.decompress_s, deps=(a,), category="compress", stream=STREAM
    )


def _topk(b: _Bucket) -> int:
    """Top-k: select, all-gather every rank's (values, indices), scatter-add them."""
    c = b.compress("topk", b.pl.compress_s, b.deps)
    a = b.collective("ag", CollectiveOp.ALL_GATHER, b.pl.wire_per_rank_B * len(b.group), c)
    return b.compress("scatter", b.pl.decompress_s, deps_of(a))


def _powersgd(b: _Bucket, fractions: tuple[float, float]) -> int:
    """PowerSGD: P = M Q, all-reduce P, orthogonalise, Q = M^T P, all-reduce Q (fp32)."""
    p_frac, q_frac = fractions
    c1 = b.compress("psgd_p", b.pl.compress_s / 2, b.deps)
    a1 = b.ar(f"{b.name}.p", b.n * p_frac * 4, (c1,))
    c2 = b.compress("psgd_q", b.pl.compress_s / 2, (a1,))
    a2 = b.ar(f"{b.name}.q", b.n * q_frac * 4, (c2,))
    return b.compress("psgd_out", b.pl.decompress_s, (a2,))


def _onebit(b: _Bucket) -> int:
    """1-bit (Tang et al. 2021): signs all-to-all, server-side sign, all-gather."""
    c = b.compress("sign", b.pl.compress_s / 2, b.deps)
    a = b.collective("a2a", CollectiveOp.ALL_TO_ALL, b.pl.wire_per_rank_B, c)
    s = b.compress("server_sign", b.pl.compress_s / 2, deps_of(a))
    g = b.collective("ag", CollectiveOp.ALL_GATHER, b.pl.wire_per_rank_B, s)
    return b.compress("unsign", b.pl.decompress_s, deps_of(g))


def _sharded_shapes(shapes: Sequence[tuple[int, int]], tp: int) -> list[tuple[int, int]]:
    """Weight shapes on one TP rank (the parallel dimension divided by ``tp``)."""
    return [(r, max(1, c // tp)) for r, c in shapes]
