"""Tensor parallelism (Megatron-LM, Shoeybi et al. 2019) and sequence parallelism.

Each transformer layer has two TP blocks (attention, MLP). Without sequence parallelism each
block ends with an all-reduce of the ``b x s x h`` activation in the forward pass and one of its
gradient in the backward pass: 4 all-reduces of ``b s h`` per layer per micro-batch (Shoeybi et
al. 2019 Fig. 4; Korthikanti et al. 2022 Sec. 4.2.2). With sequence parallelism (Korthikanti et
al. 2022 Sec. 4.2.2) each all-reduce becomes an all-gather before the block and a
reduce-scatter after it (the same bytes on the wire). TP ops are on the critical path: the next
compute waits for them, with one exception: Megatron-LM 2022 (``tp_backward_overlap``) issues the
backward all-reduce of a block's input gradient asynchronously and computes the weight gradient
of the block's column-parallel linear meanwhile (Korthikanti et al. 2022 Sec. 6.2). That weight
gradient is at least :data:`WGRAD_TAIL` of the block's backward (GPT MLP: fc1's is 1/4 of it;
attention: QKV's is 6/(16 + 8 s/h), 0.26-0.35 for h = 2304-25600), so the all-reduce runs
under the last ``WGRAD_TAIL`` of the block's compute. With sequence parallelism Megatron
overlaps the reduce-scatter the same way but re-gathers the block's input for that weight
gradient (Korthikanti et al. 2022 Sec. 4.2.2), and their Table 4 measures no backward gain
(11.9 ms -> 11.8 ms per 22B layer), so there the collectives stay as counted here.
Megatron-Core with Transformer Engine's userbuffers (``megatron-core-2024``,
:func:`simulator.workload.software.overlaps_tp_comm`) pipelines a sequence-parallel block's
all-gather and reduce-scatter with its GEMMs in chunks: there the two collectives run beside
the block's compute (on the TP stream, one after the other) and the block ends when both its
compute and its collectives are done.

``strategy.tensor.qkv: separate`` models torch's DTensor plan with q, k and v as three
``ColwiseParallel`` linears (the PyTorch tensor-parallel tutorial's plan, and the recorder's):
each linear turns its replicated input into a DTensor on its own, so the backward pass
all-reduces three ``b x s x h`` input gradients at the start of the attention block instead of
one (6 all-reduces per layer per micro-batch instead of 4). With sequence parallelism the
block's single all-gather / reduce-scatter pair is kept.

Under Transformer Engine's FP8 recipe with userbuffers the all-gathers carry FP8 (1 byte per
element, :attr:`~simulator.workload.profile.LayerProfile.tp_gather_B`), the reduce-scatters BF16.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.core.vocab import CollectiveOp
from simulator.workload.strategies.context import RankBuilder, deps_of

STREAM = "comm.tp"

#: Share of a TP block's backward that is the weight gradient of its column-parallel linear, a
#: lower bound over GPT layouts (see the module docstring).
WGRAD_TAIL = 0.25


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
    A backward block (``category == "bwd"``) of a profile with ``tp_backward_overlap`` and no
    sequence parallelism starts its all-reduce(s) before the last :data:`WGRAD_TAIL` of the
    compute (the weight gradient), which runs beside them.
    """
    ctx = rb.ctx
    group = ctx.tp_group(rb.p, rb.d)
    size = ctx.profile.boundary_B
    sp = ctx.strategy.sequence_parallel
    pre = None
    if sp:
        pre = rb.collective(
            f"{name}.tp_ag",
            CollectiveOp.ALL_GATHER,
            group,
            ctx.profile.tp_gather_B,  # FP8 under the FP8 recipe's userbuffers
            stream=STREAM,
            deps=deps_of(*deps),
            category="tp",
            layer=layer,
            microbatch=microbatch,
        )
    # a TP group of one rank has no all-reduce to hide: keep its compute one op
    overlap = category == "bwd" and ctx.profile.tp_backward_overlap and not sp
    tail = WGRAD_TAIL * duration_s if overlap and len(group) > 1 else 0.0
    # userbuffers: the all-gather and reduce-scatter run beside the compute (module docstring)
    beside = pre is not None and ctx.profile.tp_comm_overlap
    c, wgrad = _compute_with_tail(
        rb,
        name,
        duration_s,
        tail,
        deps=deps if beside else (*deps, pre),
        category=category,
        layer=layer,
        microbatch=microbatch,
    )
    last = pre if beside and pre is not None else c
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
    if beside:
        wgrad = c  # the block ends when its compute and its collectives are both done
    if wgrad is not None:
        last = rb.compute(
            f"{name}.join",
            0.0,
            deps=(last, wgrad),
            category=category,
            layer=layer,
            microbatch=microbatch,
        )
    return last


def _compute_with_tail(
    rb: RankBuilder,
    name: str,
    duration_s: float,
    tail_s: float,
    *,
    deps: Sequence[int | None],
    category: str,
    layer: int,
    microbatch: int,
) -> tuple[int, int | None]:
    """The block's compute as one op, or (``tail_s > 0``) as the op the post collectives wait
    for and a ``.wgrad`` op of ``tail_s`` after it; returns both ids (``None`` for no tail)."""
    c = rb.compute(
        name,
        duration_s - tail_s,
        deps=deps,
        category=category,
        layer=layer,
        microbatch=microbatch,
    )
    if tail_s <= 0.0:
        return c, None
    w = rb.compute(
        f"{name}.wgrad", tail_s, deps=(c,), category=category, layer=layer, microbatch=microbatch
    )
    return c, w
