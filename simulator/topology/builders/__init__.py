"""Topology builders, usable from Python and from YAML (``build: {type: NAME, ...}``).

:data:`BUILDERS` maps each ``type`` to its function; see each function for its parameters.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.topology.builders.cluster import (
    NodeType,
    cluster,
    dgx_node,
    pcie_node,
    two_datacenters,
)
from simulator.topology.builders.fabrics import Fabric, attach_fabric
from simulator.topology.builders.mesh import dgx1_node
from simulator.topology.builders.nodes import Server, add_dgx_server, add_pcie_server
from simulator.topology.builders.torus import torus
from simulator.topology.model import Topology

#: YAML ``build.type`` -> builder function.
BUILDERS: dict[str, Callable[..., Topology]] = {
    "cluster": cluster,
    "dgx_node": dgx_node,
    "dgx1_node": dgx1_node,
    "pcie_node": pcie_node,
    "two_datacenters": two_datacenters,
    "torus": torus,
}

__all__ = [
    "BUILDERS",
    "Fabric",
    "NodeType",
    "Server",
    "add_dgx_server",
    "add_pcie_server",
    "attach_fabric",
    "cluster",
    "dgx1_node",
    "dgx_node",
    "pcie_node",
    "torus",
    "two_datacenters",
]
