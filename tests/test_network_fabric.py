"""Fabric oracles: closed-form finish times of small scenarios."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import simpy

from simulator.network import Fabric, FlowRecord, FlowSpec, max_min_rates


def _run(capacity: list[float], flows: list[FlowSpec], **kw: object) -> Fabric:
    env = simpy.Environment()
    fabric = Fabric(env, np.array(capacity), **kw)  # type: ignore[arg-type]
    fabric.start_many(flows)
    env.run()
    return fabric


def _ends(fabric: Fabric) -> dict[str, float]:
    return {r.tag: r.end_s for r in fabric.records}


def test_single_flow_takes_latency_plus_size_over_capacity() -> None:
    fabric = _run([25e9], [FlowSpec((0,), 1e9, latency_s=5e-6, tag="a")])
    (rec,) = fabric.records
    assert rec.end_s == pytest.approx(5e-6 + 1e9 / 25e9, rel=1e-12)
    assert rec.start_s == 0.0
    assert fabric.link_bytes_B[0] == 1e9
    assert fabric.link_busy_s[0] == pytest.approx(1e9 / 25e9, rel=1e-12)
    assert fabric.link_peak_util[0] == pytest.approx(1.0)


def test_two_flows_on_one_link_share_it_and_finish_at_twice_the_time() -> None:
    flows = [FlowSpec((0,), 4e6, tag="a"), FlowSpec((0,), 4e6, tag="b")]
    ends = _ends(_run([1e9], flows))
    assert ends["a"] == ends["b"] == pytest.approx(2 * 4e6 / 1e9, rel=1e-12)


def test_unused_share_goes_to_the_other_flow() -> None:
    # A on link 0; B on links 0 and 1, link 1 slower: B gets 3, A gets 10 - 3 = 7.
    flows = [FlowSpec((0,), 100.0, tag="A"), FlowSpec((0, 1), 30.0, tag="B")]
    ends = _ends(_run([10.0, 3.0], flows))
    assert ends["B"] == pytest.approx(10.0)  # 30 B at 3 B/s
    # A drained 70 B at 7 B/s in 10 s, then the last 30 B alone at 10 B/s.
    assert ends["A"] == pytest.approx(13.0)


def test_staggered_arrival_changes_rates_mid_flight() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([100.0]))
    done: dict[str, FlowRecord] = {}

    def late() -> object:
        yield env.timeout(2.0)
        done["b"] = yield fabric.start(FlowSpec((0,), 150.0, latency_s=1.0, tag="b"))

    def early() -> object:
        done["a"] = yield fabric.start(FlowSpec((0,), 500.0, tag="a"))

    env.process(early())
    env.process(late())
    env.run()
    # a alone at 100 B/s for 3 s (300 B); from t=3 both at 50 B/s: b needs 150/50 = 3 s -> 6;
    # a has 200 - 150 = 50 B left at t=6, alone again: 0.5 s -> 6.5.
    assert done["b"].end_s == pytest.approx(6.0)
    assert done["a"].end_s == pytest.approx(6.5)
    assert done["b"].start_s == 2.0
    assert fabric.link_busy_s[0] == pytest.approx(6.5)


def test_zero_byte_flow_completes_after_its_latency() -> None:
    fabric = _run([1.0], [FlowSpec((0,), 0.0, latency_s=0.25, tag="z")])
    assert _ends(fabric) == {"z": 0.25}
    assert fabric.link_busy_s[0] == 0.0


def test_flow_without_links_runs_at_its_cap_or_instantly() -> None:
    flows = [FlowSpec((), 10.0, max_rate_Bps=5.0, tag="capped"), FlowSpec((), 10.0, tag="free")]
    ends = _ends(_run([1.0], flows))
    assert ends == {"capped": 2.0, "free": 0.0}


def test_max_rate_caps_a_flow_and_frees_capacity() -> None:
    flows = [FlowSpec((0,), 10.0, max_rate_Bps=1.0, tag="slow"), FlowSpec((0,), 90.0, tag="fast")]
    ends = _ends(_run([10.0], flows))
    assert ends["slow"] == pytest.approx(10.0)
    assert ends["fast"] == pytest.approx(10.0)


def test_start_many_returns_records_in_input_order() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([1.0, 1.0]))
    event = fabric.start_many([FlowSpec((0,), 2.0, tag="x"), FlowSpec((1,), 1.0, tag="y")])
    env.run()
    assert [r.tag for r in event.value] == ["x", "y"]
    assert [r.tag for r in fabric.records] == ["y", "x"]
    assert math.isclose(event.value[0].mean_rate_Bps, 1.0)


def test_rejects_bad_input() -> None:
    env = simpy.Environment()
    with pytest.raises(ValueError):
        Fabric(env, np.array([1.0, 0.0]))
    fabric = Fabric(env, np.array([1.0]))
    with pytest.raises(ValueError):
        fabric.start(FlowSpec((1,), 1.0))
    with pytest.raises(ValueError):
        FlowSpec((0,), -1.0)
    with pytest.raises(ValueError):
        FlowSpec((0,), 1.0, max_rate_Bps=0.0)


def test_frames_and_unrecorded_runs() -> None:
    flows = [FlowSpec((0,), 4.0, latency_s=1.0, tag="a"), FlowSpec((0, 1), 4.0, tag="b")]
    fabric = _run([2.0, 4.0], flows, record_timeline=True)
    frames = fabric.to_frames()
    assert list(frames["flows"]["tag"]) == ["b", "a"]
    # b alone on link 0 for 1 s (2 B), then both at 1 B/s: b ends at 3, a at 4 (2 B at 2 B/s).
    assert list(frames["flows"]["end_s"]) == pytest.approx([3.0, 4.0])
    links = frames["links"]
    assert list(links["bytes_B"]) == [8.0, 4.0]
    assert list(links["mean_util"]) == pytest.approx([8.0 / (2.0 * 4.0), 4.0 / (4.0 * 4.0)])
    assert frames["timeline"]["util"].max() == pytest.approx(1.0)
    quiet = _run([2.0, 4.0], flows, record=False)
    assert quiet.records == [] and quiet.link_bytes_B.tolist() == [8.0, 4.0]


def test_busy_time_counts_the_ongoing_interval() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([1.0, 1.0]))
    fabric.start(FlowSpec((0,), 10.0, latency_s=1.0))
    env.run(until=4.0)
    assert fabric.link_busy_s.tolist() == [3.0, 0.0]
    assert fabric.in_flight == 1


def test_flowspec_normalises_ids_and_numbers() -> None:
    spec = FlowSpec(np.array([3, 1]), 5, latency_s=1, max_rate_Bps=2)  # type: ignore[arg-type]
    assert spec.links == (3, 1) and all(type(k) is int for k in spec.links)
    assert (spec.size_B, spec.latency_s, spec.max_rate_Bps) == (5.0, 1.0, 2.0)
    assert type(spec.size_B) is float
    with pytest.raises(TypeError):
        FlowSpec((1.5,), 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FlowSpec((-1,), 1.0)
    with pytest.raises(ValueError):
        FlowSpec((0,), 1.0, latency_s=math.inf)


def test_bad_batch_leaves_the_fabric_untouched() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([1.0]))
    with pytest.raises(ValueError, match="link id 1"):
        fabric.start_many([FlowSpec((0,), 1.0), FlowSpec((1,), 1.0)])
    assert fabric.in_flight == 0
    done = fabric.start(FlowSpec((0,), 1.0))
    env.run()
    assert done.value.seq == 0 and done.value.end_s == 1.0


def test_trusted_flow_equals_the_checked_constructor() -> None:
    from simulator.network.flow import trusted_flow

    a = trusted_flow((3, 1, 4), 1.5e6, 2e-6, math.inf, "ar/tree", 7, 9)
    b = FlowSpec((3, 1, 4), 1.5e6, 2e-6, math.inf, "ar/tree", 7, 9)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size_B = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "links,cap",
    [
        ((0,), math.inf),
        ((0, 1, 2), math.inf),
        ((2, 1, 2), math.inf),
        ((1, 1, 1, 0), 3e8),
        ((), 5e8),
    ],
)
def test_a_lone_flow_gets_the_solvers_rate_bit_for_bit(links: tuple[int, ...], cap: float) -> None:
    """The scalar path for a component of one flow gives max_min_rates' rate exactly."""
    capacity = np.array([1e9, 7e8 / 3, 2.5e9])
    env = simpy.Environment()
    fabric = Fabric(env, capacity, record_timeline=True)
    ev = fabric.start(FlowSpec(links, 1e6 / 7, latency_s=1e-6 / 3, max_rate_Bps=cap))
    env.run()
    rate = float(max_min_rates([links], capacity, cap)[0])
    assert ev.value.end_s == 1e-6 / 3 + (1e6 / 7) / rate
    t, lk, load = fabric.timeline_arrays()
    expect: dict[int, float] = {}
    for k in links:
        expect[k] = expect.get(k, 0.0) + rate
    got = {int(k): float(v) for k, v, when in zip(lk, load, t, strict=True) if when == t[0]}
    assert got == expect


def test_start_many_without_results_fires_at_the_same_time_with_none() -> None:
    capacity = np.array([1e9, 2e9])

    def run(results: bool) -> tuple[float, object]:
        env = simpy.Environment()
        fabric = Fabric(env, capacity, record=False)
        flows = [FlowSpec((0, 1), 3e6), FlowSpec((0,), 1e6), FlowSpec((0,), 1e6)]
        ev = fabric.start_many(flows, results=results)
        env.run()
        return env.now, ev.value

    t_with, recs = run(True)
    t_without, none = run(False)
    assert t_with == t_without and none is None
    assert isinstance(recs, list) and len(recs) == 3
