"""Perfetto counters per link tier: every link named by its tier, one track per tier and the
busiest links of each, as many as --links asks for."""

from __future__ import annotations

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.engine import simulate
from simulator.report.linktiers import link_tiers
from simulator.report.timeline import chrome_trace
from simulator.topology import load_topology


def test_tiers_of_a_fat_tree_and_two_datacenters() -> None:
    ft = set(link_tiers(load_topology("dgx-a100-8node")).values())
    assert {"NVLink", "PCIe", "node uplinks", "leaf-spine"} <= ft
    dc = set(link_tiers(load_topology("two-dc-wan")).values())
    assert {"WAN", "gateway", "node uplinks"} <= dc


def _result(topo_name: str) -> tuple[object, object]:
    topo = load_topology(topo_name)
    sc = scenario_from_dict({
        "name": "tiny", "topology": topo_name,
        "model": {"layers": 2, "hidden": 256, "heads": 4, "vocab": 512},
        "training": {"global_batch": 16, "micro_batch": 1, "seq_len": 64, "dtype": "bf16"},
    })  # fmt: skip
    built = build_workload(sc, topo)
    res = simulate(built.workload, topo, compute_model=built.compute_model, record=True)
    return res, topo


def test_trace_has_a_track_per_tier_and_k_busiest_links() -> None:
    res, topo = _result("dgx-a100-2node")
    for k in (1, 3):
        trace = chrome_trace(res, k_links=k, topology=topo)  # type: ignore[arg-type]
        names = {e["name"] for e in trace["traceEvents"] if e["ph"] == "C"}
        tiers = [n for n in names if "mean utilisation" in n]
        assert any("node uplinks" in n for n in tiers)  # InfiniBand shows, not only NVLink
        assert any("NVLink" in n for n in tiers)
        per_tier = [n for n in names if " #" in n and "node uplinks" in n]
        assert len(per_tier) == k
        # a tier's mean utilisation never exceeds 1 and is zero after the step
        vals = [e["args"]["utilisation"] for e in trace["traceEvents"]
                if e["ph"] == "C" and e["name"] in tiers]  # fmt: skip
        assert max(vals) <= 1.0 + 1e-9 and min(vals) >= 0.0


def test_no_tier_tracks_without_topology() -> None:
    res, _topo = _result("dgx-a100-2node")
    trace = chrome_trace(res, k_links=2)  # type: ignore[arg-type]
    assert not any("mean utilisation" in e.get("name", "") for e in trace["traceEvents"])
