"""Local SGD / periodic parameter averaging (Stich 2019; Lin et al. 2020 "Don't Use Large
Mini-Batches, Use Local SGD"), with WAN-aware grouping (DiLoCo, Douillard et al. 2023).

Every rank runs ``period`` (H) optimizer steps on its own data; then parameters are averaged
with one all-reduce. With ``inner: datacenter`` ranks additionally all-reduce gradients every
step *inside* their datacenter (datacenters: the topology's components once WAN links are
removed), and only the every-H-steps averaging crosses the WAN -- hierarchically (reduce-scatter
in the DC, all-reduce of ``1/k`` across DCs, all-gather in the DC) so each WAN link carries
``1/k`` of the parameters. ``Workload.steps_per_program = H``; results are per step.
"""

from __future__ import annotations

from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.topology.partitions import split
from simulator.workload.strategies import hierarchical
from simulator.workload.strategies.context import JobContext, RankBuilder
from simulator.workload.strategies.options import Hierarchy, InnerSync, LocalSGDConfig

#: Backward is cut into at most this many slices per step, each followed by its bucket's
#: in-datacenter all-reduce (fewer, larger buckets than DDP's 25 MiB keep the program small).
MAX_SLICES = 16


def build(ctx: JobContext, cfg: LocalSGDConfig) -> Workload:
    """Workload of ``cfg.period`` local steps plus one averaging round, data parallel only."""
    prof = ctx.profile
    world = ctx.world
    m = ctx.microbatches
    fwd_s, bwd_s = _step_compute_s(ctx)
    params = prof.total_params()
    cap = float(ctx.strategy.data_parallel.bucket_size)
    grad_B = params * prof.grad_bytes
    n_buckets = min(MAX_SLICES, max(1, int(-(-grad_B // cap))))
    dcs = split(range(world), [ctx.datacenter(r) for r in range(world)])
    programs = []
    # folded: rank 0 alone; the other datacenters' inner all-reduces use disjoint links and
    # the cross-datacenter phases of the averaging are mirrored by hierarchical.all_reduce
    for r in [0] if ctx.fold else range(world):
        rb = RankBuilder(ctx, Program(rank=r), 0, 0, r)
        dc_group = next(g for g in dcs if r in g)
        dc_mirrors = (
            ctx.mirror_groups(dc_group, [g for g in dcs if g != dc_group]) if ctx.fold else []
        )
        last: int | None = None
        for k in range(cfg.period):
            f = rb.compute(f"fwd.s{k}", fwd_s, deps=(last,), category="fwd")
            # backward in as many slices as buckets; each bucket is all-reduced inside the
            # datacenter as soon as its slice is done (DDP-style overlap)
            b: int = f
            waits: list[int | None] = []
            for i in range(n_buckets):
                b = rb.compute(f"bwd.s{k}.part{i}", bwd_s / n_buckets, deps=(b,), category="bwd")
                if cfg.inner is InnerSync.DATACENTER:
                    waits.append(
                        rb.collective(
                            f"dc_ar.s{k}.b{i}",
                            CollectiveOp.ALL_REDUCE,
                            dc_group,
                            grad_B / n_buckets,
                            stream="comm.dp",
                            deps=(b,),
                            category="dp",
                            mirrors=dc_mirrors,
                        )
                    )
            waits.append(b)
            last = rb.compute(
                f"optimizer.s{k}", params * prof.optimizer_s_per_param, deps=waits, category="optim"
            )
        avg = hierarchical.all_reduce(
            rb,
            "average",
            list(range(world)),
            params * prof.param_bytes,
            level=Hierarchy.DATACENTER,
            stream="comm.avg",
            deps=(last,),
            category="dp",
        )
        rb.compute(
            "apply_average",
            params * prof.param_bytes * 2 / prof.memory_Bps,
            deps=(avg,),
            category="optim",
        )
        programs.append(rb.prog)
    return Workload(
        programs=programs,
        world=world,
        steps_per_program=cfg.period,
        metadata={
            "strategy": "local_sgd",
            "period": cfg.period,
            "inner": cfg.inner.value,
            "datacenters": len(dcs),
            "microbatches": m,
        },
    )


def _step_compute_s(ctx: JobContext) -> tuple[float, float]:
    """Forward and backward compute of one local step (all micro-batches), in seconds."""
    prof = ctx.profile
    m = ctx.microbatches
    fwd_s = m * (prof.embed_fwd_s + prof.head_fwd_s + sum(lc.fwd_s for lc in prof.layers))
    bwd_s = m * (
        prof.embed_bwd_s + prof.head_bwd_s + sum(lc.bwd_s + lc.recompute_s for lc in prof.layers)
    )
    return fwd_s, bwd_s
