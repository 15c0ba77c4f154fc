"""NVLSTree all-reduce: NVLS inside each node, a double binary tree between nodes (NCCL's
``NVLS_TREE``).

On several nodes whose GPUs each sit on an NVLink SHARP switch (HGX/DGX H100 and later),
NCCL's all-reduce can reduce inside every node through the switch (as one-node NVLS does,
:mod:`simulator.collectives.nvls`), run a double binary tree between the nodes on each GPU's
reduced shard, and multicast the result back through the switch. Here, on ``h`` hosts of
``m`` GPUs each:

* the NVLS part is the one-node schedule on every host: each ordered pair of a host's GPUs
  carries ``size (m + 1) / (m (m - 1))`` bytes, half as the first step (the reducing load),
  half as the last (the multicast store);
* GPU ``i`` of every host owns the shard ``size / m``; the GPUs of local index ``i`` run
  NCCL's double binary tree over the hosts (:func:`dtree_parents`), each tree carrying half
  the shard up and back down, so on two hosts every NIC carries ``size / m`` per direction,
  on more a host interior in one tree (a parent and two children) twice that (as NCCL's tuner
  has it: NVLSTree's inter-node bandwidth halved beyond two nodes, src/graph/tuning.cc at
  v2.20.5-1 line 177);
* everything is one phase: NCCL pipelines the NVLS and tree stages over its chunks.

``intra_scale`` multiplies the NVLink (NVLS) bytes: the resolver passes ``1 / nvlsEfficiency``
so that NVLS's efficiency slows the NVLink part only, not the NICs (the NVLS transfers carry
wire-equivalent bytes, as a protocol's bandwidth factor does for whole collectives).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.collectives.ring import host_blocks
from simulator.collectives.schedule import Schedule, Step, Transfer, phase_from_steps
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset({CollectiveOp.ALL_REDUCE})


def nvls_tree(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 2,
    root: int = 0,
    intra_scale: float = 1.0,
) -> Schedule:
    """The NVLSTree schedule of an all_reduce of ``size_B`` bytes on ``group``.

    Raises :class:`InputError` unless the group spans at least two hosts with the same number
    (at least two) of its ranks on each.
    """
    if op is not CollectiveOp.ALL_REDUCE:
        raise ValueError(f"nvls_tree does not implement {op.value}")
    blocks = host_blocks(group, hosts)
    sizes = {len(b) for b in blocks}
    if len(blocks) < 2 or len(sizes) != 1 or min(sizes) < 2:
        raise InputError(
            "nvls_tree needs at least two hosts with the same number (>= 2) of the group's "
            f"ranks on each, got {sorted(len(b) for b in blocks)}",
            field="algo",
        )
    m = len(blocks[0])
    pair_B = size_B * (m + 1) / (m * (m - 1)) / 2 * intra_scale
    nvls_step: Step = tuple(Transfer(s, d, pair_B) for b in blocks for s in b for d in b if s != d)
    shard_B = size_B / m
    h = len(blocks)
    parents = dtree_parents(h)
    depths = [_depths(p) for p in parents]
    levels = max(max(d) for d in depths)
    up: list[Step] = [
        tuple(
            Transfer(blocks[y][i], blocks[parents[t][y]][i], shard_B / 2, t)
            for i in range(m)
            for t in (0, 1)
            for y in range(h)
            if depths[t][y] == level
        )
        for level in range(levels, 0, -1)
    ]
    down = [tuple(Transfer(t.dst, t.src, t.size_B, t.channel) for t in s) for s in reversed(up)]
    phase = phase_from_steps(
        "nvls_tree.all_reduce", [nvls_step, *up, *down, nvls_step], reduce_B=size_B
    )
    return Schedule(Algorithm.NVLS_TREE, op, tuple(group), size_B, (phase,), 2)


def btree_parent(n: int, rank: int) -> int:
    """The parent of ``rank`` in NCCL's binary tree over ``n`` ranks (``-1`` for the root).

    Coded from the rule of ``ncclGetBtree`` (NVIDIA/nccl src/graph/trees.cc at v2.20.5-1):
    with ``bit`` the lowest set bit of ``rank``, the parent is ``rank ^ bit | bit << 1``, or
    ``rank ^ bit`` where that is out of range; rank 0 is the root.
    """
    if rank == 0:
        return -1
    bit = rank & -rank
    up = (rank ^ bit) | (bit << 1)
    return up if up < n else rank ^ bit


def dtree_parents(n: int) -> tuple[list[int], list[int]]:
    """Parents of every rank in NCCL's two trees over ``n`` ranks (``ncclGetDtree``): the
    binary tree, and for the second its mirror (``n`` even) or its shift by one (``n`` odd)."""
    first = [btree_parent(n, r) for r in range(n)]
    second = [-1] * n
    for r in range(n):
        if n % 2:
            u = btree_parent(n, (r - 1) % n)
            second[r] = -1 if u == -1 else (u + 1) % n
        else:
            u = btree_parent(n, n - 1 - r)
            second[r] = -1 if u == -1 else n - 1 - u
    return first, second


def _depths(parent: list[int]) -> list[int]:
    """Each rank's distance from the root of the tree given by ``parent``."""
    out = []
    for r in range(len(parent)):
        d, x = 0, r
        while parent[x] != -1:
            x, d = parent[x], d + 1
        out.append(d)
    return out
