"""Destination-based (D-mod-K) routing on fat trees, the routing policy option, and servers
with fewer NICs than GPUs."""

from __future__ import annotations

import itertools
from collections import Counter
from functools import cache
from pathlib import Path

import networkx as nx
import pytest

from simulator.collectives import simulate_collective
from simulator.collectives.ring import ring_order
from simulator.core.errors import InputError
from simulator.topology import NodeKind, Topology, load_topology, topology_from_dict
from simulator.topology.builders import cluster, torus, two_datacenters
from simulator.topology.routing import Ecmp, Router
from simulator.topology.whatif import scale_links

HDR_Bps = 25e9  # one HDR 200 Gb/s port per direction (the NIC speed of fat-tree-1024)


@cache
def _fat_tree(ecmp: str) -> Topology:
    topo = load_topology("fat-tree-1024")
    topo.set_ecmp(ecmp)
    return topo


def _switch_link_flows(topo: Topology, pairs: list[tuple[int, int, int]]) -> Counter[int]:
    """Flows per switch-to-switch link (one direction) for ``(src, dst, key)`` pairs."""
    flows: Counter[int] = Counter()
    for s, d, k in pairs:
        for lid in topo.route(s, d, k):
            lk = topo.links[lid]
            if topo.graph.nodes[lk.src]["kind"] == topo.graph.nodes[lk.dst]["kind"] == "switch":
                flows[lid] += 1
    return flows


def _nccl_ring_pairs(topo: Topology, channels: int = 8) -> list[tuple[int, int, int]]:
    """The hops of the collectives' ring all-reduce: ``channels`` rings over every rank."""
    n = topo.num_ranks
    hosts = [topo.host_of(r) for r in range(n)]
    pairs: list[tuple[int, int, int]] = []
    for c in range(channels):
        order = ring_order(list(range(n)), hosts, c)
        pairs.extend((order[i], order[(i + 1) % n], c) for i in range(n))
    return pairs


# ---------------------------------------------------------------------- policy defaults


def test_tree_fabrics_default_to_dmodk_others_to_hash() -> None:
    for fabric in ("fat_tree", "rail_optimized", "fat_tree_3tier"):
        assert cluster(nodes=4, fabric=fabric, switch_radix=16).ecmp is Ecmp.DMODK
    assert cluster(nodes=4, fabric="single_switch").ecmp is Ecmp.HASH
    assert cluster(nodes=1).ecmp is Ecmp.HASH
    assert torus(dims=[2, 2]).ecmp is Ecmp.HASH
    assert two_datacenters(fabric="fat_tree").ecmp is Ecmp.DMODK
    assert load_topology("loopback-2").ecmp is Ecmp.HASH  # explicit form
    for name in ("fat-tree-1024", "h100-superpod-1024", "dgx-a100-superpod", "dgx-a100-8node"):
        assert load_topology(name).ecmp is Ecmp.DMODK


def test_routing_section_overrides_the_default(tmp_path: Path) -> None:
    build = {"type": "cluster", "nodes": 4, "fabric": "fat_tree", "switch_radix": 16}
    assert topology_from_dict({"build": build, "routing": {"ecmp": "hash"}}).ecmp is Ecmp.HASH
    path = tmp_path / "pair.yaml"
    path.write_text(
        "nodes: [{name: a, kind: cpu}, {name: b, kind: cpu}, {name: s, kind: switch}]\n"
        "links:\n"
        "  - {a: a, b: s, bandwidth: 1Gbps, latency: 1us, kind: ethernet}\n"
        "  - {a: b, b: s, bandwidth: 1Gbps, latency: 1us, kind: ethernet}\n"
        "routing: {ecmp: dmodk}\n",
        encoding="utf-8",
    )
    topo = load_topology(path)
    assert topo.ecmp is Ecmp.DMODK
    assert topo.path_nodes(topo.route(0, 1)) == ["a", "s", "b"]


@pytest.mark.parametrize(
    ("routing", "field"),
    [({"ecmp": "random"}, "routing.ecmp"), ({"spread": 1}, "routing.spread"), ("hash", "routing")],
)
def test_bad_routing_section_names_the_field(routing: object, field: str) -> None:
    with pytest.raises(InputError) as err:
        topology_from_dict({"build": {"type": "cluster", "nodes": 2}, "routing": routing}, file="t")
    assert err.value.field == field


def test_set_ecmp_drops_cached_routes_and_what_if_keeps_the_policy() -> None:
    topo = cluster(nodes=16, fabric="fat_tree", switch_radix=32)  # 8 leaves, 4 spines
    before = [topo.route(0, d) for d in range(16, 128)]
    topo.set_ecmp("hash")
    after = [topo.route(0, d) for d in range(16, 128)]
    assert before != after
    topo.set_ecmp("dmodk")
    assert [topo.route(0, d) for d in range(16, 128)] == before
    assert scale_links(topo, bandwidth={"infiniband": 2.0}).ecmp is Ecmp.DMODK


# ---------------------------------------------------------------------- D-mod-K routes


def test_spine_is_destination_port_mod_spines_whatever_the_source_and_key() -> None:
    topo = _fat_tree("dmodk")  # 32 leaves of 32 NICs, 16 spines; rank r uses NIC port r
    for d in (40, 41, 100, 555, 1023):
        for s, key in ((0, 0), (3, 5), (700, 1), (1000, 7)):
            if topo.host_of(s) == topo.host_of(d) or s // 32 == d // 32:
                continue
            nodes = topo.path_nodes(topo.route(s, d, key))
            assert nodes[4] == f"spine{d % 16}", (s, d, key)


def test_three_tier_picks_pod_spine_then_core_by_destination() -> None:
    # 4 pods of 2 leaves x 4 NICs; 4 spines per pod (radix 4: 2 ports down); core group g
    # (2 cores) joins spine g of every pod
    topo = cluster(
        nodes=8,
        gpus_per_node=4,
        nics_per_node=4,
        fabric="fat_tree_3tier",
        switch_radix=4,
        leaf_down_ports=4,
        pod_leaves=2,
    )
    spines = {n for n in topo.nodes_of_kind("switch") if ".spine" in n}
    cores = {n for n in topo.nodes_of_kind("switch") if n.startswith("core")}
    assert (len(spines), len(cores)) == (16, 8)
    for d in range(8, 32):
        port = topo.graph.nodes[topo.ranks[d]]["port"]
        assert port == d  # nics == gpus, NICs fill leaves in node order
        nodes = topo.path_nodes(topo.route(0, d))  # from pod 0 to pods 1..3
        assert nodes[4] == f"pod0.spine{d % 4}"
        assert nodes[5] == f"core{d % 4}.{(d // 4) % 2}"


def test_nccl_ring_on_fat_tree_1024_puts_one_flow_per_spine_link() -> None:
    pairs = _nccl_ring_pairs(_fat_tree("dmodk"))
    dmodk = _switch_link_flows(_fat_tree("dmodk"), pairs)
    assert dmodk and max(dmodk.values()) == 1  # every leaf<->spine link, each direction
    hashed = _switch_link_flows(_fat_tree("hash"), pairs)
    assert max(hashed.values()) >= 2  # the collisions that D-mod-K removes


@pytest.mark.parametrize("shift", [1, 8, 31, 32, 100, 511])
def test_shift_permutation_never_oversubscribes_a_spine_link(shift: int) -> None:
    topo = _fat_tree("dmodk")
    n = topo.num_ranks
    flows = _switch_link_flows(topo, [(i, (i + shift) % n, 0) for i in range(n)])
    for lid, count in flows.items():
        assert count <= topo.links[lid].bandwidth_Bps / HDR_Bps  # NIC-speed ports of the link


def test_rail_and_three_tier_superpods_route_the_ring_without_collisions() -> None:
    for name in ("h100-superpod-1024", "dgx-a100-superpod"):
        topo = load_topology(name)
        flows = _switch_link_flows(topo, _nccl_ring_pairs(topo))
        assert max(flows.values()) == 1, name


def test_dmodk_raises_ring_busbw_to_the_nic_bound() -> None:
    size_B = 16 * 2**30  # large enough that the 2,046 ring steps' latency is small

    def busbw(topo: Topology) -> float:
        res = simulate_collective(
            topo, "all_reduce", size_B, algo="ring", fidelity="analytical", record=False
        )
        return res.busbw_Bps

    dmodk, hashed = busbw(_fat_tree("dmodk")), busbw(_fat_tree("hash"))
    eight = busbw(load_topology("dgx-a100-8node"))
    assert dmodk > 1.3 * hashed
    # the same NICs per GPU as the 8-node rail-optimised cluster: within its ring latency
    assert dmodk >= 0.9 * eight


def test_router_rejects_wrong_length_destination_index() -> None:
    topo = cluster(nodes=2, fabric="single_switch")
    with pytest.raises(ValueError, match="dest_index"):
        Router(topo.graph, topo.ranks, ecmp="dmodk", dest_index=[0, 1])


# ---------------------------------------------------------------------- fewer NICs than GPUs


def _reference_hops(topo: Topology, s: int, d: int) -> int:
    keep = [
        n
        for n, k in topo.graph.nodes(data="kind")
        if not NodeKind(k).is_endpoint or n in (topo.ranks[s], topo.ranks[d])
    ]
    return int(nx.shortest_path_length(topo.graph.subgraph(keep), topo.ranks[s], topo.ranks[d]))


@pytest.mark.parametrize("nics", [1, 3, 4])
@pytest.mark.parametrize("fabric", ["fat_tree", "single_switch", "rail_optimized"])
def test_fewer_nics_than_gpus_route_every_pair(nics: int, fabric: str) -> None:
    topo = cluster(nodes=3, nics_per_node=nics, fabric=fabric, switch_radix=8)
    assert len(topo.nodes_of_kind("nic")) == 3 * nics
    for s, d in itertools.permutations(range(topo.num_ranks), 2):
        path = topo.route(s, d)
        nodes = topo.path_nodes(path)
        assert nodes[0] == topo.ranks[s] and nodes[-1] == topo.ranks[d]
        assert not any(NodeKind(topo.graph.nodes[x]["kind"]).is_endpoint for x in nodes[1:-1])
        assert len(path) == _reference_hops(topo, s, d)
        if topo.host_of(s) == topo.host_of(d):  # inside a server: NVSwitch, never PCIe
            assert len(path) == 2 and nodes[1].endswith(".nvswitch")
        else:  # leaves through the NIC of its GPU's group
            group_nic = s % 8 * nics // 8
            assert f"{topo.host_of(s)}.nic{group_nic}" in nodes


def test_one_nic_per_server_is_the_bottleneck_it_should_be() -> None:
    topo = cluster(nodes=2, nics_per_node=1, fabric="single_switch")
    # every GPU of node0 leaves through node0.nic0; the NIC's PCIe link is shared by all 8
    nic_in = [
        lk.id for lk in topo.links if lk.dst == "node0.nic0" and lk.src.startswith("node0.pcie")
    ]
    assert len(nic_in) == 1
    for g in range(8):
        assert nic_in[0] in topo.route(g, 8 + g)
    res = simulate_collective(topo, "all_reduce", 2**30, algo="ring", record=False)
    assert res.busbw_Bps <= 25e9  # the 8 rings share one 25 GB/s NIC per direction
