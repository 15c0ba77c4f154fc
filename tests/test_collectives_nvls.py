"""NVLS (in-switch all-reduce on NVLink SHARP switches): schedule, where auto picks it, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from simulator.collectives import build_schedule, load_backend, simulate_collective
from simulator.collectives.backend import parse_backend
from simulator.collectives.nvls import nvls_chunk_B, nvls_efficiency, nvls_pipeline_share
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.hardware import get_gpu
from simulator.topology import LinkKind, Topology
from simulator.topology.loader import topology_from_dict

GiB = float(1 << 30)


def _h100(nodes: int = 1) -> Topology:
    build = {"type": "cluster", "nodes": nodes, "gpu": "H100-SXM", "nics_per_node": 8}
    build |= {"nic": "ib_ndr", "fabric": "single_switch" if nodes > 1 else "none"}
    return topology_from_dict({"name": f"h100x{nodes}", "build": build})


def _a100() -> Topology:
    build = {"type": "cluster", "nodes": 1, "gpu": "A100-80GB", "nics_per_node": 8}
    build |= {"nic": "ib_hdr", "fabric": "none"}
    return topology_from_dict({"name": "a100x1", "build": build})


@pytest.mark.parametrize("n", [2, 4, 8])
def test_schedule_loads_every_port_with_size_times_n_plus_1_over_n(n: int) -> None:
    group = list(range(n))
    sched = build_schedule(Algorithm.NVLS, CollectiveOp.ALL_REDUCE, group, ["h"] * n, GiB)
    (phase,) = sched.phases
    sent = np.zeros(n)
    received = np.zeros(n)
    for t in phase.flows:
        sent[t.src] += t.size_B
        received[t.dst] += t.size_B
    assert np.allclose(sent, GiB * (n + 1) / n)
    assert np.allclose(received, GiB * (n + 1) / n)
    assert phase.reduce_B == 0.0  # the switch adds, not the GPUs
    assert phase.depth == 2
    assert sum(sum(t.size_B for t in step) for step in phase.steps()) == pytest.approx(
        phase.bytes_B
    )


def test_schedule_refuses_a_group_on_two_hosts() -> None:
    with pytest.raises(InputError, match="one host"):
        build_schedule(Algorithm.NVLS, CollectiveOp.ALL_REDUCE, [0, 1], ["a", "b"], GiB)


def test_nvls_busbw_is_the_port_bound_times_nccls_hopper_efficiency() -> None:
    topo = _h100()
    nccl = load_backend("nccl")
    res = simulate_collective(topo, "all_reduce", 8 * GiB, algo="nvls")
    n = 8
    port_Bps = get_gpu("H100-SXM").scaleup_bandwidth_Bps * nccl.efficiency[LinkKind.NVLINK]
    bound = port_Bps * 0.85 * n / (n + 1)  # algbw: size / (size (n+1)/n) at the port rate
    assert res.algo == "nvls" and res.protocol == "simple"
    assert res.algbw_Bps == pytest.approx(bound, rel=0.01)
    assert res.busbw_Bps == pytest.approx(bound * 2 * (n - 1) / n, rel=0.01)


def test_auto_picks_nvls_on_h100_and_beats_the_ring() -> None:
    topo = _h100()
    auto = simulate_collective(topo, "all_reduce", GiB)
    ring = simulate_collective(topo, "all_reduce", GiB, algo="ring")
    assert auto.algo == "nvls"
    assert auto.time_s < ring.time_s


def test_no_nvls_on_a100_across_hosts_or_for_other_ops() -> None:
    nccl = load_backend("nccl")
    a100 = _a100()
    assert nvls_efficiency(a100, range(8), nccl) is None  # NVLink3: NCCL's efficiency is 0
    assert simulate_collective(a100, "all_reduce", GiB).algo == "ring"
    two = _h100(nodes=2)
    assert nvls_efficiency(two, range(16), nccl) is None
    assert nvls_efficiency(two, range(8), nccl) == pytest.approx(0.85)  # one node of the two
    assert simulate_collective(two, "all_reduce", GiB).algo != "nvls"
    assert simulate_collective(_h100(), "all_gather", GiB).algo == "ring"
    assert nvls_efficiency(_h100(), [0], nccl) is None


def test_explicit_nvls_where_it_cannot_run_is_an_input_error() -> None:
    with pytest.raises(InputError, match="nvls"):
        simulate_collective(_a100(), "all_reduce", GiB, algo="nvls")
    with pytest.raises(InputError, match="nvls"):
        simulate_collective(_h100(), "all_reduce", GiB, algo="nvls", backend="gloo")
    with pytest.raises(InputError):
        simulate_collective(_h100(), "all_gather", GiB, algo="nvls")


def test_a_switch_marked_nvls_false_has_no_nvls() -> None:
    topo = _h100()
    nccl = load_backend("nccl")
    assert nvls_efficiency(topo, range(8), nccl) == pytest.approx(0.85)
    topo.graph.nodes["node0.nvswitch"]["nvls"] = False
    assert nvls_efficiency(topo, range(8), nccl) is None


def _profile(nvls: object) -> dict[str, object]:
    return {
        "name": "x",
        "efficiency": {k: 0.9 for k in ("nvlink", "pcie", "infiniband", "ethernet", "wan")},
        "protocols": {
            "simple": {
                "base_latency": "1us",
                "step_latency": {
                    k: "1us" for k in ("nvlink", "pcie", "infiniband", "ethernet", "wan")
                },
                "bandwidth_factor": 1.0,
            }
        },
        "algorithms": {op.value: ["direct"] for op in CollectiveOp},
        "channels": 1,
        "concurrency": 0,
        "reduce_scatter_as_all_reduce": False,
        "nvls": nvls,
    }


def test_backend_nvls_section_is_validated() -> None:
    ok = parse_backend(_profile({"protocol": "simple", "efficiency": {"NVLink4": 0.8}}), file="f")
    assert ok.nvls is not None and ok.nvls.efficiency == {"nvlink4": 0.8}
    with pytest.raises(InputError, match=r"nvls\.bogus"):
        parse_backend(_profile({"protocol": "simple", "efficiency": {}, "bogus": 1}), file="f")
    with pytest.raises(InputError, match=r"nvls\.protocol"):
        parse_backend(_profile({"protocol": "LL", "efficiency": {"nvlink4": 0.8}}), file="f")
    with pytest.raises(InputError, match=r"nvls\.efficiency\.nvlink4"):
        parse_backend(_profile({"protocol": "simple", "efficiency": {"nvlink4": 1.5}}), file="f")
    assert parse_backend(_profile(None), file="f").nvls is None


def test_nvls_latency_replaces_the_protocol_latencies() -> None:
    """NCCL's tuner gives one-node NVLS its own latency (23 us on NVLink, tuning.cc b6475625)."""
    nccl = load_backend("nccl")
    assert nccl.nvls is not None and nccl.nvls.latency_s == pytest.approx(23e-6)
    tiny = simulate_collective(_h100(), "all_reduce", 8.0, algo="nvls")
    assert 23e-6 <= tiny.time_s < 25e-6  # + link latencies and 8 bytes' worth of transfer
    ok = parse_backend(
        _profile({"protocol": "simple", "efficiency": {"nvlink4": 0.8}, "latency": "5us"}),
        file="f",
    )
    assert ok.nvls is not None and ok.nvls.latency_s == pytest.approx(5e-6)
    with pytest.raises(InputError, match=r"nvls\.latency"):
        parse_backend(
            _profile({"protocol": "simple", "efficiency": {"nvlink4": 0.8}, "latency": "fast"}),
            file="f",
        )


def test_auto_keeps_small_all_reduces_on_ll_rings_like_nccl() -> None:
    """With NVLS's 23 us latency, LL rings win below ~1 MiB on 8 H100s, NVLS above."""
    topo = _h100()
    assert simulate_collective(topo, "all_reduce", 64 * 1024.0).algo != "nvls"
    assert simulate_collective(topo, "all_reduce", 4 * 2.0**20).algo == "nvls"


KiB = 1024.0
MiB = float(1 << 20)


@pytest.mark.parametrize(
    ("size_B", "chunk_B"),
    [
        (1 * MiB, 16 * KiB),  # < 2 x 128 ops x 32 KiB = 8 MiB
        (8 * MiB, 32 * KiB),  # the 8 MiB boundary itself keeps 32 KiB
        (32 * MiB, 32 * KiB),  # < 8 x 128 x 64 KiB = 64 MiB
        (64 * MiB, 64 * KiB),
        (512 * MiB, 64 * KiB),  # < 64 x 128 x 128 KiB = 1 GiB
        (GiB, 128 * KiB),
        (8 * GiB, 128 * KiB),
    ],
)
def test_nvls_chunk_shrinks_for_smaller_messages_like_nccls_enqueue(
    size_B: float, chunk_B: float
) -> None:
    """16 channels x 8 heads = 128 concurrent ops on 8 H100s (NCCL src/enqueue.cc)."""
    assert nvls_chunk_B(size_B, 128, 128 * KiB) == chunk_B


def test_nvls_pipeline_fill_costs_two_loop_times() -> None:
    """Three warp groups in pipeline: k loops take k + 2 loop times; under a loop, 3 times."""
    loop_B = 16 * 8 * 128 * KiB  # 16 MiB at 128 KiB chunks
    assert nvls_pipeline_share(64 * loop_B, 8, 16, 128 * KiB) == pytest.approx(64 / 66)
    assert nvls_pipeline_share(1 * MiB, 8, 16, 128 * KiB) == pytest.approx(1 / 3)
    # 16 MiB runs at 32 KiB chunks: loops of 4 MiB, 4 of them -> 4 / 6
    assert nvls_pipeline_share(16 * MiB, 8, 16, 128 * KiB) == pytest.approx(4 / 6)


def test_medium_nvls_all_reduce_pays_the_pipeline_fill_and_large_ones_hardly() -> None:
    """busbw ramps up with size (NVIDIA, nccl-tests #212: "256M is too small to reach peak
    bandwidth"); a profile without NVLS channels and chunk keeps the old flat rate."""
    topo = _h100()
    big = simulate_collective(topo, "all_reduce", 8 * GiB, algo="nvls")
    mid = simulate_collective(topo, "all_reduce", 16 * MiB, algo="nvls")
    assert mid.busbw_Bps < 0.6 * big.busbw_Bps
    assert big.busbw_Bps > 0.99 * _no_fill_busbw(topo, 8 * GiB)
    assert mid.busbw_Bps < 0.8 * _no_fill_busbw(topo, 16 * MiB)


def _no_fill_busbw(topo: Topology, size_B: float) -> float:
    nccl = load_backend("nccl")
    assert nccl.nvls is not None
    flat = replace(nccl, nvls=replace(nccl.nvls, channels=None, chunk_B=None))
    return simulate_collective(topo, "all_reduce", size_B, algo="nvls", backend=flat).busbw_Bps


def test_backend_nvls_channels_and_chunk_are_validated() -> None:
    ok = parse_backend(
        _profile(
            {
                "protocol": "simple",
                "efficiency": {"nvlink4": 0.8},
                "channels": {"NVLink4": 16},
                "chunk_size": "128KiB",
            }
        ),
        file="f",
    )
    assert ok.nvls is not None and ok.nvls.channels == {"nvlink4": 16}
    assert ok.nvls.chunk_B == 128 * KiB
    bad = {"protocol": "simple", "efficiency": {"nvlink4": 0.8}, "channels": {"nvlink4": 0}}
    with pytest.raises(InputError, match=r"nvls\.channels\.nvlink4"):
        parse_backend(_profile(bad), file="f")
    bad = {"protocol": "simple", "efficiency": {"nvlink4": 0.8}, "chunk_size": "big"}
    with pytest.raises(InputError, match=r"nvls\.chunk_size"):
        parse_backend(_profile(bad), file="f")
