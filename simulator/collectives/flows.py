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
from itertools import chain, filterfalse
from operator import attrgetter

import numpy as np

from simulator.collectives.backend import BackendProfile, ProtocolProfile
from simulator.collectives.schedule import Transfer
from simulator.core.arrays import FloatArray
from simulator.topology import LinkKind, Topology
from simulator.topology.routing import Ecmp

_PAIR = attrgetter("src", "dst")
_KEY = attrgetter("src", "dst", "channel")
_SIZE = attrgetter("size_B")
_WIRE = attrgetter("wire_factor")
_KIND = attrgetter("kind")
_LATENCY = attrgetter("latency_s")

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
        """Per transfer: path latency plus the protocol's per-step latency for its kind (read
        in C; the same sums, one float addition each)."""
        n = len(self.paths)
        step = map(protocol.step_latency_s.__getitem__, map(_KIND, self.paths))
        return np.fromiter(map(_LATENCY, self.paths), dtype=float, count=n) + np.fromiter(
            step, dtype=float, count=n
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
        kinds = [lk.kind for lk in topology.links]
        # per distinct kind once (a str kind equals and hashes as its LinkKind)
        eff = {k: profile.efficiency[LinkKind(k)] for k in set(kinds)}
        order = {k: _KIND_ORDER.index(LinkKind(k)) for k in eff}
        self._eff = np.array([eff[k] for k in kinds], dtype=float)
        self._effcap = self._eff * topology.capacity_Bps
        self._kind_rank = np.array([order[k] for k in kinds], dtype=np.int64)
        # plain lists: paths are a handful of links, where Python beats numpy's overhead
        self._effcap_l: list[float] = self._effcap.tolist()
        self._eff_l: list[float] = self._eff.tolist()
        self._kind_l: list[int] = self._kind_rank.tolist()
        self._lat_l: list[float] = topology.latency_s.tolist()
        self._cache: dict[tuple[int, int, int], PathInfo] = {}
        #: D-mod-K: the path of every ``(src, dst)`` planned (any channel: routes ignore it)
        self._pairs: dict[tuple[int, int], PathInfo] = {}

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
        """Route every transfer (zero-byte and self transfers are kept; they cost latency).

        Transfers are read with ``operator.attrgetter`` and paths looked up with ``map``
        (loops in C: a 16,384-rank tree has 262,128 transfers); with D-mod-K the paths are
        keyed by ``(src, dst)`` alone (routes ignore the channel).
        """
        ts = tuple(transfers)
        cache = self._cache
        if self.topology.ecmp is Ecmp.DMODK:
            pairs = list(map(_PAIR, ts))
            self._route_pairs(pairs)
            paths = tuple(map(self._pairs.__getitem__, pairs))
        else:
            keys = list(map(_KEY, ts))
            self._route(set(filterfalse(cache.__contains__, keys)))
            paths = tuple(map(cache.__getitem__, keys))
        payload = np.fromiter(map(_SIZE, ts), dtype=float, count=len(ts))
        wire = payload * np.fromiter(map(_WIRE, paths), dtype=float, count=len(paths))
        return PlannedFlows(ts, paths, wire, payload)

    def route_ahead(self, keys: Iterable[tuple[int, int, int]]) -> None:
        """Route ``(src, dst, channel)`` keys now, together, that :meth:`plan` would route
        later, a few at a time: the same paths (routes depend on the key alone), in fewer
        and larger batches (one sweep per block of destinations, D-mod-K walks together)."""
        if self.topology.ecmp is Ecmp.DMODK:
            self._route_pairs([(s, d) for s, d, _ in keys])
        else:
            self._route(set(filterfalse(self._cache.__contains__, keys)))

    def _route_pairs(self, pairs: Iterable[tuple[int, int]]) -> None:
        """D-mod-K: the path of every ``(src, dst)`` of ``pairs`` into :attr:`_pairs`."""
        known, cache = self._pairs, self._cache
        # membership tests (``set - dict.keys()`` would walk the whole cache)
        new = set(filterfalse(known.__contains__, pairs))
        if new:  # each pair routed once, on channel 0
            self._route({(s, d, 0) for s, d in new if (s, d, 0) not in cache})
            for s, d in new:
                known[(s, d)] = cache[(s, d, 0)]

    def _route(self, todo: set[tuple[int, int, int]]) -> None:
        """Route ``(src, dst, channel)`` keys into the cache: in destination order, the
        destinations' distances computed together."""
        self.topology.prefetch_routes(todo)
        for src, dst, ch in sorted(todo, key=lambda k: (k[1], k[0], k[2])):
            self.path(src, dst, ch)


def mean_or_zero(x: Sequence[float] | FloatArray) -> float:
    """Mean of ``x``, 0.0 when empty."""
    return float(np.mean(x)) if len(x) else 0.0
