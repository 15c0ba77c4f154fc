"""NVIDIA DGX-1 with Tesla V100: eight GPUs on NVLink2's hybrid cube mesh.

Source: NVIDIA, "DGX-1 With Tesla V100 System Architecture" whitepaper (WP-08437-002), Fig. 4
("DGX-1 uses an 8-GPU hybrid cube-mesh interconnection network topology") and Sec. "NVLink":
each V100 has six NVLink2 bricks (25 GB/s per direction each, ``nvlink2`` in hardware.yaml);
GPUs 0-3 and 4-7 form two fully connected quads and GPU ``i`` links to GPU ``i + 4``. Bricks per
GPU pair (``nvidia-smi topo -m`` on a DGX-1V: NV1 = one brick, NV2 = two; 1 + 1 + 2 + 2 = 6 per
GPU) are :data:`NVLINK_BRICKS`; two bricks between a pair are one link of twice the bandwidth,
as the NVSwitch node aggregates links (docs/decisions.md, "NVSwitch as one logical node").

Pairs without NVLink (e.g. GPU 0 and 5) go through PCIe: four PCIe 3.0 switches each hold two
GPUs and one of the four 100 Gb/s EDR InfiniBand NICs (whitepaper Fig. 3), two switches per CPU
socket, the sockets joined by two QPI links (``qpi_2x9_6``). Routes never transit a GPU (an
endpoint), so NCCL's relaying through a neighbour GPU is not modelled.

Ranks follow the cycle 0-3-2-1-5-6-7-4 that uses only two-brick links, so a ring all-reduce in
rank order runs at 50 GB/s per direction per hop. NCCL also builds rings over the one-brick
links and in both directions (up to 6 bricks per GPU); one ring order cannot express that, so
bus bandwidth on this topology is below NCCL's (docs/decisions.md, 2026-12-04).
"""

from __future__ import annotations

from simulator.hardware import get_gpu, get_link
from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import LinkKind, NodeKind, Topology

#: NVLink2 bricks between GPU pairs of a DGX-1V (whitepaper Fig. 4, ``nvidia-smi topo -m``).
NVLINK_BRICKS: dict[tuple[int, int], int] = {
    (0, 1): 1,
    (0, 2): 1,
    (0, 3): 2,
    (0, 4): 2,
    (1, 2): 2,
    (1, 3): 1,
    (1, 5): 2,
    (2, 3): 2,
    (2, 6): 1,
    (3, 7): 1,
    (4, 5): 1,
    (4, 6): 1,
    (4, 7): 2,
    (5, 6): 2,
    (5, 7): 1,
    (6, 7): 2,
}

#: Rank order: a Hamiltonian cycle over the two-brick links.
RING_ORDER = (0, 3, 2, 1, 5, 6, 7, 4)


def dgx1_node(
    name: str = "dgx1",
    gpu: str = "V100",
    nic: str = "ib_edr",
    pcie: str = "pcie3",
    socket_link: str = "qpi_2x9_6",
) -> Topology:
    """One DGX-1 (V100): hybrid cube-mesh NVLink, 4 PCIe switches, 4 NICs (joined to nothing)."""
    spec = get_gpu(gpu)
    nvl = get_link(spec.scaleup_link or "nvlink2")
    pc, nic_spec, qpi = get_link(pcie), get_link(nic), get_link(socket_link)
    gb = GraphBuilder()
    host = name
    gpus = [gb.add_node(f"{host}.gpu{i}", NodeKind.GPU, host=host) for i in range(8)]
    for (a, b), bricks in NVLINK_BRICKS.items():
        gb.add_link(gpus[a], gpus[b], bricks * nvl.bandwidth_Bps, nvl.latency_s, LinkKind.NVLINK)
    cpus = [gb.add_node(f"{host}.cpu{s}", NodeKind.PCIE_SWITCH, host=host) for s in range(2)]
    gb.add_link(cpus[0], cpus[1], qpi.bandwidth_Bps, qpi.latency_s, LinkKind.PCIE)
    lat = pc.latency_s / 2
    for j in range(4):
        sw = gb.add_node(f"{host}.pcie{j}", NodeKind.PCIE_SWITCH, host=host)
        gb.add_link(sw, cpus[j // 2], pc.bandwidth_Bps, lat, LinkKind.PCIE)
        for i in (2 * j, 2 * j + 1):
            gb.add_link(gpus[i], sw, pc.bandwidth_Bps, lat, LinkKind.PCIE)
        n = gb.add_node(f"{host}.nic{j}", NodeKind.NIC, host=host)
        gb.add_link(sw, n, pc.bandwidth_Bps, lat, LinkKind.PCIE)
    _ = nic_spec  # NICs join no fabric on a single node; the catalog check keeps the name valid
    return gb.build(
        name,
        ranks=[gpus[i] for i in RING_ORDER],
        metadata={"gpu": spec.name, "nic": nic, "nodes": 1, "gpus_per_node": 8},
    )
