"""Timing: closed-form oracles, fidelity agreement, contention, backend behaviour."""

from __future__ import annotations

import pytest
import simpy
from test_collectives_support import (
    ideal_profile,
    ring_topology,
    star_topology,
    two_node_topology,
)

from simulator.collectives import SimContext, Transport, load_backend, simulate_collective
from simulator.collectives.analytical import (
    halving_doubling_all_reduce_time,
    ring_all_gather_time,
    ring_all_reduce_time,
)
from simulator.core.errors import InputError
from simulator.network import Fabric

GiB = float(1 << 30)


@pytest.mark.parametrize("n", [4, 8])
@pytest.mark.parametrize("size_B", [4096.0, 64 * 2**20, GiB])
def test_ring_all_reduce_closed_form_oracle(n, size_B):
    topo = ring_topology(n, bandwidth="100GB/s", latency="1us")
    prof = ideal_profile()
    expected = ring_all_reduce_time(size_B, n, 1e-6, 100e9)
    assert expected == pytest.approx(2 * (n - 1) * (1e-6 + size_B / (n * 100e9)))
    ana = simulate_collective(
        topo, "all_reduce", size_B, algo="ring", backend=prof, fidelity="analytical"
    )
    assert ana.time_s == pytest.approx(expected, rel=1e-9)
    for fid in ("flow", "chunk"):
        r = simulate_collective(topo, "all_reduce", size_B, algo="ring", backend=prof, fidelity=fid)
        assert r.time_s == pytest.approx(expected, rel=0.01), fid


def test_ring_all_gather_oracle_and_levels_agree():
    n = 6
    topo = ring_topology(n, bandwidth="50GB/s", latency="2us")
    expected = ring_all_gather_time(GiB, n, 2e-6, 50e9)
    for fid in ("analytical", "flow", "chunk"):
        r = simulate_collective(
            topo, "all_gather", GiB, algo="ring", backend=ideal_profile(), fidelity=fid
        )
        assert r.time_s == pytest.approx(expected, rel=0.01), fid


def test_large_ring_all_reduce_busbw_approaches_link_bandwidth():
    topo = ring_topology(8, bandwidth="100GB/s", latency="1us")
    r = simulate_collective(topo, "all_reduce", 8 * GiB, algo="ring", backend=ideal_profile())
    assert 0.99 * 100e9 < r.busbw_Bps <= 100e9


def test_halving_doubling_on_a_switch_matches_closed_form():
    n = 8
    topo = star_topology(n, bandwidth="10GB/s", latency="2us")
    # every step crosses two links of 2 us each
    expected = halving_doubling_all_reduce_time(GiB, n, 4e-6, 10e9)
    for fid in ("analytical", "flow", "chunk"):
        r = simulate_collective(
            topo, "all_reduce", GiB, algo="halving_doubling", backend=ideal_profile(), fidelity=fid
        )
        assert r.time_s == pytest.approx(expected, rel=0.01), fid


@pytest.mark.parametrize(
    ("op", "algo"),
    [
        ("all_reduce", "tree"),
        ("all_reduce", "hierarchical"),
        ("all_to_all", "direct"),
        ("broadcast", "ring"),
        ("reduce_scatter", "ring"),
        ("all_reduce", "direct"),
    ],
)
def test_flow_never_beats_the_contention_free_bound(op, algo):
    topo = two_node_topology()
    ana = simulate_collective(topo, op, GiB, algo=algo, fidelity="analytical")
    flow = simulate_collective(topo, op, GiB, algo=algo, fidelity="flow")
    assert flow.time_s >= ana.time_s * (1 - 1e-9)
    assert flow.time_s <= ana.time_s * 1.5


def test_tree_chunk_pipelining_approaches_flow():
    topo = two_node_topology()
    prof = ideal_profile(channels=2)

    def run(fid, chunks=1):
        return simulate_collective(
            topo, "all_reduce", GiB, algo="tree", backend=prof, fidelity=fid, chunks=chunks
        )

    flow, unpiped, piped = run("flow"), run("chunk"), run("chunk", 64)
    assert unpiped.time_s > 2 * piped.time_s  # a tree without pipelining is slow
    assert piped.time_s == pytest.approx(flow.time_s, rel=0.25)


def test_mirror_groups_contend_on_shared_links():
    # 4 hosts on one switch: groups (0,1) and (2,3) are disjoint, (0,1) and (0... share nothing;
    # Transport.collectives on two disjoint groups of a star: independent links -> same time as one
    topo = star_topology(4, bandwidth="10GB/s", latency="1us")
    prof = ideal_profile()
    one = simulate_collective(topo, "all_reduce", GiB, ranks=[0, 1], algo="ring", backend=prof)

    env = simpy.Environment()
    tr = Transport(SimContext(topo, prof), env, Fabric(env, topo.capacity_Bps))
    proc = env.process(tr.collectives([(0, 1), (2, 3)], "all_reduce", GiB, "ring"))
    env.run(until=proc)
    assert proc.value == ["ring", "ring"]
    assert env.now == pytest.approx(one.time_s, rel=1e-6)

    # two all-reduces of the same ranks at once share every link: twice as long
    env = simpy.Environment()
    tr = Transport(SimContext(topo, prof), env, Fabric(env, topo.capacity_Bps), "flow")
    procs = [env.process(tr.collective("all_reduce", (0, 1), GiB, "ring")) for _ in range(2)]
    env.run(until=env.all_of(procs))
    assert env.now == pytest.approx(2 * one.time_s, rel=0.01)


def test_concurrency_limit_serialises_collectives():
    topo = star_topology(4)

    # tiny messages, 1 ms launch latency: unlimited -> overlap; limit 1 -> one after another
    def run(concurrency):
        prof = ideal_profile(concurrency=concurrency, base="1ms")
        env = simpy.Environment()
        tr = Transport(SimContext(topo, prof), env, Fabric(env, topo.capacity_Bps), "flow")
        procs = [
            env.process(tr.collective("all_reduce", (0, 1, 2, 3), 8.0, "ring")) for _ in range(3)
        ]
        env.run(until=env.all_of(procs))
        return env.now

    free, serial = run(0), run(1)
    assert serial == pytest.approx(3 * free, rel=0.01)
    assert run(2) == pytest.approx(2 * free, rel=0.01)


def test_gloo_reduce_scatter_costs_a_full_all_reduce():
    topo = star_topology(4)
    rs = simulate_collective(topo, "reduce_scatter", GiB, backend="gloo")
    ar = simulate_collective(topo, "all_reduce", GiB, backend="gloo")
    assert rs.time_s == pytest.approx(ar.time_s, rel=1e-9)
    nccl_rs = simulate_collective(topo, "reduce_scatter", GiB, backend="nccl", algo="ring")
    nccl_ar = simulate_collective(topo, "all_reduce", GiB, backend="nccl", algo="ring")
    assert nccl_rs.time_s < 0.6 * nccl_ar.time_s


def test_nccl_auto_picks_tree_small_ring_large_across_nodes():
    topo = two_node_topology(gpus=8)
    assert simulate_collective(topo, "all_reduce", 4096.0).algo == "tree"
    big = simulate_collective(topo, "all_reduce", 4 * GiB)
    assert big.algo == "ring"
    # 8 NICs of 25 GB/s at NCCL's InfiniBand efficiency bound the plateau
    eff = load_backend("nccl").efficiency
    assert big.busbw_Bps == pytest.approx(8 * 25e9 * eff["infiniband"], rel=0.05)
    # the tree is capped by the backend's algorithm bandwidth ceiling
    tree = simulate_collective(topo, "all_reduce", 4 * GiB, algo="tree")
    assert tree.algbw_Bps <= 55e9 * (1 + 1e-9)


def test_efficiency_scales_bandwidth():
    topo = ring_topology(8, bandwidth="300GB/s", latency="0.5us")
    r = simulate_collective(topo, "all_reduce", 8 * GiB, algo="ring")
    eff = load_backend("nccl").efficiency["nvlink"]
    assert r.busbw_Bps == pytest.approx(300e9 * eff, rel=0.02)
    assert r.link_bytes_B.sum() == pytest.approx(2 * 7 * 8 * GiB)  # payload, not wire bytes


def test_deterministic():
    topo = two_node_topology()
    a = simulate_collective(topo, "all_reduce", 3e8)
    b = simulate_collective(topo, "all_reduce", 3e8)
    assert a.to_dict() == b.to_dict()


def test_send_recv_and_barrier():
    topo = star_topology(4, bandwidth="10GB/s", latency="1us")
    r = simulate_collective(topo, "send_recv", 1e9, ranks=[0, 3], backend=ideal_profile())
    assert r.time_s == pytest.approx(2e-6 + 1e9 / 10e9, rel=1e-6)
    b = simulate_collective(topo, "barrier", 0, backend=ideal_profile())
    assert b.time_s == pytest.approx(2 * 2e-6, rel=0.01)  # 2 rounds of 2 links


def test_transport_collectives_rejects_overlapping_groups():
    topo = star_topology(4)
    env = simpy.Environment()
    tr = Transport(SimContext(topo, "nccl"), env, Fabric(env, topo.capacity_Bps))
    gen = tr.collectives([(0, 1), (1, 2)], "all_reduce", 1e6)
    with pytest.raises(InputError, match="overlap"):
        env.run(until=env.process(gen))


def test_tree_ceiling_holds_at_every_fidelity():
    topo = two_node_topology(gpus=8)
    times = {
        fid: simulate_collective(
            topo, "all_reduce", GiB, algo="tree", fidelity=fid, chunks=64 if fid == "chunk" else 1
        ).time_s
        for fid in ("analytical", "flow", "chunk")
    }
    assert times["flow"] == pytest.approx(times["analytical"], rel=0.01)
    assert times["chunk"] == pytest.approx(times["flow"], rel=0.1)
    assert GiB / times["chunk"] <= 55e9 * (1 + 1e-9)
