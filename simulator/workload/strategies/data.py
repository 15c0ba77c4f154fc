"""Data parallelism: PyTorch DDP buckets and ZeRO-1/2 sharded gradient synchronisation.

DDP (Li et al. 2020, "PyTorch Distributed", Sec. 3.2.3): gradients are packed into buckets of at
most ``bucket_size`` bytes (default 25 MiB) in *reverse* parameter order -- the order backward
produces them -- and each bucket is all-reduced as soon as its last gradient is ready, on a
communication stream, overlapping the rest of backward. With gradient accumulation
(pipeline micro-batches) only the last micro-batch's backward triggers the buckets.

ZeRO-1/2 (Rajbhandari et al. 2020, Sec. 5; Megatron's distributed optimizer): the same buckets
are *reduce-scattered* (each rank keeps the gradient shard of the optimizer state it owns),
each rank updates its ``1/dp`` shard, and the updated parameters are all-gathered after the
optimizer step. Wire bytes equal DDP's (reduce-scatter + all-gather = all-reduce); the two stages
differ only in memory (ZeRO-2 also frees the unowned gradient shards). With
``overlap_param_gather`` (Megatron-LM's ``--overlap-param-gather``: "overlap param all-gather in
distributed optimizer with forward compute") the all-gathers move to the next step's forward:
in the steady state this step starts with them, one per layer on their own stream, and each
layer's first forward waits only for its own parameters. Megatron gathers per gradient bucket;
per layer, a model whose layers are smaller than a bucket pays one collective latency per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.core.vocab import CollectiveOp
from simulator.limits import MAX_OPS, check_limit
from simulator.workload.strategies import compression, hierarchical
from simulator.workload.strategies.context import RankBuilder, deps_of
from simulator.workload.strategies.options import CompressionKind

STREAM = "comm.dp"
#: ZeRO-1/2 parameter all-gathers overlapped with the forward (``overlap_param_gather``).
AG_STREAM = "comm.dp.param_ag"


@dataclass(frozen=True, slots=True)
class GradUnit:
    """Gradients one backward op produces: dense elements and expert elements (per rank)."""

    name: str
    dense: float
    expert: float = 0.0


class DDPSync:
    """Bucketed all-reduce of gradients (optionally compressed and/or hierarchical)."""

    shard_optimizer = False

    def __init__(self, rb: RankBuilder) -> None:
        self.rb = rb
        ctx = rb.ctx
        lay = ctx.layout
        self.cap_B = float(ctx.strategy.data_parallel.bucket_size)
        self.g = ctx.profile.grad_bytes
        self.group = lay.dp_group(rb.t, rb.p)
        self.expert_group = lay.expert_dp_group(rb.t, rb.p, rb.d) if lay.ep > 1 else ()
        self.mirrors: list[tuple[int, ...]] = []
        self.expert_mirrors: list[tuple[int, ...]] = []
        if ctx.fold:
            self.mirrors = ctx.mirror_groups(
                self.group, [lay.dp_group(t, rb.p) for t in range(lay.tp) if t != rb.t]
            )
            if self.expert_group:
                cands = [
                    lay.expert_dp_group(t, rb.p, d)
                    for t in range(lay.tp)
                    for d in range(lay.ep)
                    if (t, d) != (rb.t, rb.d % lay.ep)
                ]
                self.expert_mirrors = ctx.mirror_groups(self.expert_group, cands)
        self.pending_dense = 0.0
        self.pending_expert = 0.0
        self.pending_dep: int | None = None
        self.buckets: list[tuple[float, float]] = []  # (dense, expert) elements per bucket
        self.done: list[int] = []

    # -- hooks called by the composer -------------------------------------------------------
    def before_layer(
        self, unit: GradUnit, microbatch: int, backward: bool, anchor: int | None
    ) -> int | None:
        """ZeRO-3 gathers parameters here; DDP does nothing."""
        return None

    def grad_ready(self, unit: GradUnit, op_id: int, final: bool, microbatch: int) -> None:
        """``unit``'s gradients were produced by ``op_id``; ``final``: last micro-batch."""
        if not final:
            return
        self.pending_dense += unit.dense
        if self.expert_group:
            self.pending_expert += unit.expert
        else:
            self.pending_dense += unit.expert
        self.pending_dep = op_id
        # Refused unless --force: an outsized model field or a bucket in the wrong unit would
        # unroll buckets for ever, whatever model family made it (check_scenario estimates
        # decoders before building; this counts what is about to be emitted).
        # Every rank built emits its own buckets (a whole job's ops against MAX_OPS, not one
        # rank's: 8 ranks of 5 M buckets each went through, 40 M ops).
        ctx = self.rb.ctx
        built = ctx.layout.pp if ctx.fold else ctx.layout.world  # hybrid_parallel's ranks
        per_rank = (
            len(self.buckets) + (self.pending_dense + self.pending_expert) * self.g / self.cap_B
        )
        check_limit(
            per_rank * max(1, built),
            MAX_OPS,
            f"gradient buckets of {self.cap_B:.3g} bytes ({built} ranks built, up to {unit.name})",
            field="strategy.data_parallel.bucket_size",
        )
        while (self.pending_dense + self.pending_expert) * self.g >= self.cap_B:
            total = self.pending_dense + self.pending_expert
            take = self.cap_B / self.g / total
            self._flush(self.pending_dense * take, self.pending_expert * take)

    def finish(self) -> list[int]:
        """Flush the last bucket; return the ids the optimizer waits for."""
        if self.pending_dense + self.pending_expert > 0:
            self._flush(self.pending_dense, self.pending_expert)
        return self.done

    def after_optimizer(self, opt_id: int) -> None:
        """ZeRO-1/2 all-gather updated parameters here; DDP does nothing."""

    # -- emission ---------------------------------------------------------------------------
    def _flush(self, dense: float, expert: float) -> None:
        rb = self.rb
        k = len(self.buckets)
        self.buckets.append((dense, expert))
        deps = deps_of(self.pending_dep)
        if dense > 0:
            i = self._sync_dense(f"dp.bucket{k}", dense, deps)
            if i is not None:
                self.done.append(i)
        if expert > 0:
            i = rb.collective(
                f"dp.expert_bucket{k}",
                CollectiveOp.ALL_REDUCE,
                self.expert_group,
                expert * self.g,
                stream=STREAM,
                deps=deps,
                category="dp",
                mirrors=self.expert_mirrors,
            )
            if i is not None:
                self.done.append(i)
        self.pending_dense -= dense
        self.pending_expert -= expert
        if self.pending_dense < 1e-9 * max(dense, 1.0):
            self.pending_dense = 0.0
        if self.pending_expert < 1e-9 * max(expert, 1.0):
            self.pending_expert = 0.0

    def _sync_dense(self, name: str, n: float, deps: tuple[int, ...]) -> int | None:
        rb = self.rb
        level = rb.ctx.strategy.data_parallel.hierarchical

        def ar(nm: str, size_B: float, d: Sequence[int | None]) -> int | None:
            return hierarchical.all_reduce(
                rb,
                nm,
                self.group,
                size_B,
                level=level,
                stream=STREAM,
                deps=d,
                category="dp",
                mirrors=self.mirrors,
            )

        if rb.ctx.strategy.compression.kind is CompressionKind.NONE:
            return ar(name, n * self.g, deps)
        if len(self.group) <= 1:
            return None
        return compression.emit_bucket(
            rb, name, n, self.group, deps=deps, mirrors=self.mirrors, all_reduce=ar
        )


class ShardedOptimizerSync(DDPSync):
    """ZeRO-1/2: reduce-scatter gradient buckets, all-gather parameters after the step."""

    shard_optimizer = True

    def _sync_dense(self, name: str, n: float, deps: tuple[int, ...]) -> int | None:
        return self.rb.collective(
            f"{name}.rs",
            CollectiveOp.REDUCE_SCATTER,
            self.group,
            n * self.g,
            stream=STREAM,
            deps=deps,
            category="dp",
            mirrors=self.mirrors,
        )

    def __init__(self, rb: RankBuilder) -> None:
        super().__init__(rb)
        self.overlap_gather = rb.ctx.strategy.data_parallel.overlap_param_gather
        self.gathered: set[str] = set()

    def before_layer(
        self, unit: GradUnit, microbatch: int, backward: bool, anchor: int | None
    ) -> int | None:
        """With ``overlap_param_gather``: all-gather ``unit``'s parameters (updated by the
        previous step's optimizer) before its first forward."""
        if not self.overlap_gather or backward or unit.name in self.gathered:
            return None
        self.gathered.add(unit.name)
        params = unit.dense + (0.0 if self.expert_group else unit.expert)
        return self.rb.collective(
            f"dp.{unit.name}.param_ag",
            CollectiveOp.ALL_GATHER,
            self.group,
            params * self.rb.ctx.profile.param_bytes,
            stream=AG_STREAM,
            deps=(),
            category="dp",
            mirrors=self.mirrors,
        )

    def after_optimizer(self, opt_id: int) -> None:
        if self.overlap_gather:
            return
        pb = self.rb.ctx.profile.param_bytes
        for k, (dense, _expert) in enumerate(self.buckets):
            self.rb.collective(
                f"dp.bucket{k}.param_ag",
                CollectiveOp.ALL_GATHER,
                self.group,
                dense * pb,
                stream=STREAM,
                deps=(opt_id,),
                category="dp",
                mirrors=self.mirrors,
            )
