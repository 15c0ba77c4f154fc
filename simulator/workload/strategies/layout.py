"""Rank layout of a TP x PP x DP (x EP) job.

Global rank ``r = tp_rank + tp * (pp_rank + pp * dp_rank)``: tensor parallelism is fastest
(consecutive ranks, inside one node), then pipeline stages, then data-parallel replicas
(Megatron-LM's default order). Expert parallelism is carved out of the data-parallel dimension:
EP group ``k`` of a (tp, pp) position holds the ``ep`` consecutive DP replicas
``k*ep .. k*ep+ep-1``.

Context parallelism (``cp > 1``) splits each sample's sequence over ``cp`` ranks that hold the
same parameters, so they count among the ``dp`` replicas (gradients are reduced over all of
them, as Megatron-Core reduces over its data-parallel-with-context-parallel group): replicas
``k*cp .. k*cp+cp-1`` form CP group ``k``. As in Megatron-Core's rank order (``tp-cp-ep-dp-pp``),
a CP group's ranks sit next to the TP ranks: ``r = t + tp * (c + cp * (p + pp * k))`` with
``d = k*cp + c``, so TP x CP ranks share a node where they fit.

Expert parallelism with context parallelism: Megatron-Core lays out the expert layers with a
second rank generator that has no CP dimension (``expert_decoder_rank_generator`` in
``initialize_model_parallel``, NVIDIA/Megatron-LM megatron/core/parallel_state.py: ``cp=1``,
expert data-parallel size ``world / (expert_tp * ep * pp)``), so the EP groups are cut from
the same ``dp`` replicas, CP ranks included, ``ep`` consecutive ones at a time (the CP ranks of
a sample are neighbours in both orders). Each rank dispatches its own ``seq_len / cp`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Layout:
    """Parallel degrees and rank arithmetic. ``world = tp * pp * dp``; ``dp`` counts every
    replica of the parameters, the ``cp`` ranks of each context-parallel group included."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1

    def __post_init__(self) -> None:
        if min(self.tp, self.pp, self.dp, self.ep, self.cp) < 1:
            raise ValueError("parallel degrees must be >= 1")
        if self.dp % self.ep:
            raise ValueError(f"ep={self.ep} must divide dp={self.dp}")
        if self.dp % self.cp:
            raise ValueError(f"cp={self.cp} must divide dp={self.dp}")

    @property
    def world(self) -> int:
        """Number of ranks."""
        return self.tp * self.pp * self.dp

    def rank(self, t: int, p: int, d: int) -> int:
        """Global rank of TP rank ``t`` of stage ``p`` of replica ``d``."""
        k, c = divmod(d, self.cp)
        return t + self.tp * (c + self.cp * (p + self.pp * k))

    def coords(self, rank: int) -> tuple[int, int, int]:
        """``(tp_rank, pp_rank, dp_rank)`` of a global rank."""
        t, rest = rank % self.tp, rank // self.tp
        c, rest = rest % self.cp, rest // self.cp
        return t, rest % self.pp, (rest // self.pp) * self.cp + c

    def tp_group(self, p: int, d: int) -> tuple[int, ...]:
        """The TP group of stage ``p`` of replica ``d``."""
        return tuple(self.rank(t, p, d) for t in range(self.tp))

    def dp_group(self, t: int, p: int) -> tuple[int, ...]:
        """Ranks holding the same parameters (all replicas) at position ``(t, p)``."""
        return tuple(self.rank(t, p, d) for d in range(self.dp))

    def cp_group(self, t: int, p: int, d: int) -> tuple[int, ...]:
        """The context-parallel group (one sample's sequence shards) replica ``d`` belongs to."""
        k = d // self.cp
        return tuple(self.rank(t, p, k * self.cp + c) for c in range(self.cp))

    def ep_group(self, t: int, p: int, d: int) -> tuple[int, ...]:
        """The expert-parallel group (all-to-all) that replica ``d`` belongs to."""
        k = d // self.ep
        return tuple(self.rank(t, p, k * self.ep + e) for e in range(self.ep))

    def expert_dp_group(self, t: int, p: int, d: int) -> tuple[int, ...]:
        """Ranks holding the same experts as replica ``d`` (same index inside their EP group)."""
        e = d % self.ep
        return tuple(self.rank(t, p, k * self.ep + e) for k in range(self.dp // self.ep))
