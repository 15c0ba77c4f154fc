"""Proven copies of mirrored traffic run once (simulator.engine.symmetry) and change nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from simulator.collectives.context import SimContext
from simulator.config import scenario_from_dict
from simulator.core.ir import Workload
from simulator.engine import StepResult, simulate
from simulator.engine.streams import build_plan
from simulator.engine.symmetry import Copies, find_copies
from simulator.topology import Topology, topology_from_dict
from simulator.workload.costmodel import CostModel
from simulator.workload.profile import profile_from_model
from simulator.workload.strategies import build_from_profile

CM = CostModel(peak_flops=100e12, hbm_Bps=2e12, efficiency=0.5)


def _workload(topo: Topology, tp: int, pp: int, dp: int, layers: int = 4) -> Workload:
    sc = scenario_from_dict(
        {
            "name": "t",
            "topology": "dgx-h100",
            "model": {"layers": layers, "hidden": 512, "heads": 8, "vocab": 1024},
            "training": {"global_batch": 4 * dp, "micro_batch": 1, "seq_len": 512},
            "strategy": {
                "tp": tp,
                "pp": pp,
                "dp": dp,
                "data_parallel": {"mode": "ddp", "bucket_size": "1MB"},
            },
        }
    )
    prof = profile_from_model(
        sc.model_spec(), CM, micro_batch=1, tp=tp, recompute=sc.training.recompute
    )
    return build_from_profile(
        prof, sc.strategy, tp * pp * dp, topo, global_batch=sc.training.global_batch
    )


def _fat_tree(nodes: int, **extra: Any) -> Topology:
    """DGX H100 nodes on a rail-optimised fabric of radix-32 switches (one leaf per rail)."""
    build = {
        "type": "cluster",
        "nodes": nodes,
        "gpu": "H100-SXM",
        "nics_per_node": 8,
        "nic": "ib_ndr",
        "fabric": "rail_optimized",
        "switch_radix": 32,
        **extra,
    }
    return topology_from_dict({"name": f"ft-{nodes}", "build": build})


def _same(a: StepResult, b: StepResult) -> None:
    assert a.step_time_s == b.step_time_s
    assert a.to_dict() == b.to_dict()
    pd_a, pd_b = a.ops, b.ops
    assert pd_a.equals(pd_b)
    la, lb = a.links, b.links
    assert la["link"].tolist() == lb["link"].tolist()
    for col in ("bytes_B", "busy_s", "utilisation"):
        np.testing.assert_allclose(la[col].to_numpy(), lb[col].to_numpy(), rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def pipeline_job() -> tuple[Topology, Workload]:
    topo = _fat_tree(8)
    return topo, _workload(topo, tp=8, pp=4, dp=2)


def test_tensor_parallel_mirrors_are_proven_copies(pipeline_job: Any) -> None:
    topo, wl = pipeline_job
    copies = find_copies(build_plan(wl, topo.num_ranks), SimContext(topo, "nccl", ranks=wl.world))
    # TP ranks 1..7 mirror the representatives' DP groups on NICs 1..7: ranks 2..7 repeat 1
    assert copies
    assert len(copies.maps) % 6 == 0
    for src, dst in copies.maps:
        assert src.size == dst.size > 0
        assert not set(src.tolist()) & set(dst.tolist())
        np.testing.assert_array_equal(topo.capacity_Bps[src], topo.capacity_Bps[dst])


@pytest.mark.parametrize("record", [False, "timelines"])
def test_copies_change_no_figure(pipeline_job: Any, record: Any) -> None:
    topo, wl = pipeline_job
    fast = simulate(wl, topo, record=record)
    exact = simulate(wl, topo, record=record, symmetry=False)
    _same(fast, exact)
    if record:
        busy = fast.links.sort_values("bytes_B")["link"].tolist()[-40:]
        ta, tb = fast.link_timeline_of(busy), exact.link_timeline_of(busy)
        assert ta is not None and tb is not None
        for link in busy:  # per link, the same load changes at the same instants
            ra = sorted(zip(ta[0][ta[1] == link], ta[2][ta[1] == link], strict=True))
            rb = sorted(zip(tb[0][tb[1] == link], tb[2][tb[1] == link], strict=True))
            assert ra == rb
        ca, cb = fast.link_class_timeline, exact.link_class_timeline
        assert ca is not None and cb is not None
        for k in range(len(fast.link_class_labels)):  # each class's level at every change
            ta_k, tb_k = ca[0][ca[1] == k], cb[0][cb[1] == k]
            grid = np.union1d(ta_k, tb_k)
            if not grid.size:
                continue
            la = _level_at(ta_k, ca[2][ca[1] == k], grid)
            lb = _level_at(tb_k, cb[2][cb[1] == k], grid)
            np.testing.assert_allclose(la, lb, rtol=1e-9, atol=1e-6 * max(1.0, lb.max()))


def _level_at(t: np.ndarray, level: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The piecewise-constant level (last row at or before each grid time; 0 before)."""
    idx = np.searchsorted(t, grid, side="right") - 1
    out = np.where(idx >= 0, level[np.maximum(idx, 0)], 0.0)
    return np.asarray(out, dtype=float)


def test_flow_records_run_every_copy(pipeline_job: Any) -> None:
    topo, wl = pipeline_job
    full = simulate(wl, topo, record=True)
    exact = simulate(wl, topo, record=True, symmetry=False)
    assert len(full.flow_records) == len(exact.flow_records)


def test_a_changed_link_breaks_the_copy_and_it_runs() -> None:
    topo = _fat_tree(8)
    wl = _workload(topo, tp=8, pp=4, dp=2)
    ctx = SimContext(topo, "nccl", ranks=wl.world)
    plan = build_plan(wl, topo.num_ranks)
    base = find_copies(plan, ctx)
    # TP rank 3's PCIe links on node 0 twice as fast: never a bottleneck, so rates and the
    # collectives' costs stay; only the link check sees it (and utilisation would differ)
    gpu3 = topo.ranks[3]
    nic_links = [
        i
        for i, lk in enumerate(topo.links)
        if gpu3 in (lk.src, lk.dst) and str(lk.kind) != "nvlink"
    ]
    assert nic_links
    changed = _with_capacity(topo, nic_links, 2.0)
    ctx2 = SimContext(changed, "nccl", ranks=wl.world)
    copies = find_copies(plan, ctx2)
    assert len(copies.maps) < len(base.maps)
    for _, dst in copies.maps:
        assert not set(dst.tolist()) & set(_links_of_rank(changed, 3))
    _same(simulate(wl, changed), simulate(wl, changed, symmetry=False))


def _with_capacity(topo: Topology, links: list[int], factor: float) -> Topology:
    """``topo`` with ``links`` (ids) at ``factor`` of their bandwidth (a degraded port)."""
    graph = topo.graph.copy()
    new = []
    for lk in topo.links:
        if lk.id in links:
            lk = replace(lk, bandwidth_Bps=lk.bandwidth_Bps * factor)
            graph.edges[lk.src, lk.dst]["bandwidth_Bps"] = lk.bandwidth_Bps
        new.append(lk)
    return Topology(topo.name, graph, new, topo.ranks, dict(topo.metadata), ecmp=topo.ecmp)


def _links_of_rank(topo: Topology, rank: int) -> list[int]:
    return [i for i, lk in enumerate(topo.links) if topo.ranks[rank] in (lk.src, lk.dst)]


def test_copies_rows_map_links() -> None:
    copies = Copies(maps=[(np.array([1, 2]), np.array([11, 12]))])
    tl = (np.array([0.0, 1.0, 2.0]), np.array([1, 5, 2]), np.array([3.0, 4.0, 5.0]))
    t, link, v = copies.rows(tl)
    assert t.tolist() == [0.0, 2.0] and link.tolist() == [11, 12] and v.tolist() == [3.0, 5.0]
    only = copies.rows(tl, only=[12])
    assert only[1].tolist() == [12]
    # per link: load levels -> changes, each link from 0
    tl2 = (np.array([0.0, 1.0, 1.0, 3.0]), np.array([1, 2, 1, 2]), np.array([2.0, 1.0, 5.0, 0.0]))
    group = np.zeros(13, dtype=np.intp)
    group[11], group[12] = 1, 2
    t, g, d = copies.class_rows(tl2, group)
    assert sorted(zip(t.tolist(), g.tolist(), d.tolist(), strict=True)) == [
        (0.0, 1, 2.0),
        (1.0, 1, 3.0),
        (1.0, 2, 1.0),
        (3.0, 2, -1.0),
    ]
    b, u, p = np.arange(13.0), np.zeros(13), np.zeros(13)
    copies.link_stats(b, u, p)
    assert b[11] == 1.0 and b[12] == 2.0
    assert sorted(copies.sources([12, 5]).tolist()) == [2]


def test_class_rows_count_every_copy_of_a_link() -> None:
    # link 1 is repeated by two copies (links 11 and 21, one class), link 2 by one (class 2)
    copies = Copies(maps=[(np.array([1, 2]), np.array([11, 12])), (np.array([1]), np.array([21]))])
    group = np.zeros(22, dtype=np.intp)
    group[[11, 21]], group[12] = 1, 2
    tl = (np.array([0.0, 1.0, 2.0]), np.array([1, 2, 1]), np.array([4.0, 1.0, 1.0]))
    t, g, d = copies.class_rows(tl, group)
    assert sorted(zip(t.tolist(), g.tolist(), d.tolist(), strict=True)) == [
        (0.0, 1, 8.0),
        (1.0, 2, 1.0),
        (2.0, 1, -6.0),
    ]
