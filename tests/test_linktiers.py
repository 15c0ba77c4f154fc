"""Perfetto counters per link tier: every link named by its tier, one track per tier and the
busiest links of each, as many as --links asks for."""

from __future__ import annotations

import pytest

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


def _result(topo_name: str, *, isolate: bool = True) -> tuple[object, object]:
    topo = load_topology(topo_name)
    sc = scenario_from_dict({
        "name": "tiny", "topology": topo_name,
        "model": {"layers": 2, "hidden": 256, "heads": 4, "vocab": 512},
        "training": {"global_batch": 16, "micro_batch": 1, "seq_len": 64, "dtype": "bf16"},
    })  # fmt: skip
    built = build_workload(sc, topo)
    cm = built.compute_model
    res = simulate(built.workload, topo, compute_model=cm, record=True, isolate=isolate)
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


@pytest.mark.parametrize("isolate", [True, False])
def test_tier_tracks_from_class_counters_match_per_link_binning(isolate: bool) -> None:
    """The tier tracks sum link-class counters; binning every carried link's own timeline
    (what they read before) gives the same bytes per bin to round-off: with isolated
    collectives replayed, and with every collective sharing the fabric."""
    import numpy as np

    from simulator.report.linkclass import link_class_bins
    from simulator.report.linktiers import binned_bytes, tier_of_class

    res, topo = _result("dgx-a100-2node", isolate=isolate)
    tier_of = link_tiers(topo)  # type: ignore[arg-type]
    ids = [int(x) for x in res.links["link"]]  # type: ignore[attr-defined]
    _edges, per_link = binned_bytes(res, ids, 50)  # type: ignore[arg-type]
    cls = link_class_bins(res, 50)  # type: ignore[arg-type]
    class_tier = tier_of_class(topo)  # type: ignore[arg-type]
    assert len(class_tier) == len(cls.labels)
    for tier in set(tier_of.values()):
        want = per_link[[i for i, lid in enumerate(ids) if tier_of[lid] == tier]].sum(axis=0)
        got = cls.bytes_B[[c for c, t in enumerate(class_tier) if t == tier]].sum(axis=0)
        assert np.allclose(got, want, rtol=1e-9, atol=1e-6 * max(want.max(), 1.0)), tier
    assert cls.bytes_B.sum() > 0
