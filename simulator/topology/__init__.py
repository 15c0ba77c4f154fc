"""Cluster topologies: GPUs, NVSwitch, PCIe, NICs, switches and WAN links as a graph.

Public API (contract in ``docs/interfaces.md``): :class:`NodeKind`, :class:`LinkKind`,
:class:`Link`, :class:`Topology`, :func:`load_topology`; builders in
:mod:`simulator.topology.builders`; :class:`GraphBuilder` to assemble one by hand.
"""

from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.loader import load_topology, topology_from_dict
from simulator.topology.model import Link, LinkKind, NodeKind, Topology

__all__ = [
    "GraphBuilder",
    "Link",
    "LinkKind",
    "NodeKind",
    "Topology",
    "load_topology",
    "topology_from_dict",
]
