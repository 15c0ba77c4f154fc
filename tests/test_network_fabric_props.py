"""Fabric behaviour beyond single oracles: batching, determinism, component-wise updates."""

from __future__ import annotations

import random
from collections.abc import Generator

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.network import Fabric, FlowRecord, FlowSpec, max_min_rates


def random_scenario(seed: int, n_links: int = 14, n_flows: int = 60) -> tuple[np.ndarray, list]:
    """Flows with random paths, sizes, caps, latencies and start times (seeded)."""
    rng = random.Random(seed)
    capacity = np.array([rng.choice([1e9, 2.5e9, 10e9, 25e9]) for _ in range(n_links)])
    plan = []
    for i in range(n_flows):
        links = tuple(rng.sample(range(n_links), rng.randint(1, 3)))
        spec = FlowSpec(
            links,
            rng.choice([0.0, 1e6, 4e6, 16e6, 64e6 * rng.random()]),
            latency_s=rng.choice([0.0, 2e-6, 1e-5]),
            max_rate_Bps=rng.choice([np.inf, np.inf, 3e9]),
            tag=f"f{i}",
        )
        plan.append((rng.choice([0.0, 0.0, 1e-3, 2e-3]) + rng.random() * 5e-3, spec))
    return capacity, plan


def run_scenario(
    capacity: np.ndarray, plan: list, *, probe_times: tuple[float, ...] = (), **kw: object
) -> tuple[Fabric, list[tuple[float, dict[int, float], dict[int, float]]]]:
    """Run ``plan`` ((start time, spec) pairs); at each probe time, snapshot the rates."""
    env = simpy.Environment()
    fabric = Fabric(env, capacity, **kw)  # type: ignore[arg-type]
    snapshots: list[tuple[float, dict[int, float], dict[int, float]]] = []

    def launch(t: float, spec: FlowSpec) -> Generator[simpy.Event, object, None]:
        yield env.timeout(t)
        yield fabric.start(spec)

    def probe() -> Generator[simpy.Event, object, None]:
        for t in probe_times:
            yield env.timeout(t - env.now)
            rates = fabric.active_rates()
            seqs = list(rates)
            specs = [fabric.flow_spec(s) for s in seqs]
            full = max_min_rates(
                [s.links for s in specs], capacity, [s.max_rate_Bps for s in specs]
            )
            snapshots.append((t, rates, dict(zip(seqs, full.tolist(), strict=True))))

    for t, spec in plan:
        env.process(launch(t, spec))
    env.process(probe())
    env.run()
    return fabric, snapshots


def test_same_timestamp_joins_share_one_recomputation() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.ones(4))
    fabric.start_many([FlowSpec((i % 4,), 1.0, latency_s=0.5) for i in range(10)])
    fabric.start(FlowSpec((0, 1), 1.0, latency_s=0.5))
    env.run(until=0.75)
    assert fabric.recomputes == 1
    assert fabric.in_flight == 11


def test_completion_and_new_start_at_one_instant_recompute_once() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([1.0, 1.0]))
    ends: dict[str, float] = {}

    def chain() -> Generator[simpy.Event, object, None]:
        rec = yield fabric.start(FlowSpec((0,), 1.0, tag="a"))
        assert isinstance(rec, FlowRecord)
        ends["a"] = env.now
        rec = yield fabric.start(FlowSpec((0, 1), 1.0, tag="b"))  # joins at t=1 with no latency
        ends["b"] = env.now

    env.process(chain())
    fabric.start(FlowSpec((1,), 3.0, tag="c"))
    env.run()
    # t=0: a and c join (one recompute). t=1: a leaves, b joins (one recompute).
    # c: 1 B alone in [0, 1], then 0.5 B/s with b; b's 1 B at 0.5 B/s ends at 3, c then has
    # 3 - 1 - 1 = 1 B left, alone: ends at 4. Then t=3 and t=4 recompute once each.
    assert ends == {"a": 1.0, "b": 3.0}
    assert {r.tag: r.end_s for r in fabric.records} == {"a": 1.0, "b": 3.0, "c": 4.0}
    assert fabric.recomputes == 3  # t=0, t=1, t=3 (nothing left to share at t=4)


def test_flows_finishing_within_tolerance_complete_together() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([1.0]))
    fabric.start_many([FlowSpec((0,), 1.0, tag="a"), FlowSpec((0,), 1.0 + 1e-12, tag="b")])
    env.run()
    a, b = fabric.records
    assert a.end_s == b.end_s == pytest.approx(2.0)
    assert fabric.recomputes == 1


def test_runs_are_deterministic_bit_for_bit() -> None:
    capacity, plan = random_scenario(seed=7)
    first, _ = run_scenario(capacity, plan, record_timeline=True)
    second, _ = run_scenario(capacity, plan, record_timeline=True)
    assert first.records == second.records
    # no wake-up outlives the work: the run ends at the last completion
    assert first.now == max(r.end_s for r in first.records)
    for name in ("link_bytes_B", "link_busy_s", "link_peak_util"):
        assert getattr(first, name).tolist() == getattr(second, name).tolist()
    for a, b in zip(first.timeline_arrays(), second.timeline_arrays(), strict=True):
        assert a.tolist() == b.tolist()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_component_updates_match_full_recomputation(seed: int) -> None:
    capacity, plan = random_scenario(seed)
    probes = tuple(np.linspace(1.3e-4, 2.9e-2, 37).tolist())
    inc, snaps = run_scenario(capacity, plan, probe_times=probes)
    full, _ = run_scenario(capacity, plan, incremental=False)
    assert len(inc.records) == len(full.records) == len(plan)
    by_tag = {r.tag: r for r in full.records}
    for rec in inc.records:
        assert rec.end_s == pytest.approx(by_tag[rec.tag].end_s, rel=1e-9, abs=1e-15)
    assert inc.link_bytes_B.tolist() == full.link_bytes_B.tolist()
    assert inc.link_busy_s == pytest.approx(full.link_busy_s, rel=1e-9, abs=1e-15)
    # At every probe, the incrementally maintained rates are the from-scratch max-min rates.
    assert sum(len(rates) for _, rates, _ in snaps) > 50
    for t, rates, fresh in snaps:
        assert list(rates) == list(fresh), t
        assert list(rates.values()) == pytest.approx(list(fresh.values()), rel=1e-9), t
    assert inc.recomputes > 0 and full.recomputes > 0


def test_timeline_rows_reproduce_link_bytes() -> None:
    capacity, plan = random_scenario(seed=11)
    fabric, _ = run_scenario(capacity, plan, record_timeline=True)
    time_s, link, load = fabric.timeline_arrays()
    assert (np.diff(time_s) >= 0).all()
    # integrate the piecewise-constant load of every link
    carried = np.zeros(capacity.size)
    last_t = np.zeros(capacity.size)
    last_load = np.zeros(capacity.size)
    for t, k, x in zip(time_s.tolist(), link.tolist(), load.tolist(), strict=True):
        carried[k] += last_load[k] * (t - last_t[k])
        last_t[k], last_load[k] = t, x
    assert (last_load == 0).all()
    assert carried == pytest.approx(fabric.link_bytes_B, rel=1e-6)
    assert (fabric.link_peak_util <= 1 + 1e-9).all()
    assert (load <= capacity[link] * (1 + 1e-9)).all()


@st.composite
def burst(draw: st.DrawFn) -> tuple[np.ndarray, list[FlowSpec]]:
    n_links = draw(st.integers(1, 6))
    capacity = np.array(
        draw(st.lists(st.sampled_from([1.0, 2.0, 5.0]), min_size=n_links, max_size=n_links))
    )
    flows = [
        FlowSpec(
            tuple(sorted(draw(st.sets(st.integers(0, n_links - 1), min_size=1, max_size=3)))),
            draw(st.sampled_from([0.0, 1.0, 2.0, 3.5, 10.0])),
            latency_s=draw(st.sampled_from([0.0, 0.25, 1.0])),
            max_rate_Bps=draw(st.sampled_from([np.inf, np.inf, 0.5])),
        )
        for _ in range(draw(st.integers(1, 10)))
    ]
    return capacity, flows


@settings(max_examples=60, deadline=None)
@given(burst())
def test_fabric_conserves_bytes_and_respects_bounds(
    inst: tuple[np.ndarray, list[FlowSpec]],
) -> None:
    capacity, flows = inst
    env = simpy.Environment()
    fabric = Fabric(env, capacity)
    done = fabric.start_many(flows)
    env.run()
    records = done.value
    assert fabric.in_flight == 0 and len(fabric.records) == len(flows)
    expected = np.zeros(capacity.size)
    for spec, rec in zip(flows, records, strict=True):
        for k in spec.links:
            expected[k] += spec.size_B
        # never faster than alone on its narrowest link (or its cap)
        alone = spec.size_B / min(spec.max_rate_Bps, capacity[list(spec.links)].min())
        assert rec.end_s >= (spec.latency_s + alone) * (1 - 1e-9)
    assert fabric.link_bytes_B == pytest.approx(expected)
    # a link cannot carry its bytes faster than its capacity
    assert (fabric.link_busy_s * capacity >= expected * (1 - 1e-9)).all()
    # the run cannot end before the busiest link has carried its bytes
    assert env.now >= (expected / capacity).max() * (1 - 1e-9)


def test_scalar_and_vectorised_paths_agree_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.network.fabric as fabric_module

    capacity, plan = random_scenario(seed=5)
    results = []
    for small in (0, 10**6):
        monkeypatch.setattr(fabric_module, "_SMALL", small)
        fabric, _ = run_scenario(capacity, plan)
        results.append((fabric.records, fabric.link_busy_s.tolist()))
    assert results[0] == results[1]


def test_component_splits_after_the_bridge_leaves() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.array([10.0, 10.0, 10.0]))
    fabric.start_many([FlowSpec((0,), 100.0, tag="a") for _ in range(3)])
    fabric.start_many([FlowSpec((2,), 200.0, tag="b") for _ in range(3)])
    env.run(until=0.1)
    assert fabric.num_components == 2
    fabric.start_many([FlowSpec((0, 1, 2), 1.0, tag="bridge") for _ in range(8)])
    env.run(until=0.2)
    assert fabric.num_components == 1
    env.run(until=5.0)  # bridges (1 B each at ~10/11 B/s) are long gone
    assert fabric.num_components == 2
    rates = fabric.active_rates()
    assert list(rates.values()) == pytest.approx([10 / 3] * 6)
    env.run()
    # Each a/b flow drains 0.1 * 10/3 before the bridges and 1.1 * 10/11 beside them (bridges:
    # 1 B at 10/11 B/s from t=0.1 to 1.2), then the rest at 10/3 B/s.
    drained = 0.1 * 10 / 3 + 1.1 * 10 / 11
    ends = {r.tag: r.end_s for r in fabric.records}
    assert ends["bridge"] == pytest.approx(1.2)
    assert ends["a"] == pytest.approx(1.2 + (100 - drained) * 3 / 10)
    assert ends["b"] == pytest.approx(1.2 + (200 - drained) * 3 / 10)
