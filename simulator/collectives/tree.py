"""Double binary tree all-reduce (NCCL-style).

NCCL's tree is a chain inside each host and a binary tree across hosts; two trees each carry
half of the buffer, arranged so that a host that is interior in one tree is (mostly) a leaf in
the other, which balances the up- and down-link load (Sanders, Speck & Träff 2009, as adopted
by NCCL 2.4). Here:

* tree ``t`` (``t`` in 0, 1) runs on channel ``t`` with ``size / 2`` bytes; with
  ``channels >= 4`` there are ``channels // 2`` such pairs, each with its share of the bytes
  and its own chain heads (so trees, like NCCL's, use every NIC);
* host order: tree 0 lays the hosts out as a binary heap in group order, tree 1 in reverse
  order (the leaves of one are the interior nodes of the other);
* inside a host, tree ``t`` chains the host's ranks starting at local index ``t * m // 2``
  (``m`` ranks per host), so the two trees leave the host through different GPUs/NICs;
* all-reduce = reduce up every chain and the tree, then broadcast back down. Steps:
  ``m - 1`` chain steps, ``D`` tree levels up, ``D`` down, ``m - 1`` chain steps down.

Broadcast uses gloo's binomial tree rooted at ``root`` (``gloo/broadcast.cc``): virtual rank
``v`` (counted from the root) receives from ``v`` with its highest bit cleared and sends the
whole buffer to ``v + 2**i`` for every ``2**i > v``. gloo posts a rank's sends without waiting
for one another (only receives block), so the root sends to ``1, 2, 4, ...`` at once and every
rank forwards as soon as it has the data: step ``k`` holds the transfers *to* the ranks whose
virtual rank has ``k`` bits set (``n = 4``: the root to 1 and 2 together, then 1 to 3). On the
4-host rig this is what gloo measures: 64 MiB from one of four hosts on one 400 Mbit/s switch
takes 3 link-times, not the 2 of a step-by-step binomial tree (docs/rig.md). Reduce is the
step-by-step binomial tree in reverse (``ceil(log2 n)`` steps). Neither pipelines: a rank
forwards only once it holds the whole buffer, so each step is a phase of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.collectives.ring import host_blocks
from simulator.collectives.schedule import Schedule, Step, Transfer, phase_from_steps
from simulator.core.vocab import Algorithm, CollectiveOp

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset({CollectiveOp.ALL_REDUCE, CollectiveOp.BROADCAST, CollectiveOp.REDUCE})


def heap_parents(h: int, *, mirror: bool) -> list[int]:
    """Parent host index of every host index in a binary heap (``-1`` for the root)."""
    order = list(range(h))[::-1] if mirror else list(range(h))
    parent = [-1] * h
    for p in range(1, h):
        parent[order[p]] = order[(p - 1) // 2]
    return parent


def _heap_depth(h: int, *, mirror: bool) -> list[int]:
    order = list(range(h))[::-1] if mirror else list(range(h))
    depth = [0] * h
    for p in range(h):
        depth[order[p]] = (p + 1).bit_length() - 1
    return depth


def tree_up_steps(
    group: Sequence[int], hosts: Sequence[str], bytes_per_tree_B: float, pairs: int = 1
) -> list[Step]:
    """The reduce (upward) steps of ``pairs`` tree pairs, chains first, deepest level first.

    Tree ``t`` of pair ``j`` runs on channel ``2 j + t`` and starts each host's chain at local
    index ``(t * m // 2 + j) mod m``.
    """
    blocks = host_blocks(group, hosts)
    h = len(blocks)
    m = max(len(b) for b in blocks)
    trees = [(j, t) for j in range(pairs) for t in (0, 1)]
    chains: list[list[list[int]]] = []  # [tree][host] -> chain, head first
    for j, t in trees:
        per_host = []
        for b in blocks:
            k = (t * len(b) // 2 + j) % len(b)
            per_host.append(b[k:] + b[:k])
        chains.append(per_host)
    steps: list[list[Transfer]] = []
    # chain steps: position m-1 -> m-2, ..., 1 -> 0 (shorter chains simply idle)
    for i in range(m - 1, 0, -1):
        step: list[Transfer] = []
        for x, (j, t) in enumerate(trees):
            for chain in chains[x]:
                if i < len(chain):
                    step.append(Transfer(chain[i], chain[i - 1], bytes_per_tree_B, 2 * j + t))
        steps.append(step)
    # tree levels, deepest first
    parents = [heap_parents(h, mirror=bool(t)) for t in (0, 1)]
    depths = [_heap_depth(h, mirror=bool(t)) for t in (0, 1)]
    max_depth = max(max(d) for d in depths) if h > 1 else 0
    # host indices of every depth, ascending (one pass instead of one per level and tree)
    at_depth: list[list[list[int]]] = [[[] for _ in range(max_depth + 1)] for _ in (0, 1)]
    for t in (0, 1):
        for y, dep in enumerate(depths[t]):
            at_depth[t][dep].append(y)
    for level in range(max_depth, 0, -1):
        step = []
        for x, (j, t) in enumerate(trees):
            for y in at_depth[t][level]:
                child_head = chains[x][y][0]
                parent_head = chains[x][parents[t][y]][0]
                step.append(Transfer(child_head, parent_head, bytes_per_tree_B, 2 * j + t))
        steps.append(step)
    return [tuple(s) for s in steps if s]


def tree(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 2,
    root: int = 0,
) -> Schedule:
    """Tree schedule of ``op`` on ``group``: double binary tree for all_reduce, binomial
    tree for broadcast and reduce."""
    n = len(group)
    if n == 1:
        return Schedule(Algorithm.TREE, op, tuple(group), size_B, (), 1)
    if op in (CollectiveOp.BROADCAST, CollectiveOp.REDUCE):
        if op is CollectiveOp.REDUCE:
            steps = binomial_steps(group, root, size_B)
            steps = [tuple(Transfer(t.dst, t.src, t.size_B) for t in s) for s in reversed(steps)]
        else:
            steps = eager_binomial_steps(group, root, size_B)
        # Store and forward: a rank sends only once it holds the whole buffer, so every step
        # is a phase of its own (a phase's flows run concurrently at flow fidelity).
        is_reduce = op is CollectiveOp.REDUCE
        phases = tuple(
            phase_from_steps(
                f"binomial.{op.value}.{k}", [st], reduce_B=size_B * len(st) if is_reduce else 0.0
            )
            for k, st in enumerate(steps)
        )
        return Schedule(Algorithm.TREE, op, tuple(group), size_B, phases, 1)
    if op is not CollectiveOp.ALL_REDUCE:
        raise ValueError(f"tree does not implement {op.value}")
    pairs = max(1, channels // 2)
    up = tree_up_steps(group, hosts, size_B / (2 * pairs), pairs)
    down = [tuple(Transfer(t.dst, t.src, t.size_B, t.channel) for t in s) for s in reversed(up)]
    # NCCL pipelines the reduce and the broadcast: one phase.
    phase = phase_from_steps("tree.all_reduce", up + down, reduce_B=size_B)
    return Schedule(Algorithm.TREE, op, tuple(group), size_B, (phase,), 2 * pairs)


def binomial_steps(group: Sequence[int], root: int, size_B: float) -> list[Step]:
    """Binomial broadcast from ``group[root]``: ``ceil(log2 n)`` steps of whole buffers."""
    n = len(group)
    steps: list[Step] = []
    d = 1
    while d < n:
        steps.append(
            tuple(
                Transfer(group[(v + root) % n], group[(v + d + root) % n], size_B)
                for v in range(min(d, n - d))
            )
        )
        d *= 2
    return steps


def eager_binomial_steps(group: Sequence[int], root: int, size_B: float) -> list[Step]:
    """gloo's binomial broadcast from ``group[root]`` with eagerly posted sends.

    Step ``k`` (1-based) carries the whole buffer to every virtual rank ``w`` with ``k`` bits
    set, from its parent ``w`` with the highest bit cleared: ``floor(log2 n)`` steps, the
    first with the root's ``ceil(log2 n)`` concurrent sends.
    """
    n = len(group)
    by_bits: dict[int, list[Transfer]] = {}
    for w in range(1, n):
        parent = w - (1 << (w.bit_length() - 1))
        src, dst = group[(parent + root) % n], group[(w + root) % n]
        by_bits.setdefault(w.bit_count(), []).append(Transfer(src, dst, size_B))
    return [tuple(by_bits[k]) for k in sorted(by_bits)]
