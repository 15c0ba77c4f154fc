"""Hand-written rig topologies of shapes nothing ships (benchmarks/data/user-*.yaml): a slow
NIC among three hosts, five hosts with one slow cable, two bridges joined by a narrow trunk.
Planning and prediction only (no root, no namespaces)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from simulator.collectives import load_backend
from simulator.core.vocab import CollectiveOp
from simulator.rig.calibrate import rig_calibration
from simulator.rig.cluster import plan_rig
from simulator.topology import load_topology

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
MBIT = 1e6 / 8


def _rates(name: str) -> dict[tuple[str, str], float]:
    """Per physical link (its two nodes' names), the rates of both directions, B/s."""
    plan = plan_rig(str(DATA / f"{name}.yaml"), run_id="t")
    return {(ln.a, ln.b): (ln.rate_ab_Bps, ln.rate_ba_Bps) for ln in plan.links}


@pytest.mark.parametrize(
    ("name", "link", "rate_mbit"),
    [
        ("user-3host-slow", ("gamma", "switch"), 100),
        ("user-5host-slowlink", ("h3", "sw"), 150),
        ("user-4host-trunk", ("torA", "torB"), 150),
    ],
)
def test_the_slow_link_is_shaped_at_its_rate_both_ways(
    name: str, link: tuple[str, str], rate_mbit: float
) -> None:
    rates = _rates(name)
    assert rates[link] == pytest.approx((rate_mbit * MBIT, rate_mbit * MBIT))


def test_five_hosts_on_two_cores_get_the_collective_floors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5 ranks fall back to the 4-rank fit and its law (an all_reduce hop waits w (1 - 2/5));
    the 3- and 4-host ones keep their fits (no floor)."""
    monkeypatch.setattr("simulator.collectives.calibrated.host_cores", lambda: 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        floors = {
            n: load_backend(rig_calibration(n), ranks=n).hop_floor(CollectiveOp.ALL_REDUCE)
            for n in (
                load_topology(DATA / f"{t}.yaml").num_ranks
                for t in ("user-3host-slow", "user-4host-trunk", "user-5host-slowlink")
            )
        }
    assert floors[3] == floors[4] == 0.0
    assert floors[5] > 1e-3
