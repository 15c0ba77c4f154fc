"""NVLS all-reduce: the reduction happens inside the NVSwitch (NVLink SHARP, NCCL's ``NVLS``).

On third-generation NVSwitch systems (HGX/DGX H100) NCCL's default intra-node all_reduce does
not run a ring: each GPU owns ``1/n`` of the buffer, pulls that shard *reduced* from the switch
(``multimem.ld_reduce``: the switch reads the shard from all ``n`` GPUs and adds it up), then
writes the result once to a multicast address (``multimem.st``: the switch delivers it to all
``n`` GPUs). Per GPU and per direction of its NVLink port that is ``size`` (the shards it
serves to, or receives from, the switch) plus ``size / n`` (its own reduced shard coming back,
or going out): ``size * (n + 1) / n``, against ``2 size (n - 1) / n`` for a ring. The GPU adds
nothing itself (``reduce_B = 0``).

The schedule stays in commsim's rank-to-rank form: on a server whose GPUs meet at one logical
``nvswitch`` node (how the topology builders model NVSwitch), a transfer ``i -> j`` loads
exactly GPU ``i``'s up-link and GPU ``j``'s down-link, so every ordered pair carrying
``size (n + 1) / (n (n - 1))`` bytes reproduces NVLS's per-port loads. Per-flow records
therefore show GPU-to-GPU flows through the switch; per-link loads are NVLS's own. The
reduce-scatter and all-gather halves run pipelined over NCCL's channels, so they form one
phase of two steps. Latency: the backend's ``nvls.latency`` where given (NCCL's own NVLS
latency), else the protocol's base plus two steps. Throughput: where the backend gives NVLS
channels and a chunk, a message pays the pipeline fill of NCCL's kernel
(:func:`nvls_pipeline_share`: two extra loop times of channels x heads x chunk bytes), which
is why medium messages stay well below the plateau (16 MiB on 8 H200s: 240 GB/s busbw
measured, 243 predicted, 332 without the fill).

Where it applies (:func:`nvls_efficiency`): every rank of the group on one host, all attached
to the same ``nvswitch`` node, and the backend profile gives an NVLS efficiency for the
scale-up link of the topology's GPU (``nvls.efficiency`` in the backend YAML: NCCL enables NVLS
on Hopper and later only). A topology can switch it off on a switch with the node attribute
``nvls: false``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from simulator.collectives.backend import BackendProfile, NvlsProfile, ProtocolProfile
from simulator.collectives.schedule import Schedule, Transfer, uniform_phase
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.hardware import get_gpu
from simulator.topology import Topology
from simulator.topology.model import NodeKind

#: The ops this algorithm builds (found by :mod:`simulator.collectives.registry`).
IMPLEMENTS = frozenset({CollectiveOp.ALL_REDUCE})

#: Sequential steps of one NVLS all-reduce: the reducing load, then the multicast store.
NVLS_DEPTH = 2

#: NVLSTree's largest chunk: one Simple step, the 4 MiB Simple buffer over ``NCCL_STEPS`` 8
#: (``chunkSteps`` is 1 for every algorithm but the ring; NVIDIA/nccl src/enqueue.cc
#: ``computeCollChunkInfo`` at v2.20.5-1, lines 1683-1686), and on 4 nodes or more 64 KiB
#: (``NCCL_NVLSTREE_MAX_CHUNKSIZE`` unset: "maxChunkSize = ... nNodes >= 4 ? 65536 :
#: chunkSize", line 1716), bytes.
NVLS_TREE_CHUNK_B = 512 * 1024
NVLS_TREE_CHUNK_4_NODES_B = 64 * 1024

#: Warp groups of NCCL's one-node NVLS all-reduce kernel, in pipeline: scatter, reduce (through
#: the switch), gather (NVIDIA/nccl src/device/all_reduce.h, ``NCCL_ALGO_NVLS``, v2.20.5-1).
NVLS_PIPELINE_STAGES = 3


def nvls(
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The NVLS schedule of ``op`` (all_reduce only) on ``group``; one host only.

    Raises :class:`InputError` when the group spans several hosts (NVLS reduces inside one
    NVSwitch fabric; multi-node NVLS needs NCCL's CollNet/NVLS-tree, not modelled).
    """
    if op is not CollectiveOp.ALL_REDUCE:
        raise ValueError(f"nvls does not implement {op.value}")
    if len(set(hosts)) > 1:
        raise InputError(
            "nvls reduces inside one NVSwitch: every rank must be on one host, got "
            f"{len(set(hosts))} hosts",
            field="algo",
        )
    n = len(group)
    if n == 1:
        return Schedule(Algorithm.NVLS, op, tuple(group), size_B, (), 1)
    # per ordered pair and per step: the pair's share of size (n+1)/n per port, over 2 steps
    pair_B = size_B * (n + 1) / (n * (n - 1)) / NVLS_DEPTH
    hops = [Transfer(s, d, pair_B) for s in group for d in group if s != d]
    phase = uniform_phase("nvls.all_reduce", hops, NVLS_DEPTH)
    return Schedule(Algorithm.NVLS, op, tuple(group), size_B, (phase,), 1)


def nvls_efficiency(
    topology: Topology, group: Sequence[int], profile: BackendProfile
) -> float | None:
    """NVLS's throughput fraction for ``group`` on ``topology``, or ``None`` where NVLS cannot run.

    The fraction multiplies the protocol's bandwidth factor on top of the link efficiency (it is
    NCCL's ``nvlsEfficiency`` for the GPU generation, see ``nvls`` in the backend YAML).
    ``None`` when the profile has no NVLS, the group spans hosts or has one rank, its GPUs do not
    all hang off one ``nvswitch`` node, the switch says ``nvls: false``, or the topology's GPU
    (``metadata["gpu"]``) has a scale-up link the profile gives no NVLS efficiency for.
    """
    if profile.nvls is None or len(group) < 2:
        return None
    if len({topology.host_of(r) for r in group}) != 1:
        return None
    nodes = topology.node_table  # not the graph: a run need not import networkx
    switches: set[str] = set()
    for r in group:
        node = topology.ranks[r]
        sw = [v for v in topology.successors(node) if nodes[v].get("kind") == NodeKind.NVSWITCH]
        if len(sw) != 1:
            return None
        switches.add(sw[0])
    if len(switches) != 1 or nodes[next(iter(switches))].get("nvls") is False:
        return None
    link = scaleup_link(topology)
    return profile.nvls.efficiency.get(link) if link else None


def scaleup_link(topology: Topology) -> str | None:
    """The catalog name of the topology's GPU's scale-up link (``nvlink4``...), or ``None``."""
    gpu = topology.metadata.get("gpu")
    if not gpu:
        return None
    try:
        return get_gpu(str(gpu)).scaleup_link or None
    except (KeyError, ValueError, InputError):
        return None


def nvls_chunk_B(size_B: float, concurrent_ops: int, max_chunk_B: float) -> float:
    """NCCL's NVLS chunk for a one-node all-reduce of ``size_B`` bytes, in bytes.

    NCCL (src/enqueue.cc, NCCL_ALGO_NVLS, the same in v2.20.5-1 and at 5067397c) starts from
    its largest chunk (``NCCL_NVLS_CHUNKSIZE``, 128 KiB) and shrinks it for smaller messages,
    ``concurrent_ops`` being channels x NVLS heads: to 64 KiB below 64 x ops x chunk bytes,
    then to 32 KiB below 8 x ops x chunk, then to 16 KiB below 2 x ops x chunk.
    """
    chunk = max_chunk_B
    for times, floor_B in ((64, 65536.0), (8, 32768.0), (2, 16384.0)):
        if size_B < times * concurrent_ops * chunk and chunk > floor_B:
            chunk = floor_B
    return chunk


def nvls_tree_chunk_B(size_B: float, concurrent_ops: int, nodes: int) -> float:
    """NCCL's NVLSTree chunk for an all-reduce of ``size_B`` bytes on ``nodes`` nodes, bytes.

    From :data:`NVLS_TREE_CHUNK_B` (64 KiB from 4 nodes), shrunk below 32 / 16 / 4 / 1 x
    ``concurrent_ops`` (channels x NVLS heads) x chunk bytes to 256 / 128 / 64 / 32 KiB
    (src/enqueue.cc at v2.20.5-1, lines 1712-1721).
    """
    chunk = float(NVLS_TREE_CHUNK_4_NODES_B if nodes >= 4 else NVLS_TREE_CHUNK_B)
    for times, floor_B in ((32, 262144.0), (16, 131072.0), (4, 65536.0), (1, 32768.0)):
        if size_B < times * concurrent_ops * chunk and chunk > floor_B:
            chunk = floor_B
    return chunk


def nvls_pipeline_share(
    size_B: float,
    n_ranks: int,
    channels: int,
    max_chunk_B: float,
    stages: int = NVLS_PIPELINE_STAGES,
    nodes: int | None = None,
) -> float:
    """The share of NVLS's steady throughput an all-reduce of ``size_B`` bytes reaches, in (0, 1].

    NCCL's one-node NVLS kernel (src/device/all_reduce.h, ``NCCL_ALGO_NVLS``) splits each
    channel's threads into three warp groups working as a pipeline on successive loops:
    scatter (the input into the NVLS buffers), reduce (``multimem`` load-reduce and multicast
    store) and gather (into the output). A loop carries ``channels x heads x chunk`` bytes (one
    NVLS head per GPU); ``k`` loops take ``k + 2`` loop times, a message shorter than one loop
    three times its own. Share = size / (loop bytes x (k + 2)), the loop bytes being the whole
    message when it is shorter than one loop. ``stages``: the pipeline's stages; ``nodes``
    (NVLSTree): the chunk is :func:`nvls_tree_chunk_B`'s, its stages those of
    :func:`nvls_tree_protocols`.
    """
    ops = channels * n_ranks
    chunk_B = (
        nvls_chunk_B(size_B, ops, max_chunk_B)
        if nodes is None
        else nvls_tree_chunk_B(size_B, ops, nodes)
    )
    loop_B = ops * chunk_B
    loops = max(1, math.ceil(size_B / loop_B))
    carried = min(loop_B, size_B) * (loops + stages - 1)
    return size_B / carried if carried > 0 else 1.0


def nvls_protocols(
    topology: Topology,
    group: Sequence[int],
    profile: BackendProfile,
    *,
    explicit: bool,
    size_B: float,
) -> tuple[ProtocolProfile, ...]:
    """The protocols NVLS may run ``group`` with: the profile's NVLS protocol, its bandwidth
    factor multiplied by :func:`nvls_efficiency` and, where the profile gives NVLS channels and
    a chunk, by :func:`nvls_pipeline_share` of ``size_B`` (bytes), and its latency replaced by
    ``nvls.latency`` where the profile gives one; empty where NVLS cannot run.

    With ``explicit`` (the caller asked for ``nvls`` by name) a group NVLS cannot run is an
    :class:`InputError` instead.
    """
    eff = nvls_efficiency(topology, group, profile)
    if eff is None or profile.nvls is None:
        if explicit:
            raise InputError(
                f"nvls needs one host whose GPUs share an NVSwitch with in-switch reduction and "
                f"a backend with an NVLS efficiency for its GPU (backend {profile.name}, "
                f"topology {topology.name})",
                field="algo",
            )
        return ()
    base = profile.protocol(profile.nvls.protocol)
    share = _pipeline_share(topology, len(group), profile.nvls, size_B)
    proto = replace(base, bandwidth_factor=base.bandwidth_factor * eff * share)
    if profile.nvls.latency_s is not None:
        # NCCL's tuner sets NVLS's latency outright (no base latency, no per-step terms)
        proto = replace(
            proto,
            base_latency_s=profile.nvls.latency_s,
            step_latency_s={k: 0.0 for k in base.step_latency_s},
        )
    return (proto,)


def _pipeline_share(
    topology: Topology,
    n_ranks: int,
    nv: NvlsProfile,
    size_B: float,
    stages: int = NVLS_PIPELINE_STAGES,
    nodes: int | None = None,
) -> float:
    """:func:`nvls_pipeline_share` where the profile gives channels for the topology's scale-up
    link and a chunk; 1.0 (no fill) otherwise."""
    link = scaleup_link(topology)
    channels = nv.channels.get(link) if nv.channels is not None and link else None
    if channels is None or nv.chunk_B is None or size_B <= 0:
        return 1.0
    return nvls_pipeline_share(size_B, n_ranks, channels, nv.chunk_B, stages, nodes)


def nvls_tree_efficiency(
    topology: Topology, group: Sequence[int], profile: BackendProfile
) -> float | None:
    """NVLS's throughput fraction on every host of a multi-host ``group``, or ``None`` where
    NVLSTree cannot run: fewer than two hosts, unequal or single ranks per host, a host whose
    ranks NVLS cannot reduce (:func:`nvls_efficiency`), or a profile without
    ``nvls.tree_net_latency`` (NVLSTree is then not modelled)."""
    if profile.nvls is None or profile.nvls.tree_net_latency_s is None:
        return None
    per_host: dict[str, list[int]] = {}
    for r in group:
        per_host.setdefault(topology.host_of(r), []).append(r)
    if len(per_host) < 2 or len({len(v) for v in per_host.values()}) != 1:
        return None
    effs = [nvls_efficiency(topology, ranks, profile) for ranks in per_host.values()]
    if any(e is None for e in effs):
        return None
    return min(e for e in effs if e is not None)


def nvls_tree_protocols(
    topology: Topology,
    group: Sequence[int],
    profile: BackendProfile,
    *,
    explicit: bool,
    size_B: float,
) -> tuple[ProtocolProfile, ...]:
    """The protocol NVLSTree may run ``group`` with (empty where it cannot run; with
    ``explicit``, :class:`InputError` instead): the profile's NVLS protocol with, where the
    profile gives them, NVLS's pipeline fill over one host's ranks and NCCL's NVLSTree
    latency, ``nvls.latency + 2 floor(log2 hosts) nvls.tree_net_latency`` in place of the
    protocol's base and step latencies. NVLS's efficiency is not in the bandwidth factor: the
    resolver scales the schedule's NVLink bytes by its inverse (the NICs run at their own
    efficiency)."""
    eff = nvls_tree_efficiency(topology, group, profile)
    nv = profile.nvls
    if eff is None or nv is None or nv.tree_net_latency_s is None:
        if explicit:
            raise InputError(
                f"nvls_tree needs two or more hosts with equal ranks (>= 2) on each, whose GPUs "
                f"share an NVSwitch with in-switch reduction, and a backend with NVLS and "
                f"nvls.tree_net_latency (backend {profile.name}, topology {topology.name})",
                field="algo",
            )
        return ()
    hosts = len({topology.host_of(r) for r in group})
    base = profile.protocol(nv.protocol)
    levels = hosts.bit_length() - 1
    # the NVLS kernel's three warp groups, plus a hop up and one down per tree level
    share = _pipeline_share(
        topology, len(group) // hosts, nv, size_B, NVLS_PIPELINE_STAGES + 2 * levels, hosts
    )
    proto = replace(base, bandwidth_factor=base.bandwidth_factor * share)
    intra_s = nv.latency_s if nv.latency_s is not None else base.base_latency_s
    latency_s = intra_s + 2 * levels * nv.tree_net_latency_s
    proto = replace(
        proto, base_latency_s=latency_s, step_latency_s={k: 0.0 for k in base.step_latency_s}
    )
    return (proto,)
