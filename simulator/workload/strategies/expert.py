"""Expert parallelism (GShard, Lepikhin et al. 2021; Switch, Fedus et al. 2022).

A mixture-of-experts MLP sends each token to its top-k experts and back: an all-to-all
*dispatch* before the expert computation and an all-to-all *combine* after it, in the forward
pass and again (gradients) in the backward pass. The send buffer per GPU is
``b * s * h * top_k`` activation bytes (``/ tp`` with sequence parallelism, where each TP rank
holds ``s / tp`` tokens). Tokens are assumed balanced across experts.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.core.vocab import CollectiveOp
from simulator.workload.strategies.context import RankBuilder, deps_of

STREAM = "comm.ep"


def all_to_all(
    rb: RankBuilder, name: str, *, deps: Sequence[int | None], layer: int, microbatch: int
) -> int | None:
    """Emit one dispatch or combine all-to-all; ``None`` when ``ep == 1``."""
    ctx = rb.ctx
    lay = ctx.layout
    if lay.ep <= 1:
        return None
    size = ctx.profile.moe_dispatch_B
    if ctx.strategy.sequence_parallel:
        size /= lay.tp
    group = lay.ep_group(rb.t, rb.p, rb.d)
    mirrors: list[tuple[int, ...]] = []
    if ctx.fold:
        cands = [
            lay.ep_group(t, rb.p, d)
            for d in range(0, lay.dp, lay.ep)
            for t in range(lay.tp)
            if (t, d) != (rb.t, rb.d)
        ]
        mirrors = ctx.mirror_groups(group, cands)
    return rb.collective(
        name,
        CollectiveOp.ALL_TO_ALL,
        group,
        size,
        stream=STREAM,
        deps=deps_of(*deps),
        category="ep",
        mirrors=mirrors,
        layer=layer,
        microbatch=microbatch,
    )
