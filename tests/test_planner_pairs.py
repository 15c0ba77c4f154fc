"""The planner's batch ``plan`` gives every transfer the path ``path`` gives it alone: D-mod-K
keyed by ``(src, dst)`` (routes ignore the channel), hash ECMP by ``(src, dst, channel)``."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.collectives.backend import load_backend
from simulator.collectives.flows import FlowPlanner
from simulator.collectives.schedule import Transfer
from simulator.topology import load_topology


@pytest.mark.parametrize(
    "name", ["fat-tree-1024", "dgx-a100-8node", "two-dc-wan", "tpu-torus-4x4x4"]
)
def test_plan_matches_path_one_by_one(name: str) -> None:
    topo = load_topology(name)
    n = topo.num_ranks
    ts = [Transfer(s, (s * 7 + c + 1) % n, 1.0 + s + 0.25 * c, c) for s in range(n) for c in (0, 3)]
    ts.append(Transfer(5, 5, 0.0, 1))  # a self transfer costs latency only
    batch = FlowPlanner(topo, load_backend("nccl"))
    planned = batch.plan(ts[: len(ts) // 2])  # a second plan reuses what the first routed
    planned = batch.plan(ts)
    alone = FlowPlanner(topo, load_backend("nccl"))
    ref = [alone.path(t.src, t.dst, t.channel) for t in ts]
    assert list(planned.paths) == ref
    assert planned.payload_B.tolist() == [t.size_B for t in ts]
    assert np.array_equal(planned.wire_B, planned.payload_B * [p.wire_factor for p in ref])


def test_hop_latency_is_path_plus_step_latency() -> None:
    topo = load_topology("dgx-a100-8node")
    profile = load_backend("nccl")
    planned = FlowPlanner(topo, profile).plan(
        [Transfer(0, 1, 1.0), Transfer(0, 63, 1.0), Transfer(3, 3, 0.0)]
    )
    proto = profile.protocols[0]
    want = [p.latency_s + proto.step_latency_s[p.kind] for p in planned.paths]
    assert planned.hop_latency_s(proto).tolist() == want
