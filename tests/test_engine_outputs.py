"""Outputs that cost nothing: link-class counters, timelines without flow records, the
streamed Chrome trace (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import simpy
from test_engine import NODES_2X2, topo, tp_pipeline

from simulator.engine import simulate
from simulator.network import Fabric, FlowSpec
from simulator.report.linkclass import link_class_bins
from simulator.report.timeline import chrome_trace, write_timeline
from simulator.topology import load_topology
from simulator.topology.linkclass import link_classes


def _levels_at(t: np.ndarray, key: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Per distinct time: the level of every key after all rows of that time (``times x n``)."""
    times = np.unique(t)
    out = np.zeros((times.size, n))
    cur = np.zeros(n)
    j = 0
    for i, ti in enumerate(times):
        while j < t.size and t[j] == ti:
            cur[key[j]] = value[j]
            j += 1
        out[i] = cur
    return out


def test_group_counters_sum_the_per_link_timeline() -> None:
    """On a contended random fabric, every link group's running load equals the sum of its
    links' loads from the per-link timeline at every change instant."""
    rng = np.random.default_rng(7)
    n_links, n_groups = 40, 5
    group = rng.integers(0, n_groups, n_links)
    env = simpy.Environment()
    fab = Fabric(env, rng.uniform(1e9, 4e9, n_links), record_timeline=True, link_group=group)

    def source(k: int):  # type: ignore[no-untyped-def]
        for _ in range(6):
            links = tuple(rng.choice(n_links, size=3, replace=False).tolist())
            yield fab.start(FlowSpec(links, float(rng.uniform(1e6, 5e7)), latency_s=1e-6 * k))
            yield env.timeout(float(rng.uniform(0, 1e-3)))

    for k in range(12):
        env.process(source(k))
    env.run()
    t, lk, load = fab.timeline_arrays()
    per_link = _levels_at(t, lk, load, n_links)
    want = np.stack([per_link[:, group == g].sum(axis=1) for g in range(n_groups)], axis=1)
    gt, gg, gd = fab.group_timeline_arrays()
    assert np.all(np.diff(gt) >= 0)
    times = np.unique(t)
    got = np.zeros((times.size, n_groups))
    cur = np.zeros(n_groups)
    j = 0
    for i, ti in enumerate(times):
        while j < gt.size and gt[j] <= ti:
            cur[gg[j]] += gd[j]
            j += 1
        got[i] = cur
    assert got == pytest.approx(want, rel=1e-9, abs=1e-3)
    assert cur == pytest.approx(np.zeros(n_groups), abs=1e-3)  # all idle at the end


def test_link_group_rejects_a_bad_array() -> None:
    with pytest.raises(ValueError, match="link_group"):
        Fabric(simpy.Environment(), [1.0, 1.0], link_group=[0])


def test_timelines_without_flow_records(tmp_path: Path) -> None:
    t = topo(tmp_path, NODES_2X2)
    wl = tp_pipeline(4)
    full = simulate(wl, t, record=True)
    lean = simulate(wl, t, record="timelines")
    assert lean.flow_records == []
    assert len(full.flow_records) > 0
    assert lean.step_time_s == full.step_time_s
    for a, b in zip(full.link_timeline, lean.link_timeline, strict=True):  # type: ignore[arg-type]
        assert np.array_equal(a, b)
    ids = [int(x) for x in full.busiest_links(3)["link"]]
    sub = lean.link_timeline_of(ids)
    assert sub is not None
    keep = np.isin(full.link_timeline[1], ids)  # type: ignore[index]
    for a, b in zip(sub, (x[keep] for x in full.link_timeline), strict=True):  # type: ignore[union-attr]
        assert np.array_equal(a, b)
    assert chrome_trace(lean) == chrome_trace(full)


def test_class_counters_isolated_and_shared_agree(tmp_path: Path) -> None:
    """Replayed isolated collectives add their class loads exactly as the shared fabric does,
    and each class carries the bytes of its links."""
    t = topo(tmp_path, NODES_2X2)
    wl = tp_pipeline(4)
    fast = link_class_bins(simulate(wl, t, record=True, isolate=True), bins=50)
    shared = simulate(wl, t, record=True, isolate=False)
    slow = link_class_bins(shared, bins=50)
    assert fast.labels == slow.labels == link_classes(t).labels
    assert fast.utilisation == pytest.approx(slow.utilisation, rel=1e-9, abs=1e-12)
    assert fast.utilisation.max() > 0
    per_link = shared.links.sort_values("link")["bytes_B"].to_numpy()
    want = np.bincount(link_classes(t).of_link, weights=per_link, minlength=len(slow.labels))
    assert slow.bytes_B.sum(axis=1) == pytest.approx(want, rel=1e-9)


def test_no_class_counters_without_record(tmp_path: Path) -> None:
    res = simulate(tp_pipeline(2), topo(tmp_path, NODES_2X2), record=False)
    assert res.link_class_timeline is None
    assert link_class_bins(res).utilisation.size == 0


def test_link_classes_name_tiers() -> None:
    classes = link_classes(load_topology("dgx-a100-superpod"))
    assert {"infiniband nic->t1", "infiniband t1->t2", "infiniband t3->t2"} <= set(classes.labels)
    assert int(classes.count.sum()) == len(load_topology("dgx-a100-superpod").links)


def test_streamed_trace_is_the_dumped_dict(tmp_path: Path) -> None:
    res = simulate(tp_pipeline(3), topo(tmp_path, NODES_2X2), record=True)
    path = write_timeline(res, tmp_path / "t.json")
    want = json.dumps(chrome_trace(res), separators=(",", ":"))
    assert path.read_text(encoding="utf-8") == want


def test_replayed_rows_are_the_shifted_concatenation() -> None:
    """Isolation._shifted's gather equals concatenating each use's rows shifted by its t0."""
    from simulator.engine.isolation import _replayed

    rng = np.random.default_rng(3)
    own = []
    for k in range(6):
        n = 0 if k in (1, 4) else int(rng.integers(1, 9))
        own.append((rng.random(n), rng.integers(0, 50, n).astype(np.intp), rng.random(n) * 1e9))
    which = rng.integers(0, 5, 40).astype(np.intp)
    t0 = rng.random(40) * 10
    got = _replayed(own, which, t0)
    parts = [(own[k], t) for k, t in zip(which, t0, strict=True) if len(own[k][0])]
    want = (
        np.concatenate([tl[0] + t for tl, t in parts]),
        np.concatenate([tl[1] for tl, _ in parts]),
        np.concatenate([tl[2] for tl, _ in parts]),
    )
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)
    empty = np.array([1, 4], dtype=np.intp)
    assert all(len(x) == 0 for x in _replayed(own, empty, np.ones(2)))
