"""Engine semantics on hand-built Programs and small explicit topologies."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.collectives import simulate_collective
from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine import DeadlockError, WorkloadError, simulate
from simulator.topology import load_topology

GBPS8 = 1e9  # "8Gbps" in B/s
LAT = 1e-6

TWO_HOSTS = """
name: two-hosts
nodes:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu}
  - {name: sw, kind: switch}
links:
  - {a: g0, b: sw, bandwidth: 8Gbps, latency: 1us, kind: ethernet}
  - {a: g1, b: sw, bandwidth: 8Gbps, latency: 1us, kind: ethernet}
"""

# Ranks 0 and 2 share host A's uplink, ranks 1 and 3 host B's: pairs (0,1) and (2,3) contend.
SHARED_UPLINK = """
name: shared-uplink
nodes:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu}
  - {name: g2, kind: gpu}
  - {name: g3, kind: gpu}
  - {name: na, kind: switch}
  - {name: nb, kind: switch}
  - {name: sw, kind: switch}
links:
  - {a: g0, b: na, bandwidth: 800Gbps, latency: 1us, kind: nvlink}
  - {a: g2, b: na, bandwidth: 800Gbps, latency: 1us, kind: nvlink}
  - {a: g1, b: nb, bandwidth: 800Gbps, latency: 1us, kind: nvlink}
  - {a: g3, b: nb, bandwidth: 800Gbps, latency: 1us, kind: nvlink}
  - {a: na, b: sw, bandwidth: 8Gbps, latency: 1us, kind: ethernet}
  - {a: nb, b: sw, bandwidth: 8Gbps, latency: 1us, kind: ethernet}
ranks: [g0, g1, g2, g3]
"""


def topo(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "topo.yaml"
    p.write_text(text)
    return load_topology(p)


def overlap_workload(bwd_s: float) -> Workload:
    progs = []
    for r in (0, 1):
        p = Program(rank=r)
        f = p.compute("fwd", duration_s=1e-3, category="fwd")
        p.compute("bwd", duration_s=bwd_s, deps=(f,), category="bwd")
        a = p.collective(
            "ar", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=4e6, deps=(f,), category="dp"
        )
        p.compute("opt", duration_s=0.5e-3, deps=(a,), category="optim")
        progs.append(p)
    return Workload(programs=progs)


def test_exposed_comm_is_what_compute_does_not_hide(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    ar_s = simulate_collective(t, "all_reduce", 4e6, ranks=[0, 1]).time_s
    bwd_s = ar_s / 2
    res = simulate(overlap_workload(bwd_s), t)
    assert res.step_time_s == pytest.approx(1e-3 + ar_s + 0.5e-3, rel=1e-9)
    assert res.compute_s == pytest.approx(1e-3 + bwd_s + 0.5e-3, rel=1e-9)
    assert res.comm_s == pytest.approx(ar_s, rel=1e-9)
    assert res.exposed_comm_s == pytest.approx(ar_s - bwd_s, rel=1e-9)
    assert res.bubble_s == pytest.approx(0.0, abs=1e-12)
    assert res.step_time_s == pytest.approx(
        res.compute_s + res.exposed_comm_s + res.bubble_s, rel=1e-12
    )
    # long backward hides the all-reduce completely
    res2 = simulate(overlap_workload(2 * ar_s), t)
    assert res2.exposed_comm_s == pytest.approx(0.0, abs=1e-12)
    assert res2.comm_by_category_s["dp"] == pytest.approx(ar_s, rel=1e-9)


def pipeline_workload(n_mb: int, act_B: float, f_s: float, b_s: float) -> Workload:
    """2-stage GPipe-like pipeline: all forwards then all backwards."""
    p0, p1 = Program(rank=0), Program(rank=1)
    for m in range(n_mb):
        f = p0.compute(f"fwd.mb{m}", duration_s=f_s, category="fwd", microbatch=m)
        p0.send(f"send.act.mb{m}", peer=1, size_B=act_B, tag=m, deps=(f,), category="pp")
        r = p1.recv(f"recv.act.mb{m}", peer=0, size_B=act_B, tag=m, category="pp")
        p1.compute(f"fwd.mb{m}", duration_s=f_s, deps=(r,), category="fwd", microbatch=m)
    for m in range(n_mb):
        b = p1.compute(f"bwd.mb{m}", duration_s=b_s, category="bwd", microbatch=m)
        p1.send(f"send.grad.mb{m}", peer=0, size_B=act_B, tag=100 + m, deps=(b,), category="pp")
        r = p0.recv(f"recv.grad.mb{m}", peer=1, size_B=act_B, tag=100 + m, category="pp")
        p0.compute(f"bwd.mb{m}", duration_s=b_s, deps=(r,), category="bwd", microbatch=m)
    return Workload(programs=[p0, p1])


def test_two_stage_pipeline_send_recv(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    act_B, f_s, b_s = 1e5, 1e-3, 2e-3
    xfer_s = 2 * LAT + act_B / GBPS8  # path latency + bytes at the bottleneck rate
    res = simulate(pipeline_workload(4, act_B, f_s, b_s), t)
    ops = res.ops.set_index(["rank", "name"])
    # stage 1 starts its first forward when the first activation has arrived
    assert ops.loc[(1, "fwd.mb0"), "start_s"] == pytest.approx(f_s + xfer_s, rel=1e-9)
    assert ops.loc[(1, "recv.act.mb0"), "end_s"] == ops.loc[(0, "send.act.mb0"), "end_s"]
    # the first backward of stage 0 waits for stage 1's last forward + backward + transfer
    last_fwd1 = ops.loc[(1, "fwd.mb3"), "end_s"]
    assert ops.loc[(0, "bwd.mb0"), "start_s"] == pytest.approx(last_fwd1 + b_s + xfer_s)
    assert res.critical_rank == 0
    assert res.bubble_s > 0
    assert res.step_time_s == pytest.approx(
        res.compute_s + res.exposed_comm_s + res.bubble_s, rel=1e-12
    )
    assert res.compute_s == pytest.approx(4 * (f_s + b_s), rel=1e-12)
    # every op ran once, with start <= end
    assert (res.ops["end_s"] >= res.ops["start_s"]).all()
    assert len(res.flows) == 8


def test_deadlock_in_recv_names_ranks_and_ops(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    p0, p1 = Program(rank=0), Program(rank=1)
    r0 = p0.recv("recv.mb4", peer=1, size_B=10, tag=4)
    p0.send("send.x", peer=1, size_B=10, tag=5, deps=(r0,))
    r1 = p1.recv("recv.x", peer=0, size_B=10, tag=5)
    p1.send("send.mb4", peer=0, size_B=10, tag=4, deps=(r1,))
    with pytest.raises(DeadlockError) as info:
        simulate(Workload(programs=[p0, p1]), t)
    msg = str(info.value)
    assert "rank 0 waits in recv 'recv.mb4' from rank 1" in msg
    assert (
        "rank 1 never reached the matching send (blocked at op 'recv.x' waiting for rank 0)" in msg
    )
    assert {b[0] for b in info.value.blocked} == {0, 1}


def test_deadlock_in_collectives_in_opposite_order(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    progs = []
    for r, order in ((0, ("ar.a", "ar.b")), (1, ("ar.b", "ar.a"))):
        p = Program(rank=r)
        for name in order:
            p.collective(name, op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=1e3, match_key=name)
        progs.append(p)
    with pytest.raises(DeadlockError) as info:
        simulate(Workload(programs=progs), t)
    msg = str(info.value)
    assert (
        "rank 0 waits in collective 'ar.a' (all_reduce) on group (0, 1): rank 1 never reached "
        "it (blocked at op 'ar.b' waiting for rank 0)"
    ) in msg


def test_missing_duration_is_a_clear_error(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    p = Program(rank=0)
    p.compute("fwd.layer3", flops=1e12)
    with pytest.raises(WorkloadError, match=r"rank 0 op 'fwd.layer3' \(id 0\).*no duration_s"):
        simulate(Workload(programs=[p], world=2), t)
    res = simulate(Workload(programs=[p], world=2), t, compute_model=lambda op, r: op.flops / 1e15)
    assert res.step_time_s == pytest.approx(1e-3)


def test_members_disagreeing_on_size_are_rejected(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    progs = []
    for r, size in ((0, 1e3), (1, 2e3)):
        p = Program(rank=r)
        p.collective("ar", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=size)
        progs.append(p)
    with pytest.raises(WorkloadError, match="disagree"):
        simulate(Workload(programs=progs), t)


def tp_pairs(ranks: list[int], mirror: bool) -> Workload:
    progs = []
    for r in ranks:
        p = Program(rank=r)
        grp = (0, 1) if r in (0, 1) else (2, 3)
        c = p.compute("fwd", duration_s=1e-4)
        a = p.collective(
            "ar",
            op=CollectiveOp.ALL_REDUCE,
            group=grp,
            size_B=2e6,
            deps=(c,),
            mirrors=[(2, 3)] if mirror else (),
        )
        s = p.send(
            "x", peer=r ^ 1, size_B=1e6, deps=(a,), mirrors=[(r + 2, (r ^ 1) + 2)] if mirror else ()
        )
        p.recv("y", peer=r ^ 1, size_B=1e6, deps=(a,), stream="recv")
        p.compute("after", duration_s=1e-5, deps=(s,))
        progs.append(p)
    return Workload(programs=progs, world=4)


def test_mirrors_match_the_unfolded_workload(tmp_path: Path) -> None:
    t = topo(tmp_path, SHARED_UPLINK)
    full = simulate(tp_pairs([0, 1, 2, 3], mirror=False), t)
    folded = simulate(tp_pairs([0, 1], mirror=True), t)
    alone = simulate(tp_pairs([0, 1], mirror=False), t)
    assert folded.step_time_s == pytest.approx(full.step_time_s, rel=1e-9)
    assert alone.step_time_s < 0.9 * full.step_time_s  # the mirrors' contention is real
    pd.testing.assert_series_equal(folded.links["bytes_B"], full.links["bytes_B"])
    assert folded.simulated_ranks == [0, 1] and folded.world == 4


def test_same_inputs_same_outputs_bit_for_bit(tmp_path: Path) -> None:
    t = topo(tmp_path, SHARED_UPLINK)

    def wl() -> Workload:
        w = pipeline_workload(3, 3e5, 1e-4, 2e-4)
        for p in w.programs:
            p.collective("ar", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=5e6)
        return w

    a, b = simulate(wl(), t), simulate(wl(), t)
    pd.testing.assert_frame_equal(a.ops, b.ops, check_exact=True)
    pd.testing.assert_frame_equal(a.links, b.links, check_exact=True)
    pd.testing.assert_frame_equal(a.flows, b.flows, check_exact=True)
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("fidelity", ["analytical", "flow", "chunk"])
def test_every_fidelity_runs_and_agrees_without_contention(tmp_path: Path, fidelity: str) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    ref = simulate(overlap_workload(1e-4), t, fidelity="flow")
    res = simulate(overlap_workload(1e-4), t, fidelity=fidelity)
    assert res.fidelity == fidelity
    assert res.step_time_s == pytest.approx(ref.step_time_s, rel=0.05)


def test_bad_inputs(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    p = Program(rank=0)
    p.collective("ar", op=CollectiveOp.ALL_REDUCE, group=(1, 2), size_B=1)
    with pytest.raises(WorkloadError, match="does not contain rank 0"):
        simulate(Workload(programs=[p], world=2), t)
    with pytest.raises(WorkloadError, match="topology only 2"):
        simulate(Workload(programs=[Program(rank=0)], world=3), t)
    with pytest.raises(WorkloadError, match="unknown fidelity"):
        simulate(Workload(programs=[Program(rank=0)], world=2), t, fidelity="packet")


def test_steps_per_program_divides_every_figure(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    w1 = overlap_workload(1e-4)
    w2 = overlap_workload(1e-4)
    w2.steps_per_program = 2
    a, b = simulate(w1, t), simulate(w2, t)
    assert b.step_time_s == pytest.approx(a.step_time_s / 2)
    assert b.exposed_comm_s == pytest.approx(a.exposed_comm_s / 2)
    assert b.links["bytes_per_step_B"].sum() == pytest.approx(a.links["bytes_B"].sum() / 2)


def test_member_that_finished_early_is_named(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    p0, p1 = Program(rank=0), Program(rank=1)
    p0.collective("ar.bucket2", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=8)
    p1.compute("fwd", duration_s=1e-3)
    with pytest.raises(DeadlockError) as info:
        simulate(Workload(programs=[p0, p1]), t)
    assert "rank 1 never reached it (finished its program without reaching it)" in str(info.value)
    assert info.value.time_s == pytest.approx(1e-3)


def test_p2p_with_a_mirrored_peer_starts_at_once(tmp_path: Path) -> None:
    t = topo(tmp_path, TWO_HOSTS)
    p0 = Program(rank=0)
    c = p0.compute("fwd", duration_s=1e-3)
    p0.send("act", peer=1, size_B=1e6, deps=(c,))
    res = simulate(Workload(programs=[p0], world=2), t)
    assert res.step_time_s == pytest.approx(1e-3 + 2 * LAT + 1e6 / GBPS8, rel=1e-9)
    assert res.links["bytes_B"].sum() == pytest.approx(2 * 1e6)  # two hops


@pytest.mark.parametrize("size_B", [1e7, 1e6])
def test_a_send_returns_when_only_its_buffer_is_left(tmp_path: Path, size_B: float) -> None:
    from dataclasses import replace

    from simulator.collectives import load_backend

    t = topo(tmp_path, TWO_HOSTS)
    be = replace(load_backend("gloo"), send_buffer_B=2e6)
    p0, p1 = Program(rank=0), Program(rank=1)
    s = p0.send("push", peer=1, size_B=size_B)
    p0.compute("after", duration_s=1e-3, deps=(s,))
    p1.recv("pull", peer=0, size_B=size_B)
    ops = simulate(Workload(programs=[p0, p1]), t, backend=be).ops.set_index(["rank", "name"])
    deliver = 2 * LAT + size_B / GBPS8
    # the receive completes on delivery; the send 2 MB (at the link rate) earlier, or at once
    assert ops.loc[(1, "pull"), "end_s"] == pytest.approx(deliver, rel=1e-9)
    released = max(0.0, deliver - 2e6 / GBPS8) if size_B > 2e6 else 0.0
    assert ops.loc[(0, "push"), "end_s"] == pytest.approx(released, rel=1e-9, abs=1e-12)
    assert ops.loc[(0, "after"), "start_s"] == ops.loc[(0, "push"), "end_s"]
    # without a buffer both end on delivery
    ops0 = simulate(Workload(programs=[p0, p1]), t, backend="gloo").ops.set_index(["rank", "name"])
    assert ops0.loc[(0, "push"), "end_s"] == pytest.approx(deliver, rel=1e-9)


NODES_2X2 = """
name: two-nodes
nodes:
  - {name: a.nvs, kind: nvswitch, host: a}
  - {name: b.nvs, kind: nvswitch, host: b}
  - {name: a0, kind: gpu, host: a}
  - {name: a1, kind: gpu, host: a}
  - {name: b0, kind: gpu, host: b}
  - {name: b1, kind: gpu, host: b}
  - {name: a0.nic, kind: nic, host: a}
  - {name: a1.nic, kind: nic, host: a}
  - {name: b0.nic, kind: nic, host: b}
  - {name: b1.nic, kind: nic, host: b}
  - {name: sw, kind: switch}
links:
  - {a: a0, b: a.nvs, bandwidth: 400GB/s, latency: 1us, kind: nvlink}
  - {a: a1, b: a.nvs, bandwidth: 400GB/s, latency: 1us, kind: nvlink}
  - {a: b0, b: b.nvs, bandwidth: 400GB/s, latency: 1us, kind: nvlink}
  - {a: b1, b: b.nvs, bandwidth: 400GB/s, latency: 1us, kind: nvlink}
  - {a: a0, b: a0.nic, bandwidth: 50GB/s, latency: 1us, kind: pcie}
  - {a: a1, b: a1.nic, bandwidth: 50GB/s, latency: 1us, kind: pcie}
  - {a: b0, b: b0.nic, bandwidth: 50GB/s, latency: 1us, kind: pcie}
  - {a: b1, b: b1.nic, bandwidth: 50GB/s, latency: 1us, kind: pcie}
  - {a: a0.nic, b: sw, bandwidth: 100Gbps, latency: 2us, kind: infiniband}
  - {a: a1.nic, b: sw, bandwidth: 100Gbps, latency: 2us, kind: infiniband}
  - {a: b0.nic, b: sw, bandwidth: 100Gbps, latency: 2us, kind: infiniband}
  - {a: b1.nic, b: sw, bandwidth: 100Gbps, latency: 2us, kind: infiniband}
ranks: [a0, a1, b0, b1]
"""


def tp_pipeline(mbs: int) -> Workload:
    """PP2 x TP2, TP collectives on NVLink (isolated), PP sends on the NICs, TP folded."""
    progs = []
    for s, rank in ((0, 0), (1, 2)):
        p = Program(rank=rank)
        last = -1
        for m in range(mbs):
            deps: tuple[int, ...] = (last,) if last >= 0 else ()
            if s == 1:
                deps = (*deps, p.recv(f"recv.mb{m}", peer=0, size_B=4e6, tag=m, stream="recv"))
            c = p.compute(f"fwd.mb{m}", duration_s=1e-4, deps=deps, category="fwd")
            last = p.collective(
                f"tp.mb{m}",
                op=CollectiveOp.ALL_REDUCE,
                group=(rank, rank + 1),
                size_B=8e6,
                deps=(c,),
                stream="tp",
                category="tp",
            )
            if s == 0:
                p.send(f"send.mb{m}", peer=2, size_B=4e6, tag=m, deps=(last,), mirrors=[(1, 3)])
        progs.append(p)
    return Workload(programs=progs, world=4)


def test_isolated_collectives_replay_exactly(tmp_path: Path) -> None:
    from simulator.collectives import SimContext
    from simulator.engine.isolation import find_isolated
    from simulator.engine.streams import build_plan

    t = topo(tmp_path, NODES_2X2)
    wl = tp_pipeline(4)
    iso = find_isolated(build_plan(wl, t.num_ranks), SimContext(t, "nccl"))
    assert {k[1] for k in iso} == {(0, 1), (2, 3)}
    fast = simulate(wl, t, isolate=True)
    slow = simulate(wl, t, isolate=False)
    assert fast.step_time_s == pytest.approx(slow.step_time_s, rel=1e-12)
    for col in ("start_s", "end_s"):
        assert fast.ops[col].to_numpy() == pytest.approx(slow.ops[col].to_numpy(), rel=1e-12)
    for col in ("bytes_B", "busy_s", "peak"):
        assert fast.links[col].to_numpy() == pytest.approx(slow.links[col].to_numpy(), rel=1e-9)
    assert len(fast.flows) == len(slow.flows)
    assert sorted(fast.flows["end_s"]) == pytest.approx(sorted(slow.flows["end_s"]), rel=1e-12)


def test_shared_links_are_not_isolated(tmp_path: Path) -> None:
    from simulator.collectives import SimContext
    from simulator.engine.isolation import find_isolated
    from simulator.engine.streams import build_plan

    t = topo(tmp_path, NODES_2X2)
    wl = tp_pipeline(2)
    # a p2p between the TP pair's ranks shares their NVLink links
    wl.programs[0].send("x", peer=1, size_B=10, stream="side")
    assert {k[1] for k in find_isolated(build_plan(wl, 4), SimContext(t, "nccl"))} == {(2, 3)}
    # the same group issued from two streams may overlap with itself
    wl2 = tp_pipeline(2)
    wl2.programs[1].collective("tp.extra", op=CollectiveOp.ALL_REDUCE, group=(2, 3), size_B=8e6)
    assert {k[1] for k in find_isolated(build_plan(wl2, 4), SimContext(t, "nccl"))} == {(0, 1)}
