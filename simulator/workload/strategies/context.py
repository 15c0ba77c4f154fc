"""What every strategy module needs while it writes one rank's program.

:class:`JobContext` holds what is common to the job (profile, layout, strategy settings, the
topology for grouping and mirror decisions); :class:`RankBuilder` wraps one rank's
:class:`~simulator.core.ir.Program` with its coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from simulator.core.ir import Program
from simulator.core.vocab import CollectiveOp
from simulator.topology import Topology
from simulator.topology.partitions import datacenter_of_ranks
from simulator.workload.profile import LayerProfile
from simulator.workload.strategies.layout import Layout
from simulator.workload.strategies.options import StrategyConfig


@dataclass
class JobContext:
    """Job-wide inputs of the collective strategy builders.

    Attributes:
        profile: per-GPU costs, already at the job's TP degree and micro-batch size.
        layout: parallel degrees. strategy: the scenario's strategy settings.
        microbatches: micro-batches per replica per step.
        topology: the cluster (``None``: no grouping by host, no mirror pruning).
        fold: build only representative ranks (TP rank 0 of each stage of replica 0) and
            mirror the rest.
        blocking_host: the job runs as the rig's recorder runs it (CPU and accelerator
            mode): one host thread blocks on every device item and on every communication
            call it waits for before it issues the next. FSDP/ZeRO-3 then gathers a layer
            only when it is reached and waits for each collective in order
            (:class:`~simulator.workload.strategies.zero.Zero3Sync`); a synchronous parameter
            server receives, updates and sends one worker at a time
            (:func:`~simulator.workload.strategies.ps.build`). False: a GPU's host runs ahead.
    """

    profile: LayerProfile
    layout: Layout
    strategy: StrategyConfig
    microbatches: int
    topology: Topology | None = None
    fold: bool = False
    blocking_host: bool = False
    _route_cache: dict[tuple[int, int], frozenset[int]] = field(default_factory=dict)
    _tp_groups: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    _dc_cache: tuple[int, ...] | None = None

    @property
    def world(self) -> int:
        """Ranks in the job."""
        return self.layout.world

    def host(self, rank: int) -> str:
        """Host of a rank (``"r<rank>"`` without topology)."""
        if self.topology is None:
            return f"r{rank}"
        return str(self.topology.host_of(rank))

    def hosts(self, ranks: Iterable[int]) -> set[str]:
        """Hosts of ranks."""
        return {self.host(r) for r in ranks}

    def tp_group(self, p: int, d: int) -> tuple[int, ...]:
        """:meth:`Layout.tp_group`, one shared tuple per group of the job (a 1T-parameter job
        asks 393,728 times)."""
        key = (p, d)
        group = self._tp_groups.get(key)
        if group is None:
            group = self._tp_groups[key] = self.layout.tp_group(p, d)
        return group

    def route_links(self, src: int, dst: int) -> frozenset[int]:
        """Link ids on the route ``src -> dst`` (empty without topology)."""
        if self.topology is None:
            return frozenset()
        key = (src, dst)
        if key not in self._route_cache:
            self._route_cache[key] = frozenset(self.topology.route(src, dst))
        return self._route_cache[key]

    def datacenter(self, rank: int) -> int:
        """Index of the datacenter of a rank: components of the graph without WAN links."""
        if self.topology is None:
            return 0
        if self._dc_cache is None:
            self._dc_cache = datacenter_of_ranks(self.topology)
        return self._dc_cache[rank]

    def mirror_groups(
        self, group: Sequence[int], candidates: Iterable[Sequence[int]]
    ) -> list[tuple[int, ...]]:
        """Candidate groups (without programs) that live on hosts ``group`` uses.

        A mirrored collective on the same hosts shares NICs and switch ports with the
        simulated one; groups on other hosts cannot interact with it and are left out.
        """
        hosts = self.hosts(group)
        return [tuple(c) for c in candidates if self.hosts(c) & hosts]

    def mirror_pairs(
        self, src: int, dst: int, candidates: Iterable[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """Candidate (src, dst) pairs whose routes share a link with ``src -> dst``."""
        own = self.route_links(src, dst)
        if not own:
            return []
        cands = list(candidates)
        if self.topology is not None:  # pairs that provably miss ``own`` are not routed
            maybe = self.topology.may_route_over(own, cands)
            cands = [c for c, m in zip(cands, maybe, strict=True) if m]
            self.topology.prefetch_routes([(a, b, 0) for a, b in cands])  # skips cached ones
        return [(a, b) for a, b in cands if self.route_links(a, b) & own]


@dataclass
class RankBuilder:
    """One rank's program under construction, with its coordinates ``(t, p, d)``."""

    ctx: JobContext
    prog: Program
    t: int
    p: int
    d: int

    def collective(
        self,
        name: str,
        op: CollectiveOp,
        group: Sequence[int],
        size_B: float,
        *,
        stream: str,
        deps: Sequence[int] = (),
        category: str,
        mirrors: Sequence[Sequence[int]] = (),
        layer: int = -1,
        microbatch: int = -1,
    ) -> int | None:
        """Append a collective; a group of one rank is a no-op and returns ``None``."""
        if len(group) <= 1 or size_B <= 0:
            return None
        return self.prog.collective(
            name,
            op=op,
            group=group,
            size_B=size_B,
            stream=stream,
            deps=deps,
            category=category,
            mirrors=mirrors,
            layer=layer,
            microbatch=microbatch,
        )

    def compute(
        self,
        name: str,
        duration_s: float,
        *,
        deps: Sequence[int | None] = (),
        category: str,
        layer: int = -1,
        microbatch: int = -1,
        flops: float = 0.0,
        stream: str = "compute",
    ) -> int:
        """Append a compute op of known duration."""
        return self.prog.compute(
            name,
            duration_s=max(duration_s, 0.0),
            flops=flops,
            stream=stream,
            deps=deps_of(*deps),
            category=category,
            layer=layer,
            microbatch=microbatch,
        )


def deps_of(*ids: int | None) -> tuple[int, ...]:
    """Drop ``None`` (no-op collectives) from a dependency list."""
    if None not in ids:  # the usual case: nothing to drop
        return cast("tuple[int, ...]", ids)
    return tuple([i for i in ids if i is not None])
