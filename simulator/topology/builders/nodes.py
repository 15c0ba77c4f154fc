"""Servers: an NVSwitch (DGX/HGX) node and a PCIe-only node, added into a GraphBuilder.

Modelling choices (see docs/decisions.md, "NVSwitch as one logical node"):

* DGX/HGX: the NVSwitch fabric (6 chips on A100, 4 on H100) is ONE logical ``nvswitch`` node
  with one link per GPU at the GPU's per-direction scale-up bandwidth. A flow-level model routes
  each flow over one path; modelled as the physical planes, a flow would be pinned to one plane
  and get 1/6 of the bandwidth NVLink really gives it (NCCL stripes every transfer over all
  links).
* NIC ``i`` sits on a PCIe switch together with GPU ``i`` (GPU <-> pcie switch <-> NIC, both
  x16), so rail ``i`` is GPU ``i``'s NIC. Real DGX A100 boards put two GPUs and two NICs on one
  PCIe switch; one switch per GPU/NIC pair carries the same per-GPU bandwidth.
* Fewer NICs than GPUs (``0 < nics < gpus``, e.g. one NIC per server): consecutive GPUs share a
  NIC, ``gpus / nics`` each (GPU ``i`` uses NIC ``i * nics // gpus``). Each GPU still has its
  own PCIe switch; a NIC sits on the switch of the first GPU of its group and the other GPUs'
  switches link to that switch (a PCIe tree), so they reach the network without transiting a
  GPU, and the NIC's one PCIe link is shared by its group. A GPU-to-GPU path through PCIe is
  then at least three hops, never tying with the two-hop NVSwitch path.
* PCIe-only: GPUs in groups on PCIe switches; the switches meet at a root-complex node (kind
  ``pcie_switch``: a CPU node would be an endpoint, and no route may transit an endpoint).
* A catalog hop latency is one traversal of that technology (GPU to GPU through NVSwitch, GPU
  to NIC through the PCIe switch); it is split evenly over the two links of the traversal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.hardware import get_gpu, get_link
from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import LinkKind, NodeKind


@dataclass(frozen=True)
class Server:
    """What a server builder added: its host name, GPU names and NIC names (rail order).

    ``gpu_nic[i]`` is the index in ``nics`` of the NIC that GPU ``i`` uses (its own, or its
    group's); empty when the server has no NICs.
    """

    host: str
    gpus: list[str]
    nics: list[str]
    gpu_nic: list[int] = field(default_factory=list)


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")


def add_dgx_server(
    gb: GraphBuilder,
    host: str,
    *,
    gpu: str = "A100-80GB",
    gpus: int = 8,
    nics: int = 8,
    nvlink_bandwidth_Bps: float | None = None,
    pcie: str | None = None,
) -> Server:
    """Add a DGX/HGX-like server: ``gpus`` GPUs on one logical NVSwitch, ``nics`` NICs.

    With ``nics == gpus``, NIC ``i`` shares PCIe switch ``i`` with GPU ``i``; with fewer NICs,
    groups of consecutive GPUs share one (module docstring). NVLink bandwidth per GPU per
    direction defaults to the catalog's ``scaleup_bandwidth`` of ``gpu``.
    """
    _check_count("gpus", gpus)
    _check_count("nics", nics, minimum=0)
    if nics > gpus:
        raise ValueError(f"nics: at most one NIC per GPU ({gpus}), got {nics}")
    spec = get_gpu(gpu)
    nvl_bw = spec.scaleup_bandwidth_Bps if nvlink_bandwidth_Bps is None else nvlink_bandwidth_Bps
    if not nvl_bw > 0:
        raise ValueError(f"nvlink_bandwidth: GPU {gpu} has no NVLink; use a pcie node")
    nvl = get_link(spec.scaleup_link or "nvlink4")
    pcie_spec = get_link(pcie or spec.pcie)
    sw = gb.add_node(f"{host}.nvswitch", NodeKind.NVSWITCH, host=host)
    gpu_names: list[str] = []
    nic_names: list[str] = []
    for i in range(gpus):
        g = gb.add_node(f"{host}.gpu{i}", NodeKind.GPU, host=host)
        gpu_names.append(g)
        gb.add_link(g, sw, nvl_bw, nvl.latency_s / 2, LinkKind.NVLINK)
    if nics == 0:
        return Server(host, gpu_names, nic_names)
    gpu_nic = [i * nics // gpus for i in range(gpus)]  # == i when nics == gpus
    first_gpu = [-(-j * gpus // nics) for j in range(nics)]  # the GPU whose switch holds NIC j
    pcie_bw, pcie_lat = pcie_spec.bandwidth_Bps, pcie_spec.latency_s / 2
    for i in range(gpus):
        p = gb.add_node(f"{host}.pcie{i}", NodeKind.PCIE_SWITCH, host=host)
        j = gpu_nic[i]
        if first_gpu[j] == i:
            n = gb.add_node(f"{host}.nic{j}", NodeKind.NIC, host=host)
            gb.add_link(gpu_names[i], p, pcie_bw, pcie_lat, LinkKind.PCIE)
            gb.add_link(p, n, pcie_bw, pcie_lat, LinkKind.PCIE)
            nic_names.append(n)
        else:  # first_gpu[j] < i: that switch exists already
            gb.add_link(gpu_names[i], p, pcie_bw, pcie_lat, LinkKind.PCIE)
            gb.add_link(p, f"{host}.pcie{first_gpu[j]}", pcie_bw, pcie_lat, LinkKind.PCIE)
    return Server(host, gpu_names, nic_names, gpu_nic)


def add_pcie_server(
    gb: GraphBuilder,
    host: str,
    *,
    gpu: str = "L40S",
    gpus: int = 8,
    gpus_per_switch: int = 4,
    nics: int = 0,
    pcie: str | None = None,
) -> Server:
    """Add a PCIe-only server: GPUs in groups of ``gpus_per_switch`` on PCIe switches.

    With more than one PCIe switch, the switches join at a root-complex node (``host.root``).
    ``nics`` NICs (at most one per PCIe switch) hang off the PCIe switches in order.
    A single GPU with ``gpus_per_switch >= 1`` gets one PCIe switch.
    """
    _check_count("gpus", gpus)
    _check_count("gpus_per_switch", gpus_per_switch)
    _check_count("nics", nics, minimum=0)
    spec = get_gpu(gpu)
    link = get_link(pcie or spec.pcie)
    n_sw = -(-gpus // gpus_per_switch)
    if nics > n_sw:
        raise ValueError(f"nics: at most one NIC per PCIe switch ({n_sw}), got {nics}")
    bw, lat = link.bandwidth_Bps, link.latency_s / 2
    switches = [
        gb.add_node(f"{host}.pcie{j}", NodeKind.PCIE_SWITCH, host=host) for j in range(n_sw)
    ]
    if n_sw > 1:
        root = gb.add_node(f"{host}.root", NodeKind.PCIE_SWITCH, host=host)
        for s in switches:
            gb.add_link(s, root, bw, lat, LinkKind.PCIE)
    gpu_names = []
    for i in range(gpus):
        g = gb.add_node(f"{host}.gpu{i}", NodeKind.GPU, host=host)
        gb.add_link(g, switches[i // gpus_per_switch], bw, lat, LinkKind.PCIE)
        gpu_names.append(g)
    nic_names = []
    for j in range(nics):
        n = gb.add_node(f"{host}.nic{j}", NodeKind.NIC, host=host)
        gb.add_link(switches[j], n, bw, lat, LinkKind.PCIE)
        nic_names.append(n)
    # the NIC on the GPU's own switch, else NIC 0 (reached through the root; the D-mod-K
    # destination index only, the route itself takes any nearest NIC)
    gpu_nic = [i // gpus_per_switch if i // gpus_per_switch < nics else 0 for i in range(gpus)]
    if not nics:
        gpu_nic = []
    return Server(host, gpu_names, nic_names, gpu_nic)
