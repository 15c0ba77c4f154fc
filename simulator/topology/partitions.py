"""Partitions of a rank group that the topology provides (hosts, datacenters), and the one
hierarchical all-reduce built on them.

The host-aware ring and tree orders and the hierarchical all-reduce split a group the same way:
by a key per rank, parts in first-seen order, ranks in group order inside each part. That split
and the two keys (host, datacenter) live here, once.

There is one hierarchical all-reduce, :func:`two_level`: given a partition into ``h`` equal
parts of ``k`` ranks, an all-reduce of ``S`` bytes is a reduce-scatter of ``S`` inside every
part, an all-reduce of ``S / k`` among the ranks with the same index in every part (the
*columns*, across the slow level), and an all-gather of ``S`` inside every part. Two layers
render that plan (docs/decisions.md, 2026-12-05, *one hierarchical all-reduce*): the collective
schedule :mod:`simulator.collectives.hierarchical` (``algo: hierarchical``: one collective,
three ring phases, one launch latency) and the strategies' all-reduce
:mod:`simulator.workload.strategies.hierarchical` (``data_parallel.hierarchical: node |
datacenter`` and Local SGD: three IR collectives, each costed on its own).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from simulator.core.vocab import CollectiveOp
from simulator.topology.model import Topology


def split(group: Sequence[int], keys: Sequence[Hashable]) -> list[list[int]]:
    """``group`` split by ``keys`` (one per rank, same order): parts in first-seen order,
    ranks in group order inside each part."""
    parts: dict[Hashable, list[int]] = {}
    for r, k in zip(group, keys, strict=True):
        parts.setdefault(k, []).append(r)
    return list(parts.values())


def datacenter_of_ranks(topology: Topology) -> tuple[int, ...]:
    """Datacenter index of every rank: weakly connected components of the graph once its WAN
    links (``kind: wan``) are removed, numbered in order of their smallest node name."""
    import networkx as nx  # here only: start-up time of simulations that never ask

    g = topology.graph
    local = nx.DiGraph()
    local.add_nodes_from(g.nodes)
    local.add_edges_from((u, v) for u, v, d in g.edges(data=True) if str(d.get("kind")) != "wan")
    comp: dict[str, int] = {}
    components = sorted(nx.weakly_connected_components(local), key=lambda c: min(map(str, c)))
    for i, nodes in enumerate(components):
        for n in nodes:
            comp[str(n)] = i
    return tuple(comp[str(name)] for name in topology.ranks)


def by_host(topology: Topology, group: Sequence[int]) -> list[list[int]]:
    """``group`` split by host (:meth:`Topology.host_of`)."""
    return split(group, [topology.host_of(r) for r in group])


def by_datacenter(topology: Topology, group: Sequence[int]) -> list[list[int]]:
    """``group`` split by datacenter (:func:`datacenter_of_ranks`)."""
    dc = datacenter_of_ranks(topology)
    return split(group, [dc[r] for r in group])


@dataclass(frozen=True)
class Level:
    """One phase of the hierarchical all-reduce: ``op`` of ``size_B`` bytes (its input, as an
    IR collective counts it) on each of ``groups`` at once. ``local``: inside the parts (else
    across them, one group per column); ``tag``: the phase's short name."""

    tag: str
    op: CollectiveOp
    groups: tuple[tuple[int, ...], ...]
    size_B: float
    local: bool


@dataclass(frozen=True)
class TwoLevel:
    """A group split into parts by a topology key: the plan of the hierarchical all-reduce."""

    parts: tuple[tuple[int, ...], ...]

    @property
    def equal(self) -> bool:
        """Whether every part holds the same number of ranks (the plan needs it)."""
        return len({len(p) for p in self.parts}) == 1

    @property
    def columns(self) -> tuple[tuple[int, ...], ...]:
        """The ranks with the same index in every part, one tuple per index (equal parts)."""
        return tuple(tuple(p[i] for p in self.parts) for i in range(len(self.parts[0])))

    def phases(self, size_B: float) -> tuple[Level, Level, Level]:
        """The three phases of an all-reduce of ``size_B`` bytes: reduce-scatter inside each
        part, all-reduce of ``size_B / k`` across the parts, all-gather inside each part."""
        k = len(self.parts[0])
        return (
            Level("rs_local", CollectiveOp.REDUCE_SCATTER, self.parts, size_B, True),
            Level("ar_cross", CollectiveOp.ALL_REDUCE, self.columns, size_B / k, False),
            Level("ag_local", CollectiveOp.ALL_GATHER, self.parts, size_B, True),
        )


def two_level(group: Sequence[int], keys: Sequence[Hashable]) -> TwoLevel:
    """The hierarchical all-reduce's plan for ``group`` split by ``keys`` (one per rank: its
    host, or its datacenter from :func:`datacenter_of_ranks`)."""
    return TwoLevel(tuple(tuple(p) for p in split(group, keys)))
