"""Every algorithm moves the bytes it should; schedules are consistent in both views."""

from __future__ import annotations

import math

import pytest

from simulator.collectives import build_schedule, busbw_factor, supports
from simulator.collectives.ring import ring_order
from simulator.collectives.schedule import Transfer, pipeline
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm
from simulator.core.vocab import CollectiveOp as Op

S = 1 << 20


def hosts_of(n: int, per_host: int) -> list[str]:
    return [f"node{i // per_host}" for i in range(n)]


# (algo, op, n, per_host) -> expected total bytes as a multiple of S
EXPECTED = [
    (Algorithm.RING, Op.ALL_REDUCE, 8, 8, lambda n: 2 * (n - 1)),
    (Algorithm.RING, Op.ALL_REDUCE, 16, 8, lambda n: 2 * (n - 1)),
    (Algorithm.RING, Op.REDUCE_SCATTER, 8, 4, lambda n: n - 1),
    (Algorithm.RING, Op.ALL_GATHER, 8, 4, lambda n: n - 1),
    (Algorithm.RING, Op.BROADCAST, 6, 3, lambda n: n - 1),
    (Algorithm.RING, Op.REDUCE, 6, 3, lambda n: n - 1),
    (Algorithm.TREE, Op.ALL_REDUCE, 16, 4, lambda n: 2 * (n - 1)),
    (Algorithm.TREE, Op.ALL_REDUCE, 7, 7, lambda n: 2 * (n - 1)),
    (Algorithm.TREE, Op.BROADCAST, 11, 1, lambda n: n - 1),
    (Algorithm.TREE, Op.REDUCE, 11, 1, lambda n: n - 1),
    (Algorithm.HALVING_DOUBLING, Op.ALL_REDUCE, 8, 1, lambda n: 2 * (n - 1)),
    # 6 = 4 + 2: 2 extra ranks fold in (2 S) and out (2 S), the core of 4 moves 2*3 S
    (Algorithm.HALVING_DOUBLING, Op.ALL_REDUCE, 6, 1, lambda n: 2 * 3 + 4),
    (Algorithm.HALVING_DOUBLING, Op.REDUCE_SCATTER, 8, 1, lambda n: n - 1),
    (Algorithm.HALVING_DOUBLING, Op.ALL_GATHER, 8, 1, lambda n: n - 1),
    (Algorithm.DIRECT, Op.ALL_TO_ALL, 5, 1, lambda n: n - 1),
    (Algorithm.DIRECT, Op.ALL_GATHER, 5, 1, lambda n: n - 1),
    (Algorithm.DIRECT, Op.REDUCE_SCATTER, 5, 1, lambda n: n - 1),
    (Algorithm.DIRECT, Op.ALL_REDUCE, 5, 1, lambda n: 2 * (n - 1)),
    (Algorithm.DIRECT, Op.BROADCAST, 5, 1, lambda n: n - 1),
    (Algorithm.DIRECT, Op.SEND_RECV, 2, 1, lambda n: 1),
    (Algorithm.HIERARCHICAL, Op.ALL_REDUCE, 16, 4, lambda n: 2 * (n - 1)),
]


@pytest.mark.parametrize(("algo", "op", "n", "per_host", "factor"), EXPECTED)
@pytest.mark.parametrize("channels", [1, 3])
def test_bytes_moved(algo, op, n, per_host, factor, channels):
    sched = build_schedule(algo, op, list(range(n)), hosts_of(n, per_host), S, channels=channels)
    assert sched.bytes_B == pytest.approx(factor(n) * S, rel=1e-12)
    # the step view moves exactly the bytes of the flow view, phase by phase
    for phase in sched.phases:
        steps = phase.steps()
        assert len(steps) == phase.depth
        assert sum(t.size_B for s in steps for t in s) == pytest.approx(phase.bytes_B, rel=1e-12)
        assert all(t.src != t.dst for s in steps for t in s)


def test_ring_all_reduce_is_one_phase_of_n_flows_per_channel():
    n, ch = 8, 2
    sched = build_schedule(Algorithm.RING, Op.ALL_REDUCE, range(n), hosts_of(n, 8), S, channels=ch)
    (phase,) = sched.phases
    assert len(phase.flows) == n * ch
    assert phase.depth == 2 * (n - 1)
    for f in phase.flows:
        assert f.size_B == pytest.approx(2 * (n - 1) / n * S / ch)


def test_ring_channels_cross_hosts_on_different_gpus():
    n, per_host = 16, 8
    hosts = hosts_of(n, per_host)
    leaving = set()
    for c in range(per_host):
        order = ring_order(range(n), hosts, c)
        assert sorted(order) == list(range(n))
        crossings = [
            (a, b)
            for a, b in zip(order, order[1:] + order[:1], strict=True)
            if hosts[a] != hosts[b]
        ]
        assert len(crossings) == 2
        leaving.update(a for a, _ in crossings)
    # every GPU of both hosts sends across hosts in some channel: all NICs are used
    assert leaving == set(range(n))


def test_tree_two_trees_use_different_heads_and_depth():
    n, per_host = 16, 4
    sched = build_schedule(Algorithm.TREE, Op.ALL_REDUCE, range(n), hosts_of(n, per_host), S)
    (phase,) = sched.phases
    # chains of 4 (3 steps) and a heap of 4 hosts (depth 2), up and down
    assert phase.depth == 2 * (3 + 2)
    cross = {t.channel: set() for t in phase.flows}
    hosts = hosts_of(n, per_host)
    for t in phase.flows:
        if hosts[t.src] != hosts[t.dst]:
            cross[t.channel].add(t.src)
    assert cross[0].isdisjoint(cross[1])


def test_halving_doubling_partners_and_sizes():
    n = 8
    sched = build_schedule(Algorithm.HALVING_DOUBLING, Op.ALL_REDUCE, range(n), hosts_of(n, 1), S)
    rs, ag = sched.phases
    assert rs.depth == ag.depth == int(math.log2(n))
    first = rs.steps()[0]
    assert {(t.src, t.dst) for t in first} == {(i, i ^ 4) for i in range(n)}
    assert all(t.size_B == S / 2 for t in first)


def test_halving_doubling_rejects_non_power_of_two_reduce_scatter():
    with pytest.raises(InputError):
        build_schedule(Algorithm.HALVING_DOUBLING, Op.REDUCE_SCATTER, range(6), hosts_of(6, 1), S)


def test_hierarchical_needs_equal_hosts():
    with pytest.raises(InputError):
        build_schedule(
            Algorithm.HIERARCHICAL, Op.ALL_REDUCE, range(6), ["a", "a", "a", "a", "b", "b"], S
        )


def test_unsupported_algorithm_is_input_error():
    assert not supports(Algorithm.TREE, Op.ALL_TO_ALL)
    with pytest.raises(InputError, match="direct"):
        build_schedule(Algorithm.TREE, Op.ALL_TO_ALL, range(4), hosts_of(4, 1), S)


def test_barrier_is_dissemination_of_tokens():
    sched = build_schedule(Algorithm.DIRECT, Op.BARRIER, range(5), hosts_of(5, 1), 0)
    (phase,) = sched.phases
    assert phase.depth == 3  # ceil(log2 5)
    assert all(t.size_B == 4 for s in phase.steps() for t in s)


def test_busbw_factor_matches_nccl_tests():
    assert busbw_factor("all_reduce", 8) == pytest.approx(2 * 7 / 8)
    for op in ("all_gather", "reduce_scatter", "all_to_all"):
        assert busbw_factor(op, 8) == pytest.approx(7 / 8)
    for op in ("broadcast", "reduce", "send_recv"):
        assert busbw_factor(op, 8) == 1.0
    with pytest.raises(InputError):
        busbw_factor("gather", 8)


def test_pipeline_wavefronts():
    steps = [(Transfer(0, 1, 8.0),), (Transfer(1, 2, 8.0),), (Transfer(2, 3, 8.0),)]
    waves = pipeline(steps, 4)
    assert len(waves) == 3 + 4 - 1
    assert sum(t.size_B for w in waves for t in w) == 24.0
    assert {(t.src, t.size_B) for t in waves[3]} == {(0, 2.0), (1, 2.0), (2, 2.0)}


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("root", [0, 1])
def test_gloo_broadcast_is_an_eager_binomial_tree(n, root):
    """Every rank but the root receives once, from a rank that already holds the buffer; the
    root sends to virtual ranks 1, 2, 4, ... in the first step (gloo posts its sends at once)."""
    group = list(range(10, 10 + n))
    hosts = [f"h{r}" for r in group]
    sched = build_schedule(Algorithm.TREE, Op.BROADCAST, group, hosts, 1.0, root=root)
    steps = [p.flows for p in sched.phases]  # one phase per store-and-forward step
    assert len(steps) == n.bit_length() - 1  # floor(log2 n): the most bits set below n
    have = {group[root]}
    received = []
    for step in steps:
        assert all(t.src in have for t in step)
        received += [t.dst for t in step]
        have |= {t.dst for t in step}
    assert sorted(received) == sorted(set(group) - {group[root]})
    first_dsts = {(t.dst - 10 - root) % n for t in steps[0]}
    assert first_dsts == {1 << i for i in range(math.ceil(math.log2(n)))}


def test_gloo_broadcast_on_one_switch_takes_three_link_times_for_four_hosts():
    """The rig measurement this models (docs/rig.md): 64 MiB from one of 4 hosts behind
    400 Mbit/s NICs takes 3 S/B, because the root's two first-step sends share its NIC."""
    from simulator.collectives.simulate import simulate_collective
    from simulator.topology import load_topology

    size = 64 * 2**20
    link_s = size / 50e6
    flat = simulate_collective(load_topology("rig-4host-flat"), "broadcast", size, backend="gloo")
    assert flat.time_s == pytest.approx(3 * link_s, rel=0.01)
    two = simulate_collective(load_topology("rig-2host"), "broadcast", size, backend="gloo")
    assert two.time_s == pytest.approx(link_s, rel=0.01)
