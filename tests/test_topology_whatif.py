"""What-if link scaling: the topology edit and the scenario's ``network:`` section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.collectives.simulate import simulate_collective
from simulator.topology import LinkKind, load_topology
from simulator.topology.whatif import scale_links


def test_scales_only_the_named_kind_and_leaves_the_original() -> None:
    topo = load_topology("dgx-a100-2node")
    fast = scale_links(topo, bandwidth={"infiniband": 2.0}, latency={LinkKind.NVLINK: 3.0})
    for old, new in zip(topo.links, fast.links, strict=True):
        bw = 2.0 if old.kind is LinkKind.INFINIBAND else 1.0
        lat = 3.0 if old.kind is LinkKind.NVLINK else 1.0
        assert new.bandwidth_Bps == pytest.approx(old.bandwidth_Bps * bw)
        assert new.latency_s == pytest.approx(old.latency_s * lat)
        assert fast.graph.edges[new.src, new.dst]["bandwidth_Bps"] == new.bandwidth_Bps
    assert fast.capacity_Bps.sum() > topo.capacity_Bps.sum()
    assert fast.metadata["what_if"]["bandwidth_scale"] == {"infiniband": 2.0}
    assert "what_if" not in topo.metadata
    assert scale_links(topo, {"wan": 1.0}) is topo


def test_rejects_unknown_kinds_and_bad_factors() -> None:
    topo = load_topology("dgx-a100")
    with pytest.raises(ValueError, match="unknown link kind 'ib'"):
        scale_links(topo, bandwidth={"ib": 2.0})
    with pytest.raises(ValueError, match="must be > 0"):
        scale_links(topo, latency={"nvlink": 0.0})


def test_the_bottleneck_decides_what_faster_links_buy() -> None:
    topo = load_topology("dgx-a100-2node")

    def t(scale: dict[str, float]) -> float:
        return simulate_collective(scale_links(topo, scale), "all_reduce", 1 << 30).time_s

    base = t({})
    # HDR -> NDR-like NICs alone: each NIC hangs off a PCIe 4.0 x16 switch (31.5 GB/s), which
    # then caps the inter-node path, so a 1 GiB all-reduce gains only a few percent ...
    assert 1.0 < base / t({"infiniband": 2.0}) < 1.1
    # ... faster PCIe alone changes nothing (the NIC is the bottleneck) ...
    assert base / t({"pcie": 2.0}) == pytest.approx(1.0)
    # ... and both together move the bottleneck to NVLink: a large gain, at most 2x.
    assert 1.2 < base / t({"infiniband": 2.0, "pcie": 2.0}) <= 2.0


SCENARIO = """
name: tiny-2node
topology: dgx-a100-2node
model: {name: tiny, layers: 2, hidden: 1024, heads: 8, vocab: 1024}
training: {global_batch: 16, micro_batch: 1, seq_len: 64, dtype: fp32}
strategy: {dp: 16}
"""


def test_scenario_network_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(SCENARIO)
    assert main(["run", str(p), "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    args = ["run", str(p), "--json", "--set", "network.bandwidth_scale.infiniband=4"]
    assert main(args) == 0
    fast = json.loads(capsys.readouterr().out)
    assert fast["network_what_if"]["bandwidth_scale"] == {"infiniband": 4.0}
    assert fast["comm_s"] < base["comm_s"]
    assert main(["run", str(p), "--set", "network.bandwidth_scale.ib=2"]) == 2
    err = capsys.readouterr().err
    assert "network.bandwidth_scale" in err and "unknown link kind 'ib'" in err
