"""From transfers to routed flows: paths, wire-equivalent bytes, per-step latency.

A :class:`FlowPlanner` binds a topology to a backend profile. For a transfer it routes
``topology.route(src, dst, key=channel)`` (the channel is the ECMP key) and works out:

* ``wire_factor``: ``1 / efficiency`` of the path's bottleneck link (the link with the smallest
  ``efficiency * capacity``); ``payload * wire_factor / protocol.bandwidth_factor`` bytes go on
  the fabric, so the payload drains at ``efficiency`` of the bottleneck's capacity;
* ``latency_s``: the path's latency (sum of its links');
* ``kind``: the path's link class for per-step latencies: the "farthest" kind on the path in
  the order nvlink < pcie < infiniband < ethernet < wan (NCCL uses its NET latency as soon
  as a step crosses the network).

A simulation keeps one planner in its :class:`~simulator.collectives.context.SimContext`, so
the engine's many collectives reuse routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from simulator.collectives.backend import BackendProfile, ProtocolProfile
from simulator.collectives.schedule import Transfer
from simulator.core.arrays import FloatArray
from simulator.topology import LinkKind, Topology
from simulator.topology.routing import Ecmp

_KIND_ORDER = (
    LinkKind.NVLINK,
    LinkKind.PCIE,
    LinkKind.INFINIBAND,
    LinkKind.ETHERNET,
    LinkKind.WAN,
)


@dataclass(frozen=True, slots=True)
class PathInfo:
    """What the backend sees of one routed ``(src, dst, channel)``."""

    links: tuple[int, ...]
    wire_factor: float
    latency_s: float
    kind: LinkKind


@dataclass(frozen=True, slots=True)
class PlannedFlows:
    """Routed flows of one phase or step (parallel arrays, one entry per transfer).

    ``wire_B`` is wire-equivalent bytes before the protocol's bandwidth factor is applied.
    """

    transfers: tuple[Transfer, ...]
    paths: tuple[PathInfo, ...]
    wire_B: FloatArray
    payload_B: FloatArray

    def hop_latency_s(self, protocol: ProtocolProfile) -> FloatArray:
        """Per transfer: path latency plus the protocol's per-step latency for its kind."""
        return np.array(
            [p.latency_s + protocol.step_latency_s[p.kind] for p in self.paths], dtype=float
        )

    def link_load_B(self, num_links: int) -> FloatArray:
        """Wire-equivalent bytes per link id (bandwidth factor 1)."""
        return _per_link(self.paths, self.wire_B, num_links)

    def link_payload_B(self, num_links: int) -> FloatArray:
        """Payload bytes per link id."""
        return _per_link(self.paths, self.payload_B, num_links)


def _per_link(paths: tuple[PathInfo, ...], bytes_B: FloatArray, num_links: int) -> FloatArray:
    """``bytes_B[i]`` added on every link of ``paths[i]``, per link id (links flattened in C:
    ``itertools.chain``, the same ids in the same order as a nested loop)."""
    if not paths:
        return np.zeros(num_links)
    links = [p.links for p in paths]
    counts = np.fromiter(map(len, links), dtype=np.int64, count=len(links))
    ids = np.fromiter(chain.from_iterable(links), dtype=np.int64, count=int(counts.sum()))
    weights = np.repeat(bytes_B, counts)
    return np.asarray(np.bincount(ids, weights=weights, minlength=num_links), np.float64)


class FlowPlanner:
    """Routes transfers on ``topology`` as ``profile`` sees them (see the module docstring)."""

    def __init__(self, topology: Topology, profile: BackendProfile) -> None:
        self.topology = topology
        self.profile = profile
        kinds = [LinkKind(lk.kind) for lk in topology.links]
        self._eff = np.array([profile.efficiency[k] for k in kinds], dtype=float)
        self._effcap = self._eff * topology.capacity_Bps
        self._kind_rank = np.array([_KIND_ORDER.index(k) for k in kinds], dtype=np.int64)
        # plain lists: paths are a handful of links, where Python beats numpy's overhead
        self._effcap_l: list[float] = self._effcap.tolist()
        self._eff_l: list[float] = self._eff.tolist()
        self._kind_l: list[int] = self._kind_rank.tolist()
        self._lat_l: list[float] = topology.latency_s.tolist()
        self._cache: dict[tuple[int, int, int], PathInfo] = {}

    def path(self, src: int, dst: int, channel: int = 0) -> PathInfo:
        """The :class:`PathInfo` of ``src -> dst`` on ``channel`` (cached)."""
        key = (src, dst, channel)
        info = self._cache.get(key)
        if info is None and channel and self.topology.ecmp is Ecmp.DMODK:
            info = self._cache.get((src, dst, 0))  # D-mod-K routes ignore the channel
            if info is not None:
                self._cache[key] = info
        if info is None:
            links = self.topology.route(src, dst, channel)
            if links:
                effcap = self._effcap_l
                bott = min(links, key=effcap.__getitem__)
                info = PathInfo(
                    links=tuple(links),
                    wire_factor=1.0 / self._eff_l[bott],
                    latency_s=sum(map(self._lat_l.__getitem__, links)),
                    kind=_KIND_ORDER[max(map(self._kind_l.__getitem__, links))],
                )
            else:  # src == dst: nothing crosses a link
                info = PathInfo((), 1.0, 0.0, LinkKind.NVLINK)
            self._cache[key] = info
        return info

    def plan(self, transfers: Iterable[Transfer]) -> PlannedFlows:
        """Route every transfer (zero-byte and self transfers are kept; they cost latency)."""
        ts = tuple(transfers)
        cache = self._cache
        # membership tests against the cache (``set - dict.keys()`` would walk the whole cache)
        missing = {k for k in {(t.src, t.dst, t.channel) for t in ts} if k not in cache}
        dmodk = self.topology.ecmp is Ecmp.DMODK
        # D-mod-K routes ignore the channel: each pair is routed once, on channel 0
        todo = {(s, d, 0) for s, d, _ in missing if (s, d, 0) not in cache} if dmodk else missing
        # route in destination order, the destinations' distances computed together
        self.topology.prefetch_routes(todo)
        for src, dst, ch in sorted(todo, key=lambda k: (k[1], k[0], k[2])):
            self.path(src, dst, ch)
        if dmodk:
            for src, dst, ch in missing:
                cache[(src, dst, ch)] = cache[(src, dst, 0)]
        paths = tuple(cache[(t.src, t.dst, t.channel)] for t in ts)
        payload = np.array([t.size_B for t in ts], dtype=float)
        wire = payload * np.array([p.wire_factor for p in paths], dtype=float)
        return PlannedFlows(ts, paths, wire, payload)


def mean_or_zero(x: Sequence[float] | FloatArray) -> float:
    """Mean of ``x``, 0.0 when empty."""
    return float(np.mean(x)) if len(x) else 0.0
