"""ZeRO-3 and FSDP: parameters sharded over data-parallel ranks, gathered per layer.

Rajbhandari et al. 2020 (ZeRO, Sec. 5.3) and Zhao et al. 2023 (PyTorch FSDP, Sec. 3): before a
layer's forward and again before its backward its parameters are all-gathered from the ``dp``
shards (``prefetch`` layers ahead, overlapping the compute of the layers in between), and after
its backward its gradients are reduce-scattered back to their owners -- every micro-batch,
since the unsharded gradient is not kept (FSDP outside ``no_sync``). Per step and micro-batch
that is ``3 x params`` bytes on the wire against DDP's ``2 x`` (all-reduce = reduce-scatter +
all-gather): ZeRO-3 moves 1.5x the bytes of plain data parallelism (ZeRO paper Sec. 7.2.2).
FSDP is modelled the same way with one FSDP unit per transformer layer (its usual wrapping).

With a blocking host (``JobContext.blocking_host``: the rig recorder, whose host waits for
every device item) nothing is issued ahead: a layer's all-gather starts once the layer before
it has run (no prefetch) and all-gathers and reduce-scatters run one at a time in program
order on one stream. Measured: FSDP2 over gloo on the rig waits for each of its 14 collectives
per step before it issues the next, in CPU and accelerator mode (docs/decisions.md,
2026-12-05 "Tier 3 as the recorder runs it").
"""

from __future__ import annotations

from simulator.core.vocab import CollectiveOp
from simulator.workload.strategies.context import RankBuilder, deps_of
from simulator.workload.strategies.data import DDPSync, GradUnit

AG_STREAM = "comm.dp.ag"
RS_STREAM = "comm.dp.rs"


class Zero3Sync(DDPSync):
    """Per-layer parameter all-gather (with prefetch) and gradient reduce-scatter."""

    shard_optimizer = True

    def __init__(self, rb: RankBuilder) -> None:
        super().__init__(rb)
        blocking = rb.ctx.blocking_host
        self.prefetch = 0 if blocking else rb.ctx.strategy.data_parallel.prefetch
        self.ag_stream = RS_STREAM if blocking else AG_STREAM
        self.anchors: list[int] = []  # compute ids of the current pass, in order
        self.pass_key: tuple[int, bool] | None = None

    def before_layer(
        self, unit: GradUnit, microbatch: int, backward: bool, anchor: int | None
    ) -> int | None:
        key = (microbatch, backward)
        if key != self.pass_key:
            self.pass_key = key
            self.anchors = []
        j = len(self.anchors)
        dep = self.anchors[j - self.prefetch - 1] if j - self.prefetch - 1 >= 0 else anchor
        pb = self.rb.ctx.profile.param_bytes
        size = (unit.dense + unit.expert) * pb
        return self.rb.collective(
            f"zero3.ag.{unit.name}.{'b' if backward else 'f'}{microbatch}",
            CollectiveOp.ALL_GATHER,
            self.group,
            size,
            stream=self.ag_stream,
            deps=deps_of(dep),
            category="dp",
            mirrors=self.mirrors,
            microbatch=microbatch,
        )

    def layer_done(self, compute_id: int) -> None:
        """Record the compute op of the layer just emitted (prefetch anchor)."""
        self.anchors.append(compute_id)

    def grad_ready(self, unit: GradUnit, op_id: int, final: bool, microbatch: int) -> None:
        size = (unit.dense + unit.expert) * self.g
        i = self.rb.collective(
            f"zero3.rs.{unit.name}.{microbatch}",
            CollectiveOp.REDUCE_SCATTER,
            self.group,
            size,
            stream=RS_STREAM,
            deps=(op_id,),
            category="dp",
            mirrors=self.mirrors,
            microbatch=microbatch,
        )
        if i is not None:
            self.done.append(i)

    def finish(self) -> list[int]:
        return self.done
