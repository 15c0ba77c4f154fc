"""Whole topologies from servers and fabrics: single nodes, clusters, two datacenters.

All functions return a :class:`~simulator.topology.model.Topology` and can be called from
Python or from YAML (``build: {type: cluster, nodes: 128, ...}``; a YAML key ``nic_bandwidth``
fills ``nic_bandwidth_Bps`` with units parsed). Hosts are named ``node0``, ``node1``... (in
``two_datacenters``: ``dc0.node0``...); every GPU's ``host`` attribute is its server, so
``Topology.ranks_by_host()`` groups a server's GPUs. Ranks are server-major, GPU-minor.
"""

from __future__ import annotations

from simulator.hardware import get_gpu, get_link, wan_latency_per_km_s
from simulator.topology.builders.fabrics import BuilderChoice, Fabric, attach_fabric
from simulator.topology.builders.nodes import Server, add_dgx_server, add_pcie_server
from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import LinkKind, NodeKind, Topology
from simulator.topology.routing import Ecmp


class NodeType(BuilderChoice):
    """Server design."""

    DGX = "dgx"  # NVSwitch node (DGX/HGX)
    PCIE = "pcie"  # GPUs on PCIe switches only


def _add_servers(
    gb: GraphBuilder,
    hosts: list[str],
    *,
    node: NodeType | str,
    gpu: str,
    gpus_per_node: int,
    nics_per_node: int,
    gpus_per_switch: int,
    nvlink_bandwidth_Bps: float | None,
    pcie: str | None,
) -> list[Server]:
    nt = NodeType(node)
    out = []
    for h in hosts:
        if nt is NodeType.DGX:
            out.append(
                add_dgx_server(
                    gb,
                    h,
                    gpu=gpu,
                    gpus=gpus_per_node,
                    nics=nics_per_node,
                    nvlink_bandwidth_Bps=nvlink_bandwidth_Bps,
                    pcie=pcie,
                )
            )
        else:
            out.append(
                add_pcie_server(
                    gb,
                    h,
                    gpu=gpu,
                    gpus=gpus_per_node,
                    nics=nics_per_node,
                    gpus_per_switch=gpus_per_switch,
                    pcie=pcie,
                )
            )
    return out


#: Fabrics whose switches form a tree (leaf up to spine/core): routed destination-based
#: (D-mod-K) by default, as InfiniBand subnet managers route fat trees (docs/decisions.md).
TREE_FABRICS = (Fabric.FAT_TREE, Fabric.RAIL_OPTIMIZED, Fabric.FAT_TREE_3TIER)


def _ecmp_for(fabric: Fabric) -> Ecmp:
    return Ecmp.DMODK if fabric in TREE_FABRICS else Ecmp.HASH


def _copy_ports(gb: GraphBuilder, servers: list[Server]) -> None:
    """Give every GPU the leaf-port number of the NIC it uses (its D-mod-K index)."""
    for s in servers:
        for g, j in zip(s.gpus, s.gpu_nic, strict=False):
            port = gb.nodes[s.nics[j]].get("port")
            if port is not None:
                gb.nodes[g]["port"] = port


def _nic(
    nic: str, nic_bandwidth_Bps: float | None, switch_latency_s: float | None
) -> tuple[float, float, LinkKind]:
    spec = get_link(nic)
    kind = LinkKind(spec.kind)
    if kind not in (LinkKind.INFINIBAND, LinkKind.ETHERNET):
        raise ValueError(f"nic: {nic!r} is a {kind.value} link, not a network (ib_*/roce_*/eth_*)")
    bw = spec.bandwidth_Bps if nic_bandwidth_Bps is None else nic_bandwidth_Bps
    lat = spec.latency_s if switch_latency_s is None else switch_latency_s
    return bw, lat, kind


def cluster(
    name: str = "cluster",
    nodes: int = 2,
    node: str = "dgx",
    gpu: str = "A100-80GB",
    gpus_per_node: int = 8,
    nics_per_node: int = 8,
    nic: str = "ib_hdr",
    nic_bandwidth_Bps: float | None = None,
    fabric: str = "fat_tree",
    switch_radix: int = 64,
    leaf_down_ports: int | None = None,
    oversubscription: float = 1.0,
    spine_oversubscription: float = 1.0,
    pod_leaves: int | None = None,
    switch_latency_s: float | None = None,
    gpus_per_switch: int = 4,
    nvlink_bandwidth_Bps: float | None = None,
    pcie: str | None = None,
) -> Topology:
    """``nodes`` servers (``node``: dgx | pcie) joined by ``fabric`` (see fabrics module).

    ``nic`` names a catalog link (ib_edr/ib_hdr/ib_ndr/ib_xdr, roce_100g/200g/400g, eth_10g)
    giving the per-direction NIC bandwidth and switch-hop latency unless overridden. Tree
    fabrics (fat_tree, rail_optimized, fat_tree_3tier) are routed D-mod-K (``ecmp: dmodk``),
    others by hash; a topology file's ``routing: {ecmp: ...}`` overrides it.
    """
    if not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"nodes: must be an integer >= 1, got {nodes!r}")
    get_gpu(gpu)
    bw, lat, kind = _nic(nic, nic_bandwidth_Bps, switch_latency_s)
    gb = GraphBuilder()
    hosts = [f"node{i}" for i in range(nodes)]
    servers = _add_servers(
        gb,
        hosts,
        node=node,
        gpu=gpu,
        gpus_per_node=gpus_per_node,
        nics_per_node=nics_per_node,
        gpus_per_switch=gpus_per_switch,
        nvlink_bandwidth_Bps=nvlink_bandwidth_Bps,
        pcie=pcie,
    )
    fab = Fabric(fabric) if nodes > 1 else Fabric.NONE
    if nodes > 1 and fab is Fabric.NONE:
        raise ValueError("fabric: several nodes need a fabric")
    attach_fabric(
        gb,
        servers,
        fabric=fab,
        nic_bandwidth_Bps=bw,
        latency_s=lat,
        kind=kind,
        switch_radix=switch_radix,
        leaf_down_ports=leaf_down_ports,
        oversubscription=oversubscription,
        spine_oversubscription=spine_oversubscription,
        pod_leaves=pod_leaves,
    )
    meta: dict[str, object] = {
        "builder": "cluster",
        "gpu": get_gpu(gpu).name,
        "node_type": NodeType(node).value,
        "nodes": nodes,
        "gpus_per_node": gpus_per_node,
        "nics_per_node": nics_per_node,
        "nic": nic,
        "nic_bandwidth_Bps": bw,
        "fabric": fab.value,
        "oversubscription": oversubscription,
        "spine_oversubscription": spine_oversubscription,
        "switch_radix": switch_radix,
    }
    _copy_ports(gb, servers)
    return gb.build(
        name, ranks=[g for s in servers for g in s.gpus], metadata=meta, ecmp=_ecmp_for(fab)
    )


def dgx_node(
    name: str = "dgx",
    gpu: str = "A100-80GB",
    gpus: int = 8,
    nics: int = 8,
    nic: str = "ib_hdr",
    nvlink_bandwidth_Bps: float | None = None,
) -> Topology:
    """One DGX/HGX server (NVSwitch node); NICs present but joined to nothing."""
    return cluster(
        name=name,
        nodes=1,
        node="dgx",
        gpu=gpu,
        gpus_per_node=gpus,
        nics_per_node=nics,
        nic=nic,
        fabric="none",
        nvlink_bandwidth_Bps=nvlink_bandwidth_Bps,
    )


def pcie_node(
    name: str = "pcie",
    gpu: str = "L40S",
    gpus: int = 8,
    gpus_per_switch: int = 4,
    pcie: str | None = None,
) -> Topology:
    """One PCIe-only server (no NVLink): GPUs on PCIe switches joined at the root complex."""
    return cluster(
        name=name,
        nodes=1,
        node="pcie",
        gpu=gpu,
        gpus_per_node=gpus,
        nics_per_node=0,
        fabric="none",
        gpus_per_switch=gpus_per_switch,
        pcie=pcie,
    )


def _wan(
    wan: str, bandwidth_Bps: float | None, distance_km: float, latency_s: float | None
) -> tuple[float, float]:
    """WAN link bandwidth (catalog ``wan`` unless given) and latency (``distance_km`` x the
    catalog's fibre delay per km unless given): ``(bandwidth_Bps, latency_s)``."""
    if not distance_km >= 0:
        raise ValueError(f"distance_km: must be >= 0, got {distance_km}")
    bw = get_link(wan).bandwidth_Bps if bandwidth_Bps is None else bandwidth_Bps
    lat = distance_km * wan_latency_per_km_s() if latency_s is None else latency_s
    return bw, lat


def two_datacenters(
    name: str = "two-dc",
    nodes_per_dc: int = 2,
    node: str = "dgx",
    gpu: str = "A100-80GB",
    gpus_per_node: int = 8,
    nics_per_node: int = 8,
    nic: str = "ib_hdr",
    nic_bandwidth_Bps: float | None = None,
    fabric: str = "single_switch",
    wan: str = "wan_100g",
    wan_bandwidth_Bps: float | None = None,
    distance_km: float = 200.0,
    wan_latency_s: float | None = None,
    gateway_bandwidth_Bps: float | None = None,
    gpus_per_switch: int = 4,
) -> Topology:
    """Two datacenters of ``nodes_per_dc`` servers, each on its own ``fabric``, joined by one
    WAN link between gateways ``dc0.gw`` and ``dc1.gw``.

    WAN latency defaults to ``distance_km`` x the fibre propagation delay of the catalog
    (4.9 us/km). Each gateway joins every top switch of its datacenter at
    ``gateway_bandwidth`` (default: the WAN bandwidth), so the WAN link is the bottleneck.
    """
    if not isinstance(nodes_per_dc, int) or nodes_per_dc < 1:
        raise ValueError(f"nodes_per_dc: must be an integer >= 1, got {nodes_per_dc!r}")
    wan_bw, wan_lat = _wan(wan, wan_bandwidth_Bps, distance_km, wan_latency_s)
    bw, lat, kind = _nic(nic, nic_bandwidth_Bps, None)
    gw_bw = wan_bw if gateway_bandwidth_Bps is None else gateway_bandwidth_Bps
    gb = GraphBuilder()
    ranks: list[str] = []
    gateways = []
    for dc in range(2):
        hosts = [f"dc{dc}.node{i}" for i in range(nodes_per_dc)]
        servers = _add_servers(
            gb,
            hosts,
            node=node,
            gpu=gpu,
            gpus_per_node=gpus_per_node,
            nics_per_node=nics_per_node,
            gpus_per_switch=gpus_per_switch,
            nvlink_bandwidth_Bps=None,
            pcie=None,
        )
        tops = attach_fabric(
            gb,
            servers,
            fabric=fabric,
            nic_bandwidth_Bps=bw,
            latency_s=lat,
            kind=kind,
            prefix=f"dc{dc}.",
        )
        if not tops:
            raise ValueError("fabric: each datacenter needs a fabric (not 'none')")
        gw = gb.add_node(f"dc{dc}.gw", NodeKind.GATEWAY)
        for t in tops:
            gb.add_link(t, gw, gw_bw, lat, kind)
        gateways.append(gw)
        ranks.extend(g for s in servers for g in s.gpus)
        _copy_ports(gb, servers)
    gb.add_link(gateways[0], gateways[1], wan_bw, wan_lat, LinkKind.WAN)
    meta: dict[str, object] = {
        "builder": "two_datacenters",
        "gpu": get_gpu(gpu).name,
        "node_type": NodeType(node).value,
        "nodes": 2 * nodes_per_dc,
        "gpus_per_node": gpus_per_node,
        "nics_per_node": nics_per_node,
        "nic": nic,
        "nic_bandwidth_Bps": bw,
        "fabric": Fabric(fabric).value,
        "wan_bandwidth_Bps": wan_bw,
        "wan_latency_s": wan_lat,
        "distance_km": distance_km,
    }
    return gb.build(name, ranks=ranks, metadata=meta, ecmp=_ecmp_for(Fabric(fabric)))
