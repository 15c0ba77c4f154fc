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

from collections.abc import Sequence
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


def emit_bucket(
    rb: RankBuilder,
    name: str,
    n: float,
    group: Sequence[int],
    *,
    deps: Sequence[int | None],
    mirrors: Sequence[Sequence[int]],
    all_reduce: object,
) -> int | None:
    """Emit the compressed synchronisation of one bucket of ``n`` elements over ``group``.

    ``all_reduce`` is the callable used for (possibly hierarchical) all-reduces:
    ``all_reduce(name, size_B, deps) -> id``. Returns the id the optimizer must wait for.
    """
    ctx = rb.ctx
    cfg = ctx.strategy.compression
    prof = ctx.profile
    dp = len(group)
    pl = payload(
        cfg,
        n,
        prof.grad_bytes,
        dp,
        prof.memory_Bps,
        prof.achieved_flops,
        _sharded_shapes(prof.weight_shapes, ctx.layout.tp),
    )
    ar = all_reduce  # typed loosely to avoid a Protocol for one call site
    if cfg.kind in (CompressionKind.FP16, CompressionKind.BF16):
        c = rb.compute(f"{name}.cast", pl.compress_s, deps=deps, category="compress")
        a = ar(name, pl.wire_per_rank_B, (c,))  # type: ignore[operator]
        # The cast back runs in the all-reduce future's callback (torch's fp16_compress_hook:
        # ``fut.then(decompress)``), on the communication side: it must not hold up backward.
        return rb.compute(
            f"{name}.uncast", pl.decompress_s, deps=(a,), category="compress", stream=STREAM
        )
    if cfg.kind is CompressionKind.TOPK:
        c = rb.compute(f"{name}.topk", pl.compress_s, deps=deps, category="compress")
        a = _dp_collective(rb, f"{name}.ag", CollectiveOp.ALL_GATHER, group, pl, dp, c, mirrors)
        return rb.compute(f"{name}.scatter", pl.decompress_s, deps=deps_of(a), category="compress")
    if cfg.kind is CompressionKind.POWERSGD:
        p_frac, q_frac = powersgd_fractions(
            _sharded_shapes(prof.weight_shapes, ctx.layout.tp), cfg.rank
        )
        c1 = rb.compute(f"{name}.psgd_p", pl.compress_s / 2, deps=deps, category="compress")
        a1 = ar(f"{name}.p", n * p_frac * 4, (c1,))  # type: ignore[operator]
        c2 = rb.compute(f"{name}.psgd_q", pl.compress_s / 2, deps=(a1,), category="compress")
        a2 = ar(f"{name}.q", n * q_frac * 4, (c2,))  # type: ignore[operator]
        return rb.compute(f"{name}.psgd_out", pl.decompress_s, deps=(a2,), category="compress")
    if cfg.kind is CompressionKind.ONEBIT:
        return _onebit(rb, name, pl, group, deps, mirrors)
    return ar(name, n * prof.grad_bytes, deps)  # type: ignore[operator]


def _dp_collective(
    rb: RankBuilder,
    name: str,
    op: CollectiveOp,
    group: Sequence[int],
    pl: Payload,
    ranks: int,
    dep: int,
    mirrors: Sequence[Sequence[int]],
) -> int | None:
    """One collective of ``ranks`` x the payload's wire bytes per rank on the DP stream."""
    return rb.collective(
        name,
        op,
        group,
        pl.wire_per_rank_B * ranks,
        stream=STREAM,
        deps=(dep,),
        category="dp",
        mirrors=mirrors,
    )


def _onebit(
    rb: RankBuilder,
    name: str,
    pl: Payload,
    group: Sequence[int],
    deps: Sequence[int | None],
    mirrors: Sequence[Sequence[int]],
) -> int:
    """1-bit compression: sign, all-to-all, server-side sign, all-gather, unsign."""
    c = rb.compute(f"{name}.sign", pl.compress_s / 2, deps=deps, category="compress")
    a = _dp_collective(rb, f"{name}.a2a", CollectiveOp.ALL_TO_ALL, group, pl, 1, c, mirrors)
    s = rb.compute(f"{name}.server_sign", pl.compress_s / 2, deps=deps_of(a), category="compress")
    g = _dp_collective(rb, f"{name}.ag", CollectiveOp.ALL_GATHER, group, pl, 1, s, mirrors)
    return rb.compute(f"{name}.unsign", pl.decompress_s, deps=deps_of(g), category="compress")


def _sharded_shapes(shapes: Sequence[tuple[int, int]], tp: int) -> list[tuple[int, int]]:
    """Weight shapes on one TP rank (the parallel dimension divided by ``tp``)."""
    return [(r, max(1, c // tp)) for r, c in shapes]
