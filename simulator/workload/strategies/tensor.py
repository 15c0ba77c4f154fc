"""Tensor parallelism (Megatron-LM, Shoeybi et al. 2019) and sequence parallelism.

Each transformer layer has two TP blocks (attention, MLP). Without sequence parallelism each
block ends with an all-reduce of the ``b x s x h`` activation in the forward pass and one of its
gradient in the backward pass: 4 all-reduces of ``b s h`` per layer per micro-batch (Shoeybi et
al. 2019 Fig. 4; Korthikanti et al. 2022 Sec. 4.2.2). With sequence parallelism (Korthikanti et
al. 2022 Sec. 4.2.2) each all-reduce becomes an all-gather before the block and a
reduce-scatter after it (the same bytes on the wire). TP ops are on the critical path: the next
compute waits for them. Not modelled: Megatron's overlap of the backward all-gather with the
weight-gradient GEMM, and the extra all-gather sequence parallelism repeats in the backward pass
to rebuild a block's input for the weight gradient (Korthikanti et al. 2022 Sec. 4.2.2); both
are small next to the four collectives counted here.

``strategy.tensor.qkv: separate`` models torch's DTensor plan with q, k and v as three
``ColwiseParallel`` linears (the PyTorch tensor-parallel tutorial's plan, and the recorder's):
each linear turns its replicated input into a DTensor on its own, so the backward pass
all-reduces three ``b x s x h`` input gradients at the start of the attention block instead of
one (6 all-reduces per layer per micro-batch instead of 4). With sequence parallelism the
block's single all-gather / reduce-scatter pair is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.core.vocab import CollectiveOp
from simulator.workload.strategies.context import RankBuilder, deps_of

STREAM = "comm.tp"


def tp_block(
    rb: RankBuilder,
    name: str,
    duration_s: float,
    *,
    deps: Sequence[int | None],
    category: str,
    layer: int,
    microbatch: int,
    post_collectives: int = 1,
) -> int:
    """Emit one TP block (collective before/after its compute); return the last op id.

    ``post_collectives``: all-reduces after the compute without sequence parallelism (3 for the
    backward of an attention block whose q, k, v are separate column-parallel linears).
    """
    ctx = rb.ctx
    group = ctx.layout.tp_group(rb.p, rb.d)
    size = ctx.profile.boundary_B
    sp = ctx.strategy.sequence_parallel
    pre = None
    if sp:
        pre = rb.collective(
            f"{name}.tp_ag",
            CollectiveOp.ALL_GATHER,
            group,
            size,
            stream=STREAM,
            deps=deps_of(*deps),
            category="tp",
            layer=layer,
            microbatch=microbatch,
        )
    c = rb.compute(
        name,
        duration_s,
        deps=(*deps, pre),
        category=category,
        layer=layer,
        microbatch=microbatch,
    )
    last = c
    for i in range(1 if sp else post_collectives):
        suffix = "tp_rs" if sp else f"tp_ar{i or ''}"
        post = rb.collective(
            f"{name}.{suffix}",
            CollectiveOp.REDUCE_SCATTER if sp else CollectiveOp.ALL_REDUCE,
            group,
            size,
            stream=STREAM,
            deps=(last,),
            category="tp",
            layer=layer,
            microbatch=microbatch,
        )
        if post is not None:
            last = post
    return last
