"""Routes walked together (``Router.route_many``, D-mod-K) are the routes of ``Router.route``
one by one, on several shipped topologies and under evictions; the planner's paths and per-link
loads are what each transfer gets alone."""

from __future__ import annotations

import random

import pytest

from simulator.faults.network import FaultedTopology
from simulator.topology import GraphBuilder, Topology, load_topology

NAMES = ["fat-tree-1024", "dgx-a100-superpod", "tpu-torus-4x4x4", "two-dc-wan", "pcie-8gpu"]


def _routes(n: int, seed: int) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    pairs = [(rng.randrange(n), rng.randrange(n), rng.randrange(6)) for _ in range(600)]
    return pairs + [(s, (s + 1) % n, 0) for s in range(n)] + [(1 % n, 1 % n, 0)]


@pytest.mark.parametrize("name", NAMES)
def test_route_many_equals_route_one_by_one(name: str) -> None:
    one, many = load_topology(name), load_topology(name)
    one.set_ecmp("dmodk")
    many.set_ecmp("dmodk")
    pairs = [(s, d) for s, d, _ in _routes(one.num_ranks, 7) if s != d]
    expected = [one._get_router().route(s, d) for s, d in pairs]
    assert many._get_router().route_many(pairs) == expected


def test_route_many_survives_evictions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of one block, destinations in every block: no block in use is lost."""
    import simulator.topology.routing as routing

    monkeypatch.setattr(routing, "_CACHE_BYTES", 1)
    topo, ref = load_topology("fat-tree-1024"), load_topology("fat-tree-1024")
    topo.set_ecmp("dmodk")
    ref.set_ecmp("dmodk")
    pairs = [(s, d) for s, d, _ in _routes(topo.num_ranks, 3) if s != d]
    assert topo._get_router().route_many(pairs) == [ref.route(s, d) for s, d in pairs]


def test_route_many_raises_as_route() -> None:
    gb = GraphBuilder()
    gb.add_node("a", "cpu")
    gb.add_node("b", "cpu")
    topo = gb.build("t", ecmp="dmodk")
    with pytest.raises(ValueError, match="no route"):
        topo._get_router().route_many([(0, 1)])
    with pytest.raises(ValueError, match="no route"):
        topo.prefetch_routes([(0, 1, 0)])
    with pytest.raises(IndexError):
        topo.prefetch_routes([(0, 5, 0)])


def test_prefetch_asks_a_subclass_its_own_routes() -> None:
    """A faulted topology routes around a down link through a peer (relays): prefetching
    must give its routes, not the healthy router's."""
    base = load_topology("dgx-a100-2node")
    down = next(lk.id for lk in base.links if (lk.src, lk.dst) == ("node0.gpu0", "node0.pcie0"))
    topo = FaultedTopology(base, list(base.links), frozenset({down}), ["gpu0 pcie down"])
    ref = FaultedTopology(base, list(base.links), frozenset({down}), ["gpu0 pcie down"])
    routes = [(s, d, 0) for s in range(8) for d in range(8, 16)]
    topo.prefetch_routes(routes)
    assert [topo.route(s, d) for s, d, _ in routes] == [ref.route(s, d) for s, d, _ in routes]
    with pytest.raises(ValueError, match="no route"):  # rank 0 needs a relay to reach 8
        Topology.route(ref, 0, 8)


@pytest.mark.parametrize("ecmp", ["hash", "dmodk"])
def test_plan_gives_every_channel_its_path(ecmp: str) -> None:
    """``FlowPlanner.plan`` (D-mod-K: one route per pair, shared by its channels) gives the
    :class:`PathInfo` that ``path`` computes for each transfer alone."""
    from simulator.collectives.backend import load_backend
    from simulator.collectives.flows import FlowPlanner
    from simulator.collectives.schedule import Transfer

    many, one = load_topology("fat-tree-1024"), load_topology("fat-tree-1024")
    many.set_ecmp(ecmp)
    one.set_ecmp(ecmp)
    rng = random.Random(11)
    n = many.num_ranks
    ts = [
        Transfer(rng.randrange(n), rng.randrange(n), 1.0, rng.randrange(1, 5)) for _ in range(300)
    ]
    ts += [Transfer(t.src, t.dst, 2.0, 0) for t in ts[:50]]  # some pairs on channel 0 as well
    planned = FlowPlanner(many, load_backend("nccl")).plan(ts)
    ref = FlowPlanner(one, load_backend("nccl"))
    assert list(planned.paths) == [ref.path(t.src, t.dst, t.channel) for t in ts]


def test_link_loads_sum_every_transfer_on_its_links() -> None:
    """``link_load_B`` / ``link_payload_B`` against a plain per-link sum (self transfers and
    zero-byte transfers included)."""
    from simulator.collectives.backend import load_backend
    from simulator.collectives.flows import FlowPlanner
    from simulator.collectives.schedule import Transfer

    topo = load_topology("dgx-a100-2node")
    rng = random.Random(2)
    ts = [
        Transfer(rng.randrange(16), rng.randrange(16), rng.choice([0.0, 3.5, 1e6]))
        for _ in range(80)
    ]
    planned = FlowPlanner(topo, load_backend("nccl")).plan(ts)
    load, payload = [0.0] * len(topo.links), [0.0] * len(topo.links)
    for p, w, b in zip(
        planned.paths, planned.wire_B.tolist(), planned.payload_B.tolist(), strict=True
    ):
        for i in p.links:
            load[i] += w
            payload[i] += b
    assert planned.link_load_B(len(topo.links)).tolist() == load
    assert planned.link_payload_B(len(topo.links)).tolist() == payload
    assert FlowPlanner(topo, load_backend("nccl")).plan([]).link_load_B(4).tolist() == [0.0] * 4
