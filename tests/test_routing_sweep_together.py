"""Topology.prefetch_distances: the distances of many strided groups swept together, a block of
ranks per sweep, give the routes of sweeping each group on its own; nothing is swept when the
router's cache could not keep it."""

from __future__ import annotations

import pytest

import simulator.topology.routing as routing
from simulator.topology import Topology, load_topology
from tests.test_routing_prefetch import _sweeps

# every 8th rank from 8 offsets: eight data-parallel groups of 128 ranks, 1,024 ranks in all
GROUPS = [list(range(t, 1024, 8)) for t in range(8)]


def _ring_routes(topo: Topology, key: int) -> list[tuple[int, ...]]:
    out = []
    for group in GROUPS:
        pairs = list(zip(group, group[1:] + group[:1], strict=True))
        topo.prefetch_routes([(a, b, key) for a, b in pairs])  # as the flow planner does
        out += [topo.route(a, b, key) for a, b in pairs]
    return out


@pytest.mark.parametrize("ecmp", ["hash", "dmodk"])
def test_swept_together_routes_equal_routes_swept_per_group(
    monkeypatch: pytest.MonkeyPatch, ecmp: str
) -> None:
    alone = load_topology("fat-tree-1024")
    alone.set_ecmp(ecmp)
    sweeps = _sweeps(monkeypatch)
    expected = _ring_routes(alone, 3)
    per_group = sweeps[0]
    together = load_topology("fat-tree-1024")
    together.set_ecmp(ecmp)
    sweeps[0] = 0
    assert together.prefetch_distances(r for g in GROUPS for r in g)
    assert sweeps[0] == 1024 // routing.BLOCK
    assert _ring_routes(together, 3) == expected
    assert sweeps[0] == 1024 // routing.BLOCK < per_group  # every route from those sweeps


def test_nothing_swept_when_the_cache_could_not_keep_it(monkeypatch: pytest.MonkeyPatch) -> None:
    topo = load_topology("fat-tree-1024")
    n_nodes = len(topo.node_table)
    monkeypatch.setattr(routing, "_CACHE_BYTES", 3 * n_nodes * routing.BLOCK)  # three blocks
    sweeps = _sweeps(monkeypatch)
    assert not topo.prefetch_distances(range(1024))  # four blocks: left to the routes
    assert sweeps[0] == 0
    assert topo.prefetch_distances(range(512))  # two blocks fit
    assert sweeps[0] == 2
    assert topo.prefetch_distances(range(256))  # cached already: nothing to add
    assert sweeps[0] == 2
    assert not topo.prefetch_distances(range(512, 1024))  # two more would not fit beside them
    with pytest.raises(IndexError):
        topo.prefetch_distances([0, 1024])
