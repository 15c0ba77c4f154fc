"""What-if edits of a loaded topology: scale link bandwidth or latency per link kind.

This is how a scenario asks "what if InfiniBand had twice the bandwidth?" without writing a
new topology file: ``scale_links(topo, bandwidth={"infiniband": 2.0})`` returns a new
:class:`Topology` whose InfiniBand links carry twice their capacity (both directions), every
other link unchanged. Routes do not change (they are shortest in hops, not in time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from simulator.core.errors import InputError
from simulator.topology.graph_builder import (
    MAX_LINK_BANDWIDTH_BPS,
    MAX_LINK_LATENCY_S,
    MIN_LINK_BANDWIDTH_BPS,
)
from simulator.topology.model import Link, LinkKind, Topology


def _factors(scale: Mapping[LinkKind | str, float], what: str) -> dict[LinkKind, float]:
    out: dict[LinkKind, float] = {}
    for kind, factor in scale.items():
        try:
            k = LinkKind(kind)
        except ValueError:
            known = ", ".join(m.value for m in LinkKind)
            raise ValueError(f"{what}: unknown link kind {kind!r} (one of {known})") from None
        if not factor > 0:
            raise ValueError(f"{what}.{k.value}: factor must be > 0, got {factor!r}")
        out[k] = float(factor)
    return out


def scale_links(
    topology: Topology,
    bandwidth: Mapping[LinkKind | str, float] | None = None,
    latency: Mapping[LinkKind | str, float] | None = None,
    *,
    file: str | None = None,
) -> Topology:
    """A copy of ``topology`` with link bandwidth and latency multiplied per link kind.

    Args:
        topology: the topology to edit (left unchanged).
        bandwidth: factor per link kind applied to ``bandwidth_Bps`` (dimensionless, > 0).
        latency: factor per link kind applied to ``latency_s`` (dimensionless, > 0).
        file: the scenario the factors come from (named by a refusal).

    Returns:
        ``topology`` itself when no factor differs from 1, else a new :class:`Topology` with
        the same name, ranks and routes and ``metadata["what_if"]`` recording the factors.

    Raises:
        ValueError: an unknown link kind or a factor that is not positive.
        InputError: a scaled link past the bounds every topology keeps
            (:data:`~simulator.topology.graph_builder.MAX_LINK_BANDWIDTH_BPS`,
            :data:`~simulator.topology.graph_builder.MAX_LINK_LATENCY_S`), naming the factor.
    """
    bw = _factors(bandwidth or {}, "bandwidth_scale")
    lat = _factors(latency or {}, "latency_scale")
    if all(f == 1.0 for f in (*bw.values(), *lat.values())):
        return topology
    graph = topology.graph.copy()
    links: list[Link] = []
    for lk in topology.links:
        new = replace(
            lk,
            bandwidth_Bps=lk.bandwidth_Bps * bw.get(lk.kind, 1.0),
            latency_s=lk.latency_s * lat.get(lk.kind, 1.0),
        )
        _check_scaled(new, bw, lat, file)
        attrs = graph.edges[lk.src, lk.dst]
        attrs["bandwidth_Bps"] = new.bandwidth_Bps
        attrs["latency_s"] = new.latency_s
        links.append(new)
    meta = dict(topology.metadata)
    meta["what_if"] = {
        "bandwidth_scale": {k.value: f for k, f in bw.items()},
        "latency_scale": {k.value: f for k, f in lat.items()},
    }
    return Topology(topology.name, graph, links, topology.ranks, meta, ecmp=topology.ecmp)


def _check_scaled(
    link: Link, bw: Mapping[LinkKind, float], lat: Mapping[LinkKind, float], file: str | None
) -> None:
    """Refuse a scaled link outside the bounds of a loaded one (``bandwidth_scale: 1e30``
    gave 1e40 B/s links and a step time of zero communication; ``1e-300`` steps of 1e296 s)."""
    if link.kind in bw and link.bandwidth_Bps < MIN_LINK_BANDWIDTH_BPS:
        raise InputError(
            f"factor {bw[link.kind]:g} makes link {link.src}-{link.dst} "
            f"{link.bandwidth_Bps:g} bytes/s, below the limit of "
            f"{MIN_LINK_BANDWIDTH_BPS:g} (8 kbit/s)",
            file=file,
            field=f"network.bandwidth_scale.{link.kind.value}",
        )
    if link.kind in bw and link.bandwidth_Bps > MAX_LINK_BANDWIDTH_BPS:
        raise InputError(
            f"factor {bw[link.kind]:g} makes link {link.src}-{link.dst} "
            f"{link.bandwidth_Bps:g} bytes/s, past the limit of "
            f"{MAX_LINK_BANDWIDTH_BPS:g} (1 PB/s)",
            file=file,
            field=f"network.bandwidth_scale.{link.kind.value}",
        )
    if link.kind in lat and link.latency_s > MAX_LINK_LATENCY_S:
        raise InputError(
            f"factor {lat[link.kind]:g} makes link {link.src}-{link.dst} latency "
            f"{link.latency_s:g} s, past the limit of {MAX_LINK_LATENCY_S:g} s",
            file=file,
            field=f"network.latency_scale.{link.kind.value}",
        )
