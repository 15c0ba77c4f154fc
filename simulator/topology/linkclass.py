"""Link classes: links grouped by technology and by where they sit in the fabric.

A link's class is ``"<kind> <from>-><to>"``: its :class:`LinkKind` and the *level* of its two
ends. A switch's level is its tier (``t1`` leaf, ``t2`` spine, ``t3`` core, from
:func:`simulator.topology.summary.switch_tiers`); any other node's level is its node kind
(``gpu``, ``nic``, ``nvswitch``, ``pcie_switch``, ``gateway``...). Up and down directions are
distinct classes (``infiniband nic->t1`` and ``infiniband t1->nic``). The fabric sums the load of
every class as the simulation runs (``Fabric(link_group=...)``), which is what per-tier counter
tracks are drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.topology.model import NodeKind, Topology
from simulator.topology.summary import switch_tiers


@dataclass(frozen=True)
class LinkClasses:
    """Classes of a topology's links.

    Attributes:
        labels: class names, in order of first appearance by link id.
        kind, src_level, dst_level: the parts of each label.
        of_link: class index per link id.
        capacity_Bps: summed capacity of each class's links, B/s.
        count: links per class.
    """

    labels: tuple[str, ...]
    kind: tuple[str, ...]
    src_level: tuple[str, ...]
    dst_level: tuple[str, ...]
    of_link: npt.NDArray[np.intp]
    capacity_Bps: npt.NDArray[np.float64]
    count: npt.NDArray[np.intp]


def link_classes(topology: Topology) -> LinkClasses:
    """The :class:`LinkClasses` of ``topology`` (a simulation keeps them on its
    :class:`~simulator.collectives.context.SimContext`)."""
    tiers = switch_tiers(topology)
    nodes = topology.node_table

    def level(node: str) -> str:
        if nodes[node]["kind"] == NodeKind.SWITCH:
            return f"t{tiers.get(node, 1)}"
        return str(nodes[node]["kind"])

    index: dict[tuple[str, str, str], int] = {}
    of_link = np.zeros(len(topology.links), dtype=np.intp)
    for lk in topology.links:
        key = (str(lk.kind), level(lk.src), level(lk.dst))
        of_link[lk.id] = index.setdefault(key, len(index))
    keys = list(index)
    n = len(keys)
    return LinkClasses(
        labels=tuple(f"{k} {a}->{b}" for k, a, b in keys),
        kind=tuple(k for k, _, _ in keys),
        src_level=tuple(a for _, a, _ in keys),
        dst_level=tuple(b for _, _, b in keys),
        of_link=of_link,
        capacity_Bps=np.bincount(of_link, weights=topology.capacity_Bps, minlength=n).astype(
            np.float64
        ),
        count=np.bincount(of_link, minlength=n).astype(np.intp),
    )
