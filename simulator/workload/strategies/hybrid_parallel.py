"""The collective-communication strategy: DP/ZeRO/FSDP x TP x PP x EP composed per rank.

For every simulated rank the composer walks its pipeline schedule (:mod:`.pipeline`) and writes
forward and backward passes layer by layer: TP blocks (:mod:`.tensor`), MoE all-to-alls
(:mod:`.expert`), pipeline Send/Recv between stages, and the data-parallel hooks of the chosen
mode (:mod:`.data`, :mod:`.zero`, with :mod:`.compression` and :mod:`.hierarchical`), then the
optimizer step.

Pipeline transfers: each TP rank sends its ``1/tp`` slice of the ``b s h`` boundary tensor
(Megatron's scatter/gather optimisation, Narayanan et al. 2021 Sec. 4.1). Each direction and
model chunk has its own send and receive stream, so a channel is FIFO and receives are posted
ahead (no deadlock, transfers start when the sender is ready). Tied embeddings (GPT) are
all-reduced between the first and the last stage after the last backward (Megatron).

Folding (``JobContext.fold``): programs only for TP rank 0 of each stage of replica 0; DP
collectives of the other TP ranks and pipeline sends of other ranks that share links with the
simulated ones are added as mirrors (see :mod:`simulator.core.ir`).
"""

from __future__ import annotations

from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp, Recompute
from simulator.workload.strategies import context_parallel, expert
from simulator.workload.strategies.context import JobContext, RankBuilder, deps_of
from simulator.workload.strategies.data import DDPSync, GradUnit, ShardedOptimizerSync
from simulator.workload.strategies.options import DataParallelMode, QKVLayout
from simulator.workload.strategies.pipeline import Pass, schedule
from simulator.workload.strategies.tensor import tp_block
from simulator.workload.strategies.zero import Zero3Sync

#: Registry: data-parallel mode -> gradient synchronisation class.
GRAD_SYNC: dict[DataParallelMode, type[DDPSync]] = {
    DataParallelMode.DDP: DDPSync,
    DataParallelMode.ZERO1: ShardedOptimizerSync,
    DataParallelMode.ZERO2: ShardedOptimizerSync,
    DataParallelMode.ZERO3: Zero3Sync,
    DataParallelMode.FSDP: Zero3Sync,
}


def representative_ranks(ctx: JobContext) -> list[int]:
    """Ranks that get a program: all, or TP rank 0 of each stage of replica 0 when folded."""
    lay = ctx.layout
    if ctx.fold:
        return [lay.rank(0, p, 0) for p in range(lay.pp)]
    return list(range(lay.world))


def build(ctx: JobContext) -> Workload:
    """The workload of one training step."""
    programs = [_RankProgram(ctx, r).build() for r in representative_ranks(ctx)]
    lay = ctx.layout
    return Workload(
        programs=programs,
        world=lay.world,
        metadata={
            "strategy": "collective",
            "tp": lay.tp,
            "pp": lay.pp,
            "dp": lay.dp,
            "ep": lay.ep,
            "cp": lay.cp,
            "microbatches": ctx.microbatches,
            "folded": ctx.fold,
            "schedule": ctx.strategy.pipeline.schedule.value,
            "dp_mode": ctx.strategy.data_parallel.mode.value,
            "compression": ctx.strategy.compression.kind.value,
        },
    )


class _RankProgram:
    def __init__(self, ctx: JobContext, rank: int) -> None:
        t, p, d = ctx.layout.coords(rank)
        self.ctx = ctx
        self.rb = RankBuilder(ctx, Program(rank=rank), t, p, d)
        self.sync = GRAD_SYNC[ctx.strategy.data_parallel.mode](self.rb)
        pp, v = ctx.layout.pp, ctx.strategy.pipeline.virtual_stages
        self.chunks = pp * v
        self.per_chunk = ctx.profile.num_layers // self.chunks
        self.f_done: dict[tuple[int, int], int] = {}
        self._pair_mirrors: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._units: dict[int, GradUnit] = {}  # per layer (frozen: one is shared)

    # -- helpers ----------------------------------------------------------------------------
    def _stage_chunk(self, gc: int) -> tuple[int, int]:
        pp = self.ctx.layout.pp
        return gc % pp, gc // pp

    def _rank_of_chunk(self, gc: int) -> int:
        stage, _ = self._stage_chunk(gc)
        return self.ctx.layout.rank(self.rb.t, stage, self.rb.d)

    def _unit(self, layer: int) -> GradUnit:
        unit = self._units.get(layer)
        if unit is None:
            lc = self.ctx.profile.layers[layer]
            unit = GradUnit(f"layer{layer}", lc.params, lc.expert_params / self.ctx.layout.ep)
            self._units[layer] = unit
        return unit

    def _send_mirrors(self, dst: int) -> list[tuple[int, int]]:
        ctx = self.ctx
        if not ctx.fold:
            return []
        key = (self.rb.prog.rank, dst)
        if key not in self._pair_mirrors:
            lay = ctx.layout
            _, p2, _ = lay.coords(dst)
            cands = [
                (lay.rank(t, self.rb.p, d), lay.rank(t, p2, d))
                for d in range(lay.dp)
                for t in range(lay.tp)
                if (t, d) != (self.rb.t, self.rb.d)
            ]
            self._pair_mirrors[key] = ctx.mirror_pairs(self.rb.prog.rank, dst, cands)
        return self._pair_mirrors[key]

    def _p2p_size(self) -> float:
        return self.ctx.profile.boundary_B / self.ctx.layout.tp

    # -- passes -----------------------------------------------------------------------------
    def _block(
        self,
        part: str,
        duration_s: float,
        deps: tuple[int | None, ...],
        category: str,
        layer: int,
        mb: int,
        post_collectives: int = 1,
    ) -> int:
        """One TP block ``{category}.l{layer}.{part}.mb{mb}`` (attention or MLP)."""
        return tp_block(
            self.rb,
            f"{category}.l{layer}.{part}.mb{mb}",
            duration_s,
            deps=deps,
            category=category,
            layer=layer,
            microbatch=mb,
            post_collectives=post_collectives,
        )

    def _attn(
        self,
        duration_s: float,
        deps: tuple[int | None, ...],
        category: str,
        layer: int,
        mb: int,
        post_collectives: int = 1,
    ) -> int:
        """The attention block, with its context-parallel K/V exchange beside it (the block
        ends when both are done; :mod:`.context_parallel`)."""
        a = self._block("attn", duration_s, deps, category, layer, mb, post_collectives)
        kv = context_parallel.kv_exchange(
            self.rb,
            f"{category}.l{layer}.attn.mb{mb}",
            deps=deps,
            backward=category == "bwd",
            layer=layer,
            microbatch=mb,
        )
        if kv is None:
            return a
        return self.rb.compute(
            f"{category}.l{layer}.attn.mb{mb}.cp_join",
            0.0,
            deps=(a, kv),
            category=category,
            layer=layer,
            microbatch=mb,
        )

    def _a2a(self, name: str, dep: int | None, layer: int, mb: int) -> int | None:
        """The expert all-to-all ``ep.{name}.l{layer}.mb{mb}`` after ``dep`` (``None``: no EP)."""
        if self.ctx.layout.ep <= 1:  # as all_to_all answers, without naming the op
            return None
        return expert.all_to_all(
            self.rb, f"ep.{name}.l{layer}.mb{mb}", deps=(dep,), layer=layer, microbatch=mb
        )

    def _layer_fwd(
        self,
        layer: int,
        mb: int,
        dep: int | None,
        category: str,
        zero_gather: bool,
        extra: int | None = None,
    ) -> int:
        lc = self.ctx.profile.layers[layer]
        pre = None
        if zero_gather:
            pre = self.sync.before_layer(self._unit(layer), mb, False, dep)
        a = self._attn(lc.attn_fwd_s, (dep, pre, extra), category, layer, mb)
        d1 = self._a2a("dispatch", a, layer, mb)
        m = self._block("mlp", lc.mlp_fwd_s, (a, d1), category, layer, mb)
        d2 = self._a2a("combine", m, layer, mb)
        if isinstance(self.sync, Zero3Sync) and zero_gather:
            self.sync.layer_done(m)
        return d2 if d2 is not None else m

    def _forward(self, mb: int, c: int) -> None:
        ctx, rb = self.ctx, self.rb
        prof, lay = ctx.profile, ctx.layout
        gc = c * lay.pp + rb.p
        cur: int | None = None
        if gc > 0:
            src = self._rank_of_chunk(gc - 1)
            _, src_chunk = self._stage_chunk(gc - 1)
            cur = rb.prog.recv(
                f"pp.recv_act.mb{mb}.c{c}",
                peer=src,
                size_B=self._p2p_size(),
                tag=2 * src_chunk,
                stream=f"pp.recv.f{c}",
                category="pp",
                microbatch=mb,
            )
        else:
            g = self.sync.before_layer(GradUnit("embed", prof.embed_params), mb, False, None)
            cur = rb.compute(
                f"fwd.embed.mb{mb}", prof.embed_fwd_s, deps=(g,), category="fwd", microbatch=mb
            )
            e = rb.collective(
                f"fwd.embed.mb{mb}.tp",
                CollectiveOp.ALL_REDUCE,
                self.ctx.tp_group(rb.p, rb.d),
                prof.boundary_B,
                stream="comm.tp",
                deps=(cur,),
                category="tp",
                microbatch=mb,
            )
            cur = e if e is not None else cur
        for layer in range(gc * self.per_chunk, (gc + 1) * self.per_chunk):
            cur = self._layer_fwd(layer, mb, cur, "fwd", True)
        if gc == self.chunks - 1:
            g = None
            if prof.head_params:
                g = self.sync.before_layer(GradUnit("head", prof.head_params), mb, False, cur)
            cur = rb.compute(
                f"fwd.head.mb{mb}", prof.head_fwd_s, deps=(cur, g), category="fwd", microbatch=mb
            )
        else:
            dst = self._rank_of_chunk(gc + 1)
            rb.prog.send(
                f"pp.send_act.mb{mb}.c{c}",
                peer=dst,
                size_B=self._p2p_size(),
                tag=2 * c,
                stream=f"pp.send.f{c}",
                deps=(cur,),
                category="pp",
                microbatch=mb,
                mirrors=self._send_mirrors(dst),
            )
        self.f_done[(mb, c)] = cur

    def _backward(self, mb: int, c: int, final: bool) -> None:
        """Backward of micro-batch ``mb`` through this rank's chunk ``c``: the gradient from
        the next stage (or the head), every layer in reverse, then the embedding (or the send
        to the previous stage)."""
        gc = c * self.ctx.layout.pp + self.rb.p
        cur = self._backward_entry(mb, c, gc, final)
        for layer in reversed(range(gc * self.per_chunk, (gc + 1) * self.per_chunk)):
            cur = self._layer_bwd(layer, mb, cur, final)
        self.last_bwd = self._backward_exit(mb, c, gc, cur, final)

    def _backward_entry(self, mb: int, c: int, gc: int, final: bool) -> int:
        """The op the chunk's backward starts from: the received gradient, or the LM head."""
        rb, prof = self.rb, self.ctx.profile
        cur: int | None = self.f_done[(mb, c)]
        if gc < self.chunks - 1:
            src = self._rank_of_chunk(gc + 1)
            _, src_chunk = self._stage_chunk(gc + 1)
            r = rb.prog.recv(
                f"pp.recv_grad.mb{mb}.c{c}",
                peer=src,
                size_B=self._p2p_size(),
                tag=2 * src_chunk + 1,
                stream=f"pp.recv.b{c}",
                category="pp",
                microbatch=mb,
            )
            return rb.compute(
                f"bwd.join.mb{mb}.c{c}", 0.0, deps=(cur, r), category="bwd", microbatch=mb
            )
        g = None
        if prof.head_params:
            g = self.sync.before_layer(GradUnit("head", prof.head_params), mb, True, cur)
        head = rb.compute(
            f"bwd.head.mb{mb}", prof.head_bwd_s, deps=(cur, g), category="bwd", microbatch=mb
        )
        if prof.head_params:
            self.sync.grad_ready(GradUnit("head", prof.head_params), head, final, mb)
        return head

    def _layer_bwd(self, layer: int, mb: int, cur: int, final: bool) -> int:
        """Recompute (if any), then MLP and attention backward of ``layer``; its last op."""
        rb, lc = self.rb, self.ctx.profile.layers[layer]
        # ZeRO-3/FSDP: parameters must be gathered before recomputation and backward
        pre = self.sync.before_layer(self._unit(layer), mb, True, cur)
        if self.ctx.profile.recompute is Recompute.FULL:
            cur = self._layer_fwd(layer, mb, cur, "recompute", False, extra=pre)
        elif lc.recompute_s > 0:
            cur = rb.compute(
                f"recompute.l{layer}.mb{mb}",
                lc.recompute_s,
                deps=(cur, pre),
                category="recompute",
                layer=layer,
                microbatch=mb,
            )
        d2 = self._a2a("combine_bwd", cur, layer, mb)
        m = self._block("mlp", lc.mlp_bwd_s, (cur, pre, d2), "bwd", layer, mb)
        d1 = self._a2a("dispatch_bwd", m, layer, mb)
        qkv = 3 if self.ctx.strategy.tensor.qkv is QKVLayout.SEPARATE else 1
        a = self._attn(lc.attn_bwd_s, (m, d1), "bwd", layer, mb, post_collectives=qkv)
        if isinstance(self.sync, Zero3Sync):
            self.sync.layer_done(a)
        self.sync.grad_ready(self._unit(layer), a, final, mb)
        return a

    def _backward_exit(self, mb: int, c: int, gc: int, cur: int, final: bool) -> int:
        """The embedding's backward on the first chunk (returned); else send the gradient
        back (``cur`` returned)."""
        rb, prof = self.rb, self.ctx.profile
        if gc == 0:
            g = self.sync.before_layer(GradUnit("embed", prof.embed_params), mb, True, cur)
            emb = rb.compute(
                f"bwd.embed.mb{mb}", prof.embed_bwd_s, deps=(cur, g), category="bwd", microbatch=mb
            )
            self.embed_bwd = emb
            self.sync.grad_ready(GradUnit("embed", prof.embed_params), emb, final, mb)
            return emb
        dst = self._rank_of_chunk(gc - 1)
        rb.prog.send(
            f"pp.send_grad.mb{mb}.c{c}",
            peer=dst,
            size_B=self._p2p_size(),
            tag=2 * c + 1,
            stream=f"pp.send.b{c}",
            deps=(cur,),
            category="pp",
            microbatch=mb,
            mirrors=self._send_mirrors(dst),
        )
        return cur

    # -- whole step -------------------------------------------------------------------------
    def build(self) -> Program:
        ctx, rb = self.ctx, self.rb
        lay, prof = ctx.layout, ctx.profile
        st = ctx.strategy
        slots = schedule(
            st.pipeline.schedule.value, lay.pp, ctx.microbatches, rb.p, st.pipeline.virtual_stages
        )
        last_b = {}
        for i, s in enumerate(slots):
            if s.kind is Pass.B:
                last_b[s.chunk] = i
        for i, s in enumerate(slots):
            if s.kind is Pass.F:
                self._forward(s.microbatch, s.chunk)
            else:
                self._backward(s.microbatch, s.chunk, final=last_b[s.chunk] == i)
        waits = list(self.sync.finish())
        if lay.pp > 1 and prof.tie_embeddings and rb.p in (0, lay.pp - 1):
            pair = (lay.rank(rb.t, 0, rb.d), lay.rank(rb.t, lay.pp - 1, rb.d))
            tie = rb.collective(
                "embed.tie_ar",
                CollectiveOp.ALL_REDUCE,
                pair,
                prof.embed_params * prof.grad_bytes,
                stream="comm.pp.tie",
                deps=deps_of(self.last_bwd),
                category="pp",
                mirrors=self._tie_mirrors(pair),
            )
            if tie is not None:
                waits.append(tie)
        local = self._local_params()
        if self.sync.shard_optimizer:
            local /= lay.dp
        opt = rb.compute(
            "optimizer",
            local * prof.optimizer_s_per_param,
            deps=(self.last_bwd, *waits),
            category="optim",
        )
        self.sync.after_optimizer(opt)
        return rb.prog

    def _tie_mirrors(self, pair: tuple[int, int]) -> list[tuple[int, ...]]:
        ctx = self.ctx
        if not ctx.fold:
            return []
        lay = ctx.layout
        cands = [
            (lay.rank(t, 0, d), lay.rank(t, lay.pp - 1, d))
            for d in range(lay.dp)
            for t in range(lay.tp)
            if (t, d) != (self.rb.t, self.rb.d)
        ]
        return ctx.mirror_groups(pair, cands)

    def _local_params(self) -> float:
        ctx, rb = self.ctx, self.rb
        prof, lay = ctx.profile, ctx.layout
        n = 0.0
        for gc in range(rb.p, self.chunks, lay.pp):
            for layer in range(gc * self.per_chunk, (gc + 1) * self.per_chunk):
                lc = prof.layers[layer]
                n += lc.params + lc.expert_params / lay.ep
        if rb.p == 0:
            n += prof.embed_params
        if rb.p == lay.pp - 1:
            n += prof.head_params
        return n
