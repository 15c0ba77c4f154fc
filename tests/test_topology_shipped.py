"""Every shipped topology loads, has the expected ranks, and its figures hold together."""

from __future__ import annotations

import pytest

from simulator.resources import shipped_dir, shipped_names
from simulator.topology import LinkKind, NodeKind, load_topology
from simulator.topology.builders import cluster
from simulator.topology.summary import bisection_bandwidth_Bps, summarize

#: name -> (ranks, hosts) of the topologies this area ships (rig-* belong to simulator/rig/).
EXPECTED = {
    "dgx-a100": (8, 1),
    "dgx-a100-2node": (16, 2),
    "dgx-h100": (8, 1),
    "fat-tree-1024": (1024, 128),
    "dgx-a100-8node": (64, 8),
    "h100-superpod-1024": (1024, 128),
    "dgx-h100-32node": (256, 32),
    "dgx-a100-superpod": (1120, 140),
    "pcie-8gpu": (8, 1),
    "roce-2to1": (256, 32),
    "tpu-torus-4x4x4": (64, 16),
    "two-dc-wan": (32, 4),
    "ten-node-10gbe": (10, 10),
}


def test_all_expected_files_are_shipped() -> None:
    assert set(EXPECTED) <= set(shipped_names("topologies"))


@pytest.mark.parametrize("name", shipped_names("topologies"))
def test_every_shipped_topology_loads_and_routes(name: str) -> None:
    topo = load_topology(name)
    assert topo.metadata.get("description"), f"{name} lacks a description"
    assert topo.num_ranks >= 1
    if name in EXPECTED:
        assert (topo.num_ranks, len(topo.hosts())) == EXPECTED[name]
    if topo.num_ranks > 1:
        path = topo.route(0, topo.num_ranks - 1)
        inner = topo.path_nodes(path)[1:-1]
        assert not any(NodeKind(topo.graph.nodes[n]["kind"]).is_endpoint for n in inner)
    # every link has its reverse with the same bandwidth (full duplex)
    for lk in topo.links:
        back = topo.graph.edges[lk.dst, lk.src]
        assert back["bandwidth_Bps"] == lk.bandwidth_Bps


def test_shipped_descriptions_cite_sources() -> None:
    for name in EXPECTED:
        text = (shipped_dir("topologies") / f"{name}.yaml").read_text(encoding="utf-8")
        assert any(
            w in text
            for w in (
                "Datasheet",
                "Specification",
                "IEEE",
                "ASSUMPTION",
                "assumption",
                "Reference Architecture",
                "ITU-T",
            )
        )


def test_dgx_nodes_per_gpu_figures() -> None:
    a100 = load_topology("dgx-a100")
    h100 = load_topology("dgx-h100")
    assert a100.path_bandwidth_Bps(a100.route(0, 7)) == pytest.approx(300e9)
    assert h100.path_bandwidth_Bps(h100.route(0, 7)) == pytest.approx(450e9)
    assert len(a100.nodes_of_kind(NodeKind.NVSWITCH)) == 1  # one logical NVSwitch
    assert a100.ranks_by_host() == {"node0": list(range(8))}


def test_superpod_rails_and_nic_speed() -> None:
    topo = load_topology("h100-superpod-1024")
    s = summarize(topo)
    assert s["nic_bandwidth_per_host_Bps"] == pytest.approx(8 * 50e9)  # 8x 400 Gb/s
    # rail-optimised: GPU 3 of node 0 and GPU 3 of node 5 meet at one leaf (same unit)
    nodes = topo.path_nodes(topo.route(3, 5 * 8 + 3))
    assert [n for n in nodes if "leaf" in n or "spine" in n] == ["leaf3"]
    # different rails cross a spine
    nodes = topo.path_nodes(topo.route(3, 5 * 8 + 4))
    assert any("spine" in n for n in nodes)


def test_wan_latency_follows_distance() -> None:
    topo = load_topology("two-dc-wan")
    wan = [lk for lk in topo.links if lk.kind is LinkKind.WAN]
    assert len(wan) == 2
    assert wan[0].latency_s == pytest.approx(200 * 4.9e-6)
    assert wan[0].bandwidth_Bps == pytest.approx(12.5e9)
    path = topo.route(0, topo.num_ranks - 1)
    assert topo.path_bandwidth_Bps(path) == pytest.approx(12.5e9)


def test_bisection_two_tier_oversubscribed_is_half() -> None:
    full = cluster(nodes=16, fabric="fat_tree", switch_radix=32)
    half = cluster(nodes=16, fabric="fat_tree", switch_radix=32, oversubscription=2)
    nic_Bps = 25e9
    assert bisection_bandwidth_Bps(full) == pytest.approx(8 * 8 * nic_Bps)  # half the NICs
    assert bisection_bandwidth_Bps(half) == pytest.approx(bisection_bandwidth_Bps(full) / 2)


def test_bisection_of_shipped_trees() -> None:
    assert bisection_bandwidth_Bps(load_topology("fat-tree-1024")) == pytest.approx(64 * 8 * 25e9)
    assert bisection_bandwidth_Bps(load_topology("roce-2to1")) == pytest.approx(16 * 8 * 25e9 / 2)
    three = load_topology("dgx-a100-superpod")
    assert bisection_bandwidth_Bps(three) == pytest.approx(70 * 8 * 25e9)
    # torus 4x4x4: the plane between x<2 and x>=2 is crossed by 2 x 16 links
    assert bisection_bandwidth_Bps(load_topology("tpu-torus-4x4x4")) == pytest.approx(32 * 50e9)


def test_bisection_three_tier_spine_oversubscription() -> None:
    kw = dict(nodes=16, fabric="fat_tree_3tier", switch_radix=16, pod_leaves=2)
    full = cluster(**kw)
    over = cluster(**kw, spine_oversubscription=4)
    assert bisection_bandwidth_Bps(over) == pytest.approx(bisection_bandwidth_Bps(full) / 4)


def test_summary_tiers_report_oversubscription() -> None:
    s = summarize(load_topology("roce-2to1"))
    leaf = s["switch_tiers"][0]
    assert leaf["tier"] == 1 and leaf["oversubscription"] == pytest.approx(2.0)
    assert s["links_by_kind"]["ethernet"] == 256 + 8 * 2


def test_ranks_by_host_groups_servers_in_order() -> None:
    topo = load_topology("dgx-a100-2node")
    assert topo.ranks_by_host() == {"node0": list(range(8)), "node1": list(range(8, 16))}
    assert topo.hosts() == ["node0", "node1"]
    assert topo.host_of(9) == "node1"
    wan = load_topology("two-dc-wan")
    assert wan.hosts() == ["dc0.node0", "dc0.node1", "dc1.node0", "dc1.node1"]
