"""What-if edits of a loaded topology: scale link bandwidth or latency per link kind.

This is how a scenario asks "what if InfiniBand had twice the bandwidth?" without writing a
new topology file: ``scale_links(topo, bandwidth={"infiniband": 2.0})`` returns a new
:class:`Topology` whose InfiniBand links carry twice their capacity (both directions), every
other link unchanged. Routes do not change (they are shortest in hops, not in time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

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
) -> Topology:
    """A copy of ``topology`` with link bandwidth and latency multiplied per link kind.

    Args:
        topology: the topology to edit (left unchanged).
        bandwidth: factor per link kind applied to ``bandwidth_Bps`` (dimensionless, > 0).
        latency: factor per link kind applied to ``latency_s`` (dimensionless, > 0).

    Returns:
        ``topology`` itself when no factor differs from 1, else a new :class:`Topology` with
        the same name, ranks and routes and ``metadata["what_if"]`` recording the factors.

    Raises:
        ValueError: an unknown link kind or a factor that is not positive.
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
