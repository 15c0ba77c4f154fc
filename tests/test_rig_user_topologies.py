"""Hand-written rig topologies of shapes nothing ships (benchmarks/data/user-*.yaml): a slow
NIC among three hosts, five hosts with one slow cable, two bridges joined by a narrow trunk,
ranks numbered across two racks, a host behind two switch hops whose narrow link touches no
host. Planning and prediction only (no root, no namespaces)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from simulator.collectives import load_backend, simulate_collective
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
        ("user-4host-interleaved", ("rackA", "rackB"), 300),
        ("user-3host-twohop", ("core", "leafB"), 200),
        ("user-3host-twohop", ("near1", "leafA"), 400),
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


def _predicted_s(name: str, op: str, size_B: float) -> float:
    topo = load_topology(DATA / f"{name}.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = load_backend(rig_calibration(topo.num_ranks), ranks=topo.num_ranks)
    return simulate_collective(topo, op, size_B, backend=backend).time_s


def test_ranks_numbered_across_racks_put_two_ring_flows_on_each_trunk_direction() -> None:
    """Same cables, ranks a0 b0 a1 b1 instead of a0 a1 b0 b1: gloo's ring (rank order) crosses
    the 300 Mbit/s trunk at all four hops, two flows each way, so a bandwidth-bound all_reduce
    takes about twice as long; the renumbering is the what-if the pair of files asks."""
    inter = _predicted_s("user-4host-interleaved", "all_reduce", 16 * 2**20)
    racked = _predicted_s("user-4host-racked", "all_reduce", 16 * 2**20)
    assert 1.8 < inter / racked < 2.2


def test_the_far_host_is_held_by_the_switch_link_not_its_nic() -> None:
    """user-3host-twohop: the far host's NIC is 1 Gbit/s, the core-leafB link 200 Mbit/s; a
    ring all_reduce moves 2 (n-1)/n of the bytes over that link, so it takes at least that
    long at 200 Mbit/s (wire headers only add)."""
    size = 16 * 2**20
    t = _predicted_s("user-3host-twohop", "all_reduce", size)
    assert t > 2 * (2 / 3) * size / (200 * MBIT)
