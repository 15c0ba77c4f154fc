"""Context parallelism (Megatron-Core ``--context-parallel-size``; ring attention, Liu et al.
2023, "Ring Attention with Blockwise Transformers for Near-Infinite Context").

Each sample's sequence is split over the ``cp`` ranks of a CP group: every linear layer, norm
and the loss see only the rank's ``s / cp`` tokens (the profile is built at that length, see
:meth:`simulator.workload.modelspec.ModelSpec.of`), and the attention core of each rank's
queries runs against the keys and values of the whole sample. Megatron-Core (Transformer
Engine's ``AttnFuncWithCPAndKVP2P``, ``cp_comm_type: p2p``) passes the K and V shards around the
ring in ``cp - 1`` steps, each step's transfer running while the attention of the shard already
received is computed; the backward pass sends K and V around again together with the partial
K/V gradients, which end on the rank that owns them.

Per layer and micro-batch each rank therefore receives the other ``cp - 1`` K/V shards once in
forward (the bytes of an all-gather of K and V over the CP group) and twice in backward (K/V,
and the K/V gradients: the bytes of an all-gather and a reduce-scatter). We emit exactly those
collectives on their own stream, beside the attention block's compute; the block ends when both
its compute and its exchange are done, so the exchange costs only what it cannot hide. Causal
load balancing (each rank holds two of ``2 cp`` sequence chunks, Megatron-Core's
``get_batch_on_this_cp_rank``) makes every rank's attention work equal, which the profile's
``seq_len * kv_len`` core FLOPs express.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.core.vocab import CollectiveOp
from simulator.workload.strategies.context import RankBuilder, deps_of

STREAM = "comm.cp"


def kv_shard_B(rb: RankBuilder) -> float:
    """Bytes of one rank's K and V shard per micro-batch: ``2 b (s/cp) g d / tp`` activations
    (``g d`` the K/V width; TP splits the K/V heads)."""
    prof = rb.ctx.profile
    width = prof.kv_hidden or prof.hidden
    return 2.0 * prof.micro_batch * prof.seq_len * width * prof.act_bytes / rb.ctx.layout.tp


def kv_exchange(
    rb: RankBuilder,
    name: str,
    *,
    deps: Sequence[int | None],
    backward: bool,
    layer: int,
    microbatch: int,
) -> int | None:
    """Emit the K/V exchange of one attention block's forward (``backward`` False) or
    backward; its last op, ``None`` without context parallelism."""
    lay = rb.ctx.layout
    if lay.cp <= 1:
        return None
    group = lay.cp_group(rb.t, rb.p, rb.d)
    size = kv_shard_B(rb) * lay.cp  # the gathered K/V of the whole sample
    mirrors: list[tuple[int, ...]] = []
    if rb.ctx.fold:
        cands = [
            lay.cp_group(t, rb.p, d)
            for d in range(0, lay.dp, lay.cp)
            for t in range(lay.tp)
            if (t, d) != (rb.t, rb.d - rb.d % lay.cp)
        ]
        mirrors = rb.ctx.mirror_groups(group, cands)
    ops = [(CollectiveOp.ALL_GATHER, "kv_ag")]
    if backward:
        ops.append((CollectiveOp.REDUCE_SCATTER, "dkv_rs"))
    last = deps_of(*deps)
    for op, suffix in ops:
        c = rb.collective(
            f"{name}.cp_{suffix}",
            op,
            group,
            size,
            stream=STREAM,
            deps=last,
            category="cp",
            mirrors=mirrors,
            layer=layer,
            microbatch=microbatch,
        )
        last = deps_of(c)
    return last[0] if last else None
