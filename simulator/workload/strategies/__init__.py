"""Parallelisation strategies: each turns a :class:`~simulator.workload.profile.LayerProfile`
into per-rank Programs.

Registry keyed by :class:`~simulator.config.StrategyKind`:

* ``collective`` -- :mod:`.hybrid_parallel`: DP (DDP buckets, :mod:`.data`), ZeRO-1/2/3 and FSDP
  (:mod:`.data`, :mod:`.zero`), tensor and sequence parallelism (:mod:`.tensor`), pipeline
  schedules (:mod:`.pipeline`), expert parallelism (:mod:`.expert`), gradient compression
  (:mod:`.compression`) and hierarchical / WAN-aware all-reduce (:mod:`.hierarchical`),
  composed as Megatron-LM and DeepSpeed compose them.
* ``parameter_server`` -- :mod:`.ps`: synchronous or bounded-staleness asynchronous.
* ``local_sgd`` -- :mod:`.local_sgd`: periodic averaging every H steps.

Rank layout: TP fastest (inside a node), then PP, then DP (:mod:`.layout`).
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.core.ir import Workload
from simulator.topology import Topology
from simulator.workload.profile import LayerProfile
from simulator.workload.strategies import hybrid_parallel, local_sgd, ps
from simulator.workload.strategies.context import JobContext
from simulator.workload.strategies.layout import Layout
from simulator.workload.strategies.options import StrategyConfig, StrategyKind

#: Folding (representative ranks + mirrors) is switched on automatically above this world size.
AUTO_FOLD_WORLD = 16


def _collective(ctx: JobContext) -> Workload:
    return hybrid_parallel.build(ctx)


def _ps(ctx: JobContext) -> Workload:
    return ps.build(
        ctx.profile,
        ctx.world,
        ctx.microbatches,
        ctx.strategy.parameter_server,
        blocking_host=ctx.blocking_host,
    )


def _local_sgd(ctx: JobContext) -> Workload:
    return local_sgd.build(ctx, ctx.strategy.local_sgd)


#: Strategy registry: kind -> builder of a Workload from a JobContext.
REGISTRY: dict[StrategyKind, Callable[[JobContext], Workload]] = {
    StrategyKind.COLLECTIVE: _collective,
    StrategyKind.PARAMETER_SERVER: _ps,
    StrategyKind.LOCAL_SGD: _local_sgd,
}


def build_from_profile(
    profile: LayerProfile,
    strategy: StrategyConfig,
    world: int,
    topology: Topology | None = None,
    *,
    global_batch: int,
    micro_batch: int | None = None,
) -> Workload:
    """Shard and schedule ``profile`` with ``strategy`` on ``world`` ranks
    (:func:`job_context`, then :func:`build_job`).

    ``profile`` may come from the analytical model or from a measured trace, at any TP degree
    and micro-batch size: it is re-sharded to ``strategy.tp`` and ``micro_batch`` first.
    ``strategy.dp`` defaults to ``world // (tp * pp)``. Ranks beyond ``tp*pp*dp`` stay idle.

    Raises:
        ValueError: degrees that do not fit ``world`` or the batch.
    """
    ctx = job_context(
        profile, strategy, world, topology, global_batch=global_batch, micro_batch=micro_batch
    )
    return build_job(ctx)


def build_job(ctx: JobContext) -> Workload:
    """The validated Workload of a job (the registered builder of its strategy kind)."""
    wl = REGISTRY[ctx.strategy.kind](ctx)
    wl.validate()
    return wl


def job_context(
    profile: LayerProfile,
    strategy: StrategyConfig,
    world: int,
    topology: Topology | None = None,
    *,
    global_batch: int,
    micro_batch: int | None = None,
) -> JobContext:
    """The job a strategy builder schedules: the re-sharded profile, the rank layout (its
    ``dp`` resolved), micro-batches per replica and step, and whether ranks are folded.

    Raises:
        ValueError: degrees that do not fit ``world`` or the batch.
    """
    mb = micro_batch or profile.micro_batch
    prof = profile.rescaled(tp=strategy.tp, micro_batch=mb)
    cp = strategy.cp
    if strategy.kind is StrategyKind.COLLECTIVE:
        dp = strategy.dp or world // (strategy.tp * strategy.pp * cp)
    else:
        if strategy.tp != 1 or strategy.pp != 1 or cp != 1:
            raise ValueError(f"{strategy.kind.value} supports data parallelism only (tp=pp=cp=1)")
        dp = strategy.dp or world
    if dp < 1 or strategy.tp * strategy.pp * cp * dp > world:
        # a fixed dp does not follow a changed tp or pp (the scenario's own dp: 16 under pp=16)
        hint = "; set strategy.dp=null to derive dp from the world size" if strategy.dp else ""
        raise ValueError(
            f"tp x pp x cp x dp = {strategy.tp} x {strategy.pp} x {cp} x {dp} "
            f"does not fit {world} ranks{hint}"
        )
    workers = dp
    if (
        strategy.kind is StrategyKind.PARAMETER_SERVER
        and strategy.parameter_server.placement.value == "dedicated"
    ):
        workers = dp - strategy.parameter_server.servers
    if workers < 1 or global_batch % (workers * mb):
        raise ValueError(
            f"global batch {global_batch} is not a multiple of "
            f"{workers} data-parallel workers x micro-batch {mb}"
        )
    # the cp ranks of a sample hold the same parameters: replicas for the gradient reduction
    layout = Layout(tp=strategy.tp, pp=strategy.pp, dp=dp * cp, ep=strategy.ep, cp=cp)
    fold = strategy.fold if strategy.fold is not None else layout.world > AUTO_FOLD_WORLD
    if strategy.kind is StrategyKind.PARAMETER_SERVER:
        fold = False  # asymmetric (servers), always built rank by rank
    return JobContext(
        profile=prof,
        layout=layout,
        strategy=strategy,
        microbatches=global_batch // (workers * mb),
        topology=topology,
        fold=fold,
    )


__all__ = [
    "AUTO_FOLD_WORLD",
    "REGISTRY",
    "JobContext",
    "Layout",
    "build_from_profile",
    "build_job",
    "job_context",
]
