"""Small topologies and profiles shared by the collectives tests (no tests of its own)."""

from __future__ import annotations

from typing import Any

from simulator.collectives.backend import BackendProfile, parse_backend
from simulator.topology import Topology, topology_from_dict

KINDS = ["nvlink", "pcie", "infiniband", "ethernet", "wan"]
OPS = [
    "all_reduce",
    "reduce_scatter",
    "all_gather",
    "broadcast",
    "reduce",
    "all_to_all",
    "send_recv",
    "barrier",
]


def ring_topology(n: int, bandwidth: str = "100GB/s", latency: str = "1us") -> Topology:
    """``n`` GPUs, GPU ``i`` linked to GPU ``i+1`` (mod n): a uniform ring."""
    return topology_from_dict(
        {
            "name": f"ring{n}",
            "nodes": [{"name": f"g{i}", "kind": "gpu"} for i in range(n)],
            "links": [
                {
                    "a": f"g{i}",
                    "b": f"g{(i + 1) % n}",
                    "bandwidth": bandwidth,
                    "latency": latency,
                    "kind": "nvlink",
                }
                for i in range(n)
            ],
        }
    )


def star_topology(n: int, bandwidth: str = "10GB/s", latency: str = "2us") -> Topology:
    """``n`` CPUs on one switch (every path: 2 links)."""
    nodes: list[dict[str, Any]] = [{"name": f"h{i}", "kind": "cpu"} for i in range(n)]
    nodes.append({"name": "sw", "kind": "switch"})
    links = [
        {"a": f"h{i}", "b": "sw", "bandwidth": bandwidth, "latency": latency, "kind": "ethernet"}
        for i in range(n)
    ]
    return topology_from_dict({"name": f"star{n}", "nodes": nodes, "links": links})


def two_node_topology(gpus: int = 4) -> Topology:
    """2 hosts x ``gpus`` GPUs: NVSwitch inside a host, one NIC per GPU, one IB switch."""
    nodes: list[dict[str, Any]] = [{"name": "ib", "kind": "switch"}]
    links: list[dict[str, Any]] = []
    ranks = []
    for h in range(2):
        nodes.append({"name": f"nvs{h}", "kind": "nvswitch", "host": f"node{h}"})
        for i in range(gpus):
            g, nic = f"g{h}{i}", f"nic{h}{i}"
            ranks.append(g)
            nodes.append({"name": g, "kind": "gpu", "host": f"node{h}"})
            nodes.append({"name": nic, "kind": "nic", "host": f"node{h}"})
            links.append(
                {
                    "a": g,
                    "b": f"nvs{h}",
                    "bandwidth": "300GB/s",
                    "latency": "0.5us",
                    "kind": "nvlink",
                }
            )
            links.append(
                {"a": g, "b": nic, "bandwidth": "32GB/s", "latency": "0.5us", "kind": "pcie"}
            )
            links.append(
                {
                    "a": nic,
                    "b": "ib",
                    "bandwidth": "200Gbps",
                    "latency": "1us",
                    "kind": "infiniband",
                }
            )
    return topology_from_dict({"name": "two-node", "nodes": nodes, "links": links, "ranks": ranks})


def ideal_profile(channels: int = 1, concurrency: int = 0, base: str = "0us") -> BackendProfile:
    """Efficiency 1, no per-step overhead: times are the network's alone."""
    return parse_backend(
        {
            "name": "ideal",
            "efficiency": {k: 1.0 for k in KINDS},
            "protocols": {
                "p": {
                    "base_latency": base,
                    "step_latency": {k: 0 for k in KINDS},
                    "bandwidth_factor": 1.0,
                }
            },
            "algorithms": {o: ["direct"] for o in OPS},
            "channels": channels,
            "concurrency": concurrency,
            "reduce_scatter_as_all_reduce": False,
        },
        file="<test>",
    )
