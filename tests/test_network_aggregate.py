"""Identical flows carried as one weighted flow (Fabric(aggregate=True)) against the exact
mode (one flow each): same completions and link statistics up to round-off (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from simulator.network import Fabric, FlowRecord, FlowSpec, max_min_rates
from simulator.network.maxmin import solve_incidence


def _run(aggregate: bool, seed: int) -> tuple[Fabric, list[list[FlowRecord]]]:
    rng = np.random.default_rng(seed)
    n_links = 30
    cap = rng.uniform(1e9, 3e9, n_links)
    env = simpy.Environment()
    fab = Fabric(env, cap, record=False, aggregate=aggregate)
    out: list[list[FlowRecord]] = []

    def burst(k: int):  # type: ignore[no-untyped-def]
        yield env.timeout(float(rng.uniform(0, 2e-3)))
        specs = []
        for _ in range(int(rng.integers(2, 8))):
            links = tuple(rng.choice(n_links, size=3, replace=False).tolist())
            size = float(rng.choice([1e6, 4e6, 2.5e7]))
            cap_Bps = float(rng.choice([np.inf, 5e8]))
            # several identical copies (as channels of one pair on one route), other src/dst
            for c in range(int(rng.integers(1, 5))):
                specs.append(FlowSpec(links, size, 1e-6, cap_Bps, tag=f"b{k}", src=k, dst=c))
        out.append((yield fab.start_many(specs)))

    for k in range(15):
        env.process(burst(k))
    env.run()
    return fab, out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregated_flows_match_the_exact_mode(seed: int) -> None:
    exact, a = _run(False, seed)
    agg, b = _run(True, seed)
    assert agg.flows_started == exact.flows_started
    assert agg.in_flight == exact.in_flight == 0
    assert len(agg._spec) < len(exact._spec)  # some flows were carried together
    ends_a = [r.end_s for grp in a for r in grp]
    ends_b = [r.end_s for grp in b for r in grp]
    assert ends_b == pytest.approx(ends_a, rel=1e-12)
    assert [(r.src, r.dst, r.tag) for g in a for r in g] == [
        (r.src, r.dst, r.tag) for g in b for r in g
    ]
    assert agg.link_bytes_B == pytest.approx(exact.link_bytes_B, rel=1e-12)
    assert agg.link_busy_s == pytest.approx(exact.link_busy_s, rel=1e-12)
    assert agg.link_peak_util == pytest.approx(exact.link_peak_util, rel=1e-12)


def test_a_weighted_flow_gets_the_rate_of_each_copy() -> None:
    cap = np.array([10.0, 6.0, 9.0])
    flows = [[0, 1], [0, 1], [0, 1], [1, 2], [0], [2]]
    want = max_min_rates(flows, cap, [np.inf, np.inf, np.inf, np.inf, 1.0, np.inf])
    # the three copies of [0, 1] as one flow of weight 3
    fl = np.array([0, 0, 1, 1, 2, 3], dtype=np.intp)
    ln = np.array([0, 1, 1, 2, 0, 2], dtype=np.intp)
    got = solve_incidence(
        fl, ln, 4, cap, np.array([np.inf, np.inf, 1.0, np.inf]), np.array([3.0, 1.0, 1.0, 1.0])
    )
    assert got == pytest.approx(want[[0, 3, 4, 5]], rel=1e-12)
    assert want[0] == want[1] == want[2]


def test_recording_fabric_does_not_aggregate() -> None:
    env = simpy.Environment()
    fab = Fabric(env, [1e9])
    fab.start_many([FlowSpec((0,), 1e6)] * 4)
    env.run()
    assert len(fab.records) == 4 and len({r.seq for r in fab.records}) == 4
