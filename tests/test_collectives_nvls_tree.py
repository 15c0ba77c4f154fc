"""NVLSTree (NVLS inside each node, NCCL's double binary tree between nodes): schedule, NCCL's
trees, its latency and pipeline fill, where auto picks it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from simulator.collectives import build_schedule, load_backend, simulate_collective
from simulator.collectives.nvls import nvls_tree_chunk_B, nvls_tree_protocols
from simulator.collectives.nvls_tree import dtree_parents
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.studies.published import load_references, predict_nccl
from simulator.topology import Topology
from simulator.topology.loader import topology_from_dict

GiB = float(1 << 30)


def _cluster(nodes: int, gpu: str = "H100-SXM", nic: str = "ib_ndr") -> Topology:
    build = {"type": "cluster", "nodes": nodes, "gpu": gpu, "nics_per_node": 8}
    build |= {"nic": nic, "fabric": "single_switch"}
    return topology_from_dict({"name": f"{gpu}x{nodes}", "build": build})


def test_dtree_is_nccls_double_binary_tree() -> None:
    # ncclGetBtree/ncclGetDtree (src/graph/trees.cc): 0 -> 2 -> (1, 3) on 4 ranks, mirrored
    assert dtree_parents(4) == ([-1, 2, 0, 2], [1, 3, 1, -1])
    assert dtree_parents(2) == ([-1, 0], [1, -1])
    first, second = dtree_parents(8)
    assert first == [-1, 2, 4, 2, 0, 6, 4, 6]
    assert second == [7 - p if p >= 0 else -1 for p in first[::-1]]
    # odd counts: the second tree is the first shifted by one
    assert dtree_parents(3)[1] == [1, -1, 0]


@pytest.mark.parametrize(("hosts", "per_nic"), [(2, 1.0), (4, 2.0), (8, 2.0)])
def test_schedule_loads_nvlink_like_nvls_and_each_nic_with_the_shard(
    hosts: int, per_nic: float
) -> None:
    m = 8
    group = list(range(hosts * m))
    names = [f"h{r // m}" for r in group]
    sched = build_schedule(Algorithm.NVLS_TREE, CollectiveOp.ALL_REDUCE, group, names, GiB)
    (phase,) = sched.phases
    intra_out = np.zeros(len(group))
    inter_out = np.zeros(len(group))
    inter_in = np.zeros(len(group))
    for t in phase.flows:
        if names[t.src] == names[t.dst]:
            intra_out[t.src] += t.size_B
        else:
            inter_out[t.src] += t.size_B
            inter_in[t.dst] += t.size_B
    assert intra_out == pytest.approx(np.full(len(group), GiB * (m + 1) / m))
    # two hosts: every NIC carries the shard once each way; more: an interior host twice
    assert inter_out.max() == pytest.approx(per_nic * GiB / m)
    assert inter_in.max() == pytest.approx(per_nic * GiB / m)


def test_schedule_refuses_one_host_or_uneven_hosts() -> None:
    with pytest.raises(InputError, match="nvls_tree"):
        build_schedule(Algorithm.NVLS_TREE, CollectiveOp.ALL_REDUCE, range(8), ["h"] * 8, GiB)
    with pytest.raises(InputError, match="nvls_tree"):
        hosts = ["a"] * 3 + ["b"]
        build_schedule(Algorithm.NVLS_TREE, CollectiveOp.ALL_REDUCE, range(4), hosts, GiB)


def test_latency_is_nccls_nvlstree_latency() -> None:
    nccl = load_backend("nccl")
    for hosts, levels in ((2, 1), (8, 3), (32, 5)):
        (proto,) = nvls_tree_protocols(
            _cluster(hosts), range(8 * hosts), nccl, explicit=False, size_B=GiB
        )
        # tuning.cc v2.20.5-1: intraLat 23 us + 2 log2i(nNodes) x 14 us, no per-step terms
        assert proto.base_latency_s == pytest.approx(23e-6 + 2 * levels * 14e-6)
        assert set(proto.step_latency_s.values()) == {0.0}


def test_chunk_follows_nccls_enqueue() -> None:
    ops = 16 * 8
    assert nvls_tree_chunk_B(8 * GiB, ops, 2) == 512 * 1024
    assert nvls_tree_chunk_B(8 * GiB, ops, 4) == 64 * 1024
    assert nvls_tree_chunk_B(ops * 512 * 1024 * 20, ops, 2) == 256 * 1024
    assert nvls_tree_chunk_B(1 << 20, ops, 2) == 32 * 1024


def test_auto_takes_nvls_tree_on_two_h100_nodes_past_the_nic_ring() -> None:
    two = _cluster(2)
    auto = simulate_collective(two, "all_reduce", 8 * GiB)
    ring = simulate_collective(two, "all_reduce", 8 * GiB, algo="ring")
    assert auto.algo == "nvls_tree"
    assert auto.busbw_Bps > 1.2 * ring.busbw_Bps
    # its NVLink part runs at NVLS's rate: the one-node NVLS algbw bounds it
    one = simulate_collective(_cluster(1), "all_reduce", 8 * GiB, algo="nvls")
    assert auto.algbw_Bps <= one.algbw_Bps * 1.001


def test_no_nvls_tree_without_nvls() -> None:
    assert simulate_collective(_cluster(2, "A100-80GB", "ib_hdr"), "all_reduce", GiB).algo != (
        "nvls_tree"
    )
    off = replace(load_backend("nccl"), nvls=None)
    assert simulate_collective(_cluster(2), "all_reduce", GiB, backend=off).algo != "nvls_tree"
    with pytest.raises(InputError, match="nvls_tree"):
        simulate_collective(_cluster(2), "all_reduce", GiB, algo="nvls_tree", backend=off)
    with pytest.raises(InputError, match="nvls_tree"):
        simulate_collective(_cluster(1), "all_reduce", GiB, algo="nvls_tree")


def test_a_published_row_run_with_nvls_disabled_gets_no_nvls_tree() -> None:
    refs = {r.reference: r for r in load_references().nccl_tests}
    a3 = refs["gcp-a3mega-allreduce-2node-8g"]  # NCCL_NVLS_ENABLE=0 in its NCCL profile
    assert a3.setup.nvls is False
    on = a3.model_copy(update={"setup": a3.setup.model_copy(update={"nvls": True})})
    assert predict_nccl(on) > 1.5 * predict_nccl(a3)  # NVLSTree would more than double it
