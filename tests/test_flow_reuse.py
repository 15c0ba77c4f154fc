"""Flows built once and started again: a transport that reuses a phase's flows gives the same
times and link statistics as one that builds them every run; a fabric finds a tuple's prepared
batch again; join entries keep the (time, seq) order of one entry per flow."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from simulator.collectives import SimContext, Transport
from simulator.network import Fabric, FlowSpec
from simulator.topology import load_topology


def _run(reuse: bool) -> tuple[list[float], Fabric, Transport]:
    """Data-parallel-like buckets: the same all_reduce four times in a row on one group, and
    alongside, the same reduce_scatter twice on an overlapping group (contention)."""
    topo = load_topology("dgx-h100-32node")
    ctx = SimContext(topo, "nccl")
    env = simpy.Environment()
    fabric = Fabric(env, topo.capacity_Bps, record=False)
    tr = Transport(ctx, env, fabric, "flow", payloads=False, reuse_flows=reuse)
    ends: list[float] = []
    group = tuple(range(0, 256, 8))
    other = (*range(0, 256, 16), 1)

    def buckets(g: tuple[int, ...], op: str, size_B: float, n: int) -> Generator[simpy.Event]:
        for _ in range(n):
            yield env.process(tr.collective(op, g, size_B, tag=f"{op}.bucket"))
            ends.append(env.now)

    env.process(buckets(group, "all_reduce", 64e6, 4))
    env.process(buckets(other, "reduce_scatter", 48e6, 2))
    env.run()
    return ends, fabric, tr


def test_reused_flows_give_the_same_times_and_link_statistics() -> None:
    ends, fab, tr = _run(reuse=True)
    ref_ends, ref, ref_tr = _run(reuse=False)
    assert ends == ref_ends  # bit for bit
    assert np.array_equal(fab.link_bytes_B, ref.link_bytes_B)
    assert np.array_equal(fab.link_busy_s, ref.link_busy_s)
    assert np.array_equal(fab.link_peak_util, ref.link_peak_util)
    assert fab.flows_started == ref.flows_started
    assert (fab.settles, fab.recomputes) == (ref.settles, ref.recomputes)
    # the all_reduce's phases ran four times: built on the second run, reused after
    assert any(kept is not None for _, _, kept, _ in tr._seen.values())
    assert fab._batches and not ref._batches and not ref_tr._seen


def test_a_tuple_started_again_finds_its_batch_and_gives_the_same_records() -> None:
    specs = tuple(
        FlowSpec((k % 3, 3 + k % 2), 1e6 * (1 + k % 4), 1e-6 * (k % 3)) for k in range(12)
    )

    def run(as_tuple: bool) -> tuple[list[tuple[float, float, int]], Fabric]:
        env = simpy.Environment()
        fab = Fabric(env, [1e9, 2e9, 3e9, 1e9, 5e8], record=True)

        def go() -> Generator[simpy.Event]:
            for _ in range(3):
                yield fab.start_many(specs if as_tuple else list(specs))

        env.process(go())
        env.run()
        return [(r.start_s, r.end_s, r.seq) for r in fab.records], fab

    got, fab = run(True)
    want, ref = run(False)
    assert got == want
    assert len(fab._batches) == 1 and not ref._batches


def test_one_join_entry_per_join_time_in_seq_order() -> None:
    """Latencies that differ but give the same join time (far below the clock's resolution
    at the current time) share one entry, their seqs ascending as one entry per flow would
    pop them."""
    env = simpy.Environment(initial_time=1e6)
    fab = Fabric(env, [1e9, 1e9], record=False, aggregate=False)
    lat = [1e-12, 2e-12, 1e-12, 2e-12, 1.0]
    fab.start_many([FlowSpec((k % 2,), 1e3, la) for k, la in enumerate(lat)])
    assert sorted((t, first, seqs) for t, first, seqs in fab._joins) == [
        (1e6, 0, [0, 1, 2, 3]),
        (1e6 + 1.0, 4, [4]),
    ]
    env.run()
    assert fab.in_flight == 0


def test_a_phase_started_with_other_latencies_gets_new_flows() -> None:
    topo = load_topology("dgx-h100-32node")
    ctx = SimContext(topo, "nccl")
    env = simpy.Environment()
    fabric = Fabric(env, topo.capacity_Bps, record=False)
    tr = Transport(ctx, env, fabric, "flow", payloads=False, reuse_flows=True)
    planned = ctx.choose("all_reduce", tuple(range(0, 64, 8)), 1e6).planned[0]
    n = len(planned.transfers)
    starts = []
    for lat in (1e-6, 1e-6, 1e-6, 2e-6):
        starts.append(len(fabric._spec))
        tr.start_flows(planned, np.full(n, lat), 1.0, "t")
    first, second, third, fourth = (fabric._spec[k] for k in starts)
    assert third is second and first is not second  # built on the second run, then reused
    assert fourth is not third and fourth.latency_s == 2e-6
