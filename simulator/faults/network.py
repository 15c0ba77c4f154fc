"""Network faults applied to a topology: links down or degraded, NICs and switches down,
another job's traffic; static or changing at given times in the step.

A :class:`FaultedTopology` keeps every link and its id (so per-link tables stay comparable with
the healthy run); a link that is down stays in ``links`` but no route uses it. Routes are the
healthy routing (shortest in hops, same ECMP policy) on the graph without the down links, so
traffic spreads over the equal-cost paths that remain. A rank whose own way out is gone (its NIC
is down) sends through a peer GPU of its host and that GPU's NIC, as NCCL's PXN does: the path is
``src -> peer`` (NVLink/PCIe inside the host) then ``peer -> dst``; the peer is chosen per
destination by a stable hash among the host's ranks that still reach it, so the remaining NICs
share the dead one's traffic. The same holds on the receiving side.

A degraded link keeps ``bandwidth_factor`` of its capacity and gains ``added_latency`` seconds.
Background traffic takes ``load`` of its links' capacity first (the other job is not slowed by
ours; an assumption, written in docs/decisions.md): the links keep ``1 - load``.

:class:`NetworkFaults` gives the topology in force at any time of the step and the next time it
changes; the engine applies a change by switching routes for new transfers, setting the fabric's
capacities and re-routing the flows in flight on links that went down (they keep their bytes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from simulator.core.errors import InputError
from simulator.faults.schema import FaultsConfig, LinkState
from simulator.faults.targets import format_ranks, node_links, select_links, select_nodes
from simulator.topology.graph_builder import MAX_LINK_LATENCY_S, MIN_LINK_BANDWIDTH_BPS
from simulator.topology.model import Link, NodeKind, Topology
from simulator.topology.routing import Router, ecmp_hash


class FaultedTopology(Topology):
    """A topology with some links down (kept, never routed over) and PXN-style relays.

    Args:
        base: the healthy topology (left unchanged).
        links: the links with their faulted bandwidth and latency (ids as in ``base``).
        down: ids of links that are down.
        description: what is broken (for reports), e.g. ``["link leaf3->spine* down"]``.
    """

    def __init__(
        self, base: Topology, links: list[Link], down: frozenset[int], description: list[str]
    ) -> None:
        graph = base.graph.copy()
        for lk in links:
            attrs = graph.edges[lk.src, lk.dst]
            attrs["bandwidth_Bps"] = lk.bandwidth_Bps
            attrs["latency_s"] = lk.latency_s
        meta = dict(base.metadata)
        meta["faults"] = list(description)
        super().__init__(base.name, graph, links, base.ranks, meta, ecmp=base.ecmp)
        self.down: frozenset[int] = down
        self.healthy = base
        self._relay_cache: dict[tuple[int, int, int], tuple[int, ...]] = {}

    def _get_router(self) -> Router:
        if self._router is None:
            up = self.graph.copy()
            up.remove_edges_from((self.links[i].src, self.links[i].dst) for i in self.down)
            self._router = Router(up, self.ranks, ecmp=self.ecmp)
        return self._router

    def reaches(self, src_rank: int, dst_rank: int) -> bool:
        """True when a direct route (no relay) exists."""
        return src_rank == dst_rank or self._get_router().hops(src_rank, dst_rank) >= 0

    def route(self, src_rank: int, dst_rank: int, key: int = 0) -> tuple[int, ...]:
        """The healthy routing on what is up; through a peer GPU of the host when needed.

        Raises:
            ValueError: no way from ``src_rank`` to ``dst_rank`` even through peers.
        """
        if self.reaches(src_rank, dst_rank):
            return super().route(src_rank, dst_rank, key)
        ck = (src_rank, dst_rank, key if self._keyed else 0)
        hit = self._relay_cache.get(ck)
        if hit is None:
            hit = self._relay(src_rank, dst_rank, key)
            self._relay_cache[ck] = hit
        return hit

    def _relay(self, s: int, d: int, key: int) -> tuple[int, ...]:
        by_host = self.ranks_by_host()
        out_peers = [p for p in by_host[self.host_of(s)] if p != s and self.reaches(s, p)]
        in_peers = [q for q in by_host[self.host_of(d)] if q != d and self.reaches(q, d)]
        pick = ecmp_hash(s, d, key, 0xFA)
        first = [p for p in out_peers if self.reaches(p, d)]
        if first:
            p = first[pick % len(first)]
            return super().route(s, p, key) + super().route(p, d, key)
        last = [q for q in in_peers if self.reaches(s, q)]
        if last:
            q = last[pick % len(last)]
            return super().route(s, q, key) + super().route(q, d, key)
        for p in out_peers:
            both = [q for q in in_peers if self.reaches(p, q)]
            if both:
                q = both[pick % len(both)]
                return (
                    super().route(s, p, key) + super().route(p, q, key) + super().route(q, d, key)
                )
        raise ValueError(f"no route from rank {s} to rank {d} with the faults applied")


def _check_degraded(
    base: Topology,
    ids: list[int],
    factor: float,
    added_s: float,
    where: str,
    factor_key: str = "bandwidth_factor",
) -> None:
    """Refuse a fault that leaves a link outside the bounds every topology keeps (below
    :data:`~simulator.topology.graph_builder.MIN_LINK_BANDWIDTH_BPS`, or a latency past
    :data:`~simulator.topology.graph_builder.MAX_LINK_LATENCY_S`): ``bandwidth_factor: 1e-300``
    predicted a step of 10^295 s, and ``added_latency: 1e308s`` ended as a "deadlock" (exit 1)."""
    for i in ids:
        lk = base.links[i]
        if lk.bandwidth_Bps * factor < MIN_LINK_BANDWIDTH_BPS:
            raise InputError(
                f"leaves link {lk.src}-{lk.dst} {lk.bandwidth_Bps * factor:g} bytes/s, below the "
                f"limit of {MIN_LINK_BANDWIDTH_BPS:g} (8 kbit/s)",
                field=f"{where}.{factor_key}",
            )
        if lk.latency_s + added_s > MAX_LINK_LATENCY_S:
            raise InputError(
                f"makes link {lk.src}-{lk.dst} latency {lk.latency_s + added_s:g} s, past the "
                f"limit of {MAX_LINK_LATENCY_S:g} s",
                field=f"{where}.added_latency",
            )


@dataclass(frozen=True)
class _Resolved:
    """A fault resolved to link ids: what it does and from/until when."""

    links: tuple[int, ...]
    down: bool
    bw_factor: float
    added_latency_s: float
    at_s: float
    label: str
    period: tuple[float, float] | None = None  # background on/off: (on_s, off_s)
    field: str = ""  # where the fault is in the scenario, e.g. ``faults.background.0``

    def active(self, t: float) -> bool:
        """True when the fault is in force at time ``t`` (s)."""
        if t < self.at_s:
            return False
        if self.period is None:
            return True
        start = self._cycle_start(t)
        return t < start + self.period[0]

    def next_change(self, t: float) -> float:
        """First time after ``t`` at which :meth:`active` changes (``inf``: never); ``> t``
        for a period above ``t``'s rounding, so the engine's clock moves on at every change."""
        if t < self.at_s:
            return self.at_s
        if self.period is None:
            return math.inf
        on = self.period[0]
        start = self._cycle_start(t)
        return start + on if t < start + on else self._start_of(self._cycle(t) + 1)

    def _start_of(self, k: int) -> float:
        """Start time (s) of on/off cycle ``k`` (the one formula both methods above use)."""
        assert self.period is not None
        return self.at_s + k * (self.period[0] + self.period[1])

    def _cycle(self, t: float) -> int:
        """The cycle ``k`` with ``_start_of(k) <= t < _start_of(k + 1)`` (``t >= at_s``).

        ``floor((t - at) / period)`` can be one off at a boundary (``0.25 / 0.1`` gives
        cycle 2 with a phase of 0.0499...); a change time computed from the wrong cycle equals
        ``t`` and the engine waited zero seconds for it forever. Corrected on the boundaries.
        """
        assert self.period is not None
        k = max(0, math.floor((t - self.at_s) / (self.period[0] + self.period[1])))
        for _ in range(2):  # floor is off by one at most; bounded for periods below t's ulp
            if self._start_of(k + 1) <= t:
                k += 1
            elif k > 0 and self._start_of(k) > t:
                k -= 1
        return k

    def _cycle_start(self, t: float) -> float:
        return self._start_of(self._cycle(t))


class NetworkFaults:
    """The network faults of a scenario resolved on one topology.

    Raises:
        InputError: a selector naming no link/node, or faults that cut the job's ranks apart
            (the message names the faults and the ranks on each side).
    """

    def __init__(self, base: Topology, faults: FaultsConfig, job_ranks: list[int]) -> None:
        self.base = base
        self.job_ranks = job_ranks
        res: list[_Resolved] = []
        for i, f in enumerate(faults.links):
            field = f"faults.links.{i}.link"
            ids = select_links(base, f.link, field)
            down = f.state is LinkState.DOWN
            what = "down" if down else f"degraded x{f.bandwidth_factor:g} +{f.added_latency:g} s"
            if not down:
                _check_degraded(base, ids, f.bandwidth_factor, f.added_latency, f"faults.links.{i}")
            res.append(
                _Resolved(
                    tuple(ids),
                    down,
                    f.bandwidth_factor,
                    f.added_latency,
                    f.at,
                    f"link {f.link} {what}",
                )
            )
        for name, kinds, items in (
            ("nics", (NodeKind.NIC,), faults.nics),
            (
                "switches",
                (NodeKind.SWITCH, NodeKind.NVSWITCH, NodeKind.PCIE_SWITCH, NodeKind.GATEWAY),
                faults.switches,
            ),
        ):
            for i, nf in enumerate(items):
                nodes = select_nodes(base, nf.node, kinds, f"faults.{name}.{i}.node")
                ids = node_links(base, nodes)
                res.append(
                    _Resolved(
                        tuple(ids),
                        True,
                        1.0,
                        0.0,
                        nf.at,
                        f"{name[:-1] if name == 'nics' else 'switch'} {nf.node} down",
                    )
                )
        for i, bg in enumerate(faults.background):
            ids = select_links(base, bg.link, f"faults.background.{i}.link")
            _check_degraded(base, ids, 1.0 - bg.load, 0.0, f"faults.background.{i}", "load")
            period = (bg.on, bg.off) if bg.on is not None and bg.off is not None else None
            res.append(
                _Resolved(
                    tuple(ids),
                    False,
                    1.0 - bg.load,
                    0.0,
                    bg.start,
                    f"background {bg.load:g} on {bg.link}",
                    period,
                    f"faults.background.{i}",
                )
            )
        self.resolved = res
        self._cache: dict[tuple[bool, ...], Topology] = {}
        for t in self.change_times_up_to_first_period():
            self.at(t)  # check every state for cuts now, before anything runs

    def change_times_up_to_first_period(self) -> list[float]:
        """Every distinct state's first time (each on/off source counted on and off once)."""
        times = {0.0}
        for r in self.resolved:
            times.add(r.at_s)
            if r.period is not None:
                times.add(r.at_s + r.period[0])
        return sorted(times)

    @property
    def changes(self) -> bool:
        """True when the network changes during the step (something at t > 0 or on/off)."""
        return any(r.at_s > 0 or r.period is not None for r in self.resolved)

    def fastest_source(self) -> tuple[str, tuple[float, float] | None]:
        """The field of the fault that changes the network most often and its (on_s, off_s)
        (the shortest on/off cycle; without one, the ``links`` field and None)."""
        periodic = [r for r in self.resolved if r.period is not None]
        if not periodic:
            return "faults.links", None
        r = min(periodic, key=lambda r: sum(r.period or (math.inf,)))
        return r.field, r.period

    def at(self, t: float) -> Topology:
        """The topology in force at time ``t`` (s)."""
        key = tuple(r.active(t) for r in self.resolved)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._build([r for r, on in zip(self.resolved, key, strict=True) if on])
            self._cache[key] = hit
        return hit

    def next_change(self, t: float) -> float:
        """First time after ``t`` at which some fault starts, ends or toggles (``inf``: none)."""
        return min((r.next_change(t) for r in self.resolved), default=math.inf)

    def _build(self, active: list[_Resolved]) -> Topology:
        if not active:
            return self.base
        bw = [1.0] * len(self.base.links)
        lat = [0.0] * len(self.base.links)
        down: set[int] = set()
        for r in active:
            for i in r.links:
                bw[i] *= r.bw_factor
                lat[i] += r.added_latency_s
                if r.down:
                    down.add(i)
        links = [
            replace(
                lk, bandwidth_Bps=lk.bandwidth_Bps * bw[lk.id], latency_s=lk.latency_s + lat[lk.id]
            )
            for lk in self.base.links
        ]
        topo = FaultedTopology(self.base, links, frozenset(down), [r.label for r in active])
        if down:
            _check_cut(topo, self.job_ranks, [r.label for r in active if r.down])
        return topo


def _check_cut(topo: FaultedTopology, ranks: list[int], labels: list[str]) -> None:
    """InputError when the job's ranks fall into several parts of what is still up."""
    import networkx as nx  # here only: a healthy run never needs it (~0.15 s to import)

    up = nx.DiGraph()
    up.add_nodes_from(topo.graph.nodes)
    up.add_edges_from((lk.src, lk.dst) for lk in topo.links if lk.id not in topo.down)
    comp_of: dict[str, int] = {}
    for i, comp in enumerate(nx.strongly_connected_components(up)):
        for v in comp:
            comp_of[v] = i
    parts: dict[int, list[int]] = {}
    for r in ranks:
        parts.setdefault(comp_of[topo.ranks[r]], []).append(r)
    if len(parts) > 1:
        sides = " | ".join(f"ranks {format_ranks(p)}" for p in sorted(parts.values()))
        raise InputError(
            f"the faults ({'; '.join(labels)}) cut the job apart: {sides}", field="faults"
        )


def apply_network_faults(
    topology: Topology, faults: FaultsConfig, job_ranks: list[int] | None = None
) -> NetworkFaults | None:
    """Resolve ``faults`` on ``topology`` (None when no network fault is given)."""
    if not faults.network:
        return None
    ranks = list(range(topology.num_ranks)) if job_ranks is None else job_ranks
    return NetworkFaults(topology, faults, ranks)


def describe(topology: Any) -> list[str]:
    """What is broken in ``topology`` (empty for a healthy one)."""
    return list(getattr(topology, "metadata", {}).get("faults", []))
