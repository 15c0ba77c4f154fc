"""TPU-like ring / 2D / 3D torus of accelerator chips.

Each chip is a ``gpu`` endpoint plus its on-chip router (a ``switch`` node, ``chipN.router``):
the chips of a torus forward each other's traffic, but no route may transit an endpoint, so the
forwarding is done by the router, as the ICI router on a TPU die does. The chip-router link has
``injection_bandwidth`` (default: the sum of the chip's torus links, so it never binds before
them). Neighbour routers along each dimension are joined with wrap-around; a dimension of size
2 has one link (its +1 and -1 neighbours coincide), a dimension of size 1 none.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import LinkKind, NodeKind, Topology

#: Default per-direction bandwidth of one torus link. ASSUMPTION: Google Cloud's TPU v4 system
#: architecture page lists 2,400 Gb/s of ICI bandwidth per chip over 6 links = 400 Gb/s = 50 GB/s
#: per link; whether that figure counts one direction or both is not stated, so this is an
#: upper estimate per direction.
DEFAULT_TORUS_LINK_Bps = 50e9
#: ASSUMPTION: hop latency of a chip-to-chip link (no public figure), order of NVLink's.
DEFAULT_TORUS_LATENCY_s = 1e-6


def torus(
    name: str = "torus",
    dims: Sequence[int] = (4, 4, 4),
    link_bandwidth_Bps: float = DEFAULT_TORUS_LINK_Bps,
    link_latency_s: float = DEFAULT_TORUS_LATENCY_s,
    injection_bandwidth_Bps: float | None = None,
    chips_per_host: int = 4,
    kind: str = "nvlink",
) -> Topology:
    """A ``len(dims)``-dimensional torus of ``prod(dims)`` chips (ranks in row-major order).

    ``chips_per_host`` consecutive chips share a host (TPU v4 hosts hold 4 chips).
    """
    dims = list(dims)
    if not dims or len(dims) > 3 or not all(isinstance(d, int) and d >= 1 for d in dims):
        raise ValueError(f"dims: 1 to 3 positive integers, got {dims!r}")
    if not isinstance(chips_per_host, int) or chips_per_host < 1:
        raise ValueError(f"chips_per_host: must be an integer >= 1, got {chips_per_host!r}")
    lk = LinkKind(kind)
    degree = sum(2 if d > 2 else (1 if d == 2 else 0) for d in dims)
    inj = injection_bandwidth_Bps or link_bandwidth_Bps * max(degree, 1)
    gb = GraphBuilder()
    coords = list(itertools.product(*(range(d) for d in dims)))
    index = {c: i for i, c in enumerate(coords)}
    ranks = []
    for i, _c in enumerate(coords):
        host = f"host{i // chips_per_host}"
        g = gb.add_node(f"chip{i}", NodeKind.GPU, host=host)
        r = gb.add_node(f"chip{i}.router", NodeKind.SWITCH, host=host)
        gb.add_link(g, r, inj, 0.0, lk)
        ranks.append(g)
    for c in coords:
        for axis, size in enumerate(dims):
            if size == 1:
                continue
            nb = list(c)
            nb[axis] = (c[axis] + 1) % size
            a, b = f"chip{index[c]}.router", f"chip{index[tuple(nb)]}.router"
            if not gb.has_link(a, b):
                gb.add_link(a, b, link_bandwidth_Bps, link_latency_s, lk)
    meta: dict[str, object] = {
        "builder": "torus",
        "dims": dims,
        "link_bandwidth_Bps": link_bandwidth_Bps,
        "link_latency_s": link_latency_s,
        "injection_bandwidth_Bps": inj,
        "chips_per_host": chips_per_host,
    }
    return gb.build(name, ranks=ranks, metadata=meta)
