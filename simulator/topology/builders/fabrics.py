"""Scale-out fabrics: the switches that join servers' NICs.

* ``single_switch``: every NIC on one switch.
* ``fat_tree``: two-tier leaf/spine. NICs fill leaves in node order, ``leaf_down_ports`` per
  leaf; a leaf with ``n`` NICs has ``n / oversubscription`` NIC-speed uplinks, spread evenly over
  every spine (one aggregated link per leaf-spine pair: the graph holds one edge per pair).
* ``rail_optimized``: scalable units of ``leaf_down_ports`` nodes; in each unit, leaf ``r``
  joins NIC ``r`` of every node (rail ``r``); leaves then join spines as in ``fat_tree``.
* ``fat_tree_3tier``: leaves (as ``fat_tree``) grouped into pods of ``pod_leaves`` leaves, each
  pod with its own spines; spine ``g`` of every pod joins every switch of core group ``g`` (the
  classic Clos core groups), with its downward capacity divided by ``spine_oversubscription``.

Spine/core counts: the switch ports the uplinks need divided by ``switch_radix`` (ceil), so a
1:1 tree of radix-64 switches has the classic 32-down/32-up leaves and half as many spines as
leaves. Every fabric link gets ``latency_s`` (one switch hop).

Every NIC gets the node attribute ``port``: its leaf-port number, leaf-major
(``leaf * leaf_down_ports + position on the leaf``; on ``single_switch`` its switch port). The
cluster builders copy it to the GPUs that use the NIC, as their D-mod-K destination index
(:mod:`simulator.topology.routing`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from simulator.core.suggest import hint
from simulator.limits import MAX_RANKS
from simulator.topology.builders.nodes import Server
from simulator.topology.graph_builder import GraphBuilder
from simulator.topology.model import LinkKind, NodeKind


class BuilderChoice(StrEnum):
    """A builder parameter's named values; an unknown one is refused naming them."""

    @classmethod
    def _missing_(cls, value: object) -> None:
        # was Python's "'rail_optimised' is not a valid Fabric", with nothing to pick from
        allowed = [m.value for m in cls]
        raise ValueError(
            f"unknown value {value!r}{hint(value, allowed)} (allowed: {', '.join(allowed)})"
        )


class Fabric(BuilderChoice):
    """How servers are joined."""

    NONE = "none"
    SINGLE_SWITCH = "single_switch"
    FAT_TREE = "fat_tree"
    RAIL_OPTIMIZED = "rail_optimized"
    FAT_TREE_3TIER = "fat_tree_3tier"


def attach_fabric(
    gb: GraphBuilder,
    servers: Sequence[Server],
    *,
    fabric: Fabric | str,
    nic_bandwidth_Bps: float,
    latency_s: float,
    kind: LinkKind,
    switch_radix: int = 64,
    leaf_down_ports: int | None = None,
    oversubscription: float = 1.0,
    spine_oversubscription: float = 1.0,
    pod_leaves: int | None = None,
    prefix: str = "",
) -> list[str]:
    """Add the switches of ``fabric`` joining the servers' NICs; return the top-tier switches.

    Raises ``ValueError`` naming the parameter when the sizes do not fit.
    """
    fab = Fabric(fabric)
    down = _checked_down_ports(switch_radix, leaf_down_ports, oversubscription,
                               spine_oversubscription)  # fmt: skip
    nics = [n for s in servers for n in s.nics]
    if fab is Fabric.NONE:
        return []
    if not nics:
        raise ValueError(f"fabric: {fab.value} needs NICs (nics_per_node >= 1)")
    w = _Wiring(gb, nic_bandwidth_Bps, latency_s, kind, prefix)
    if fab is Fabric.SINGLE_SWITCH:
        sw = w.switch("switch0")
        for p, n in enumerate(nics):
            w.link(n, sw, nic_bandwidth_Bps)
            gb.nodes[n]["port"] = p
        return [sw]
    leaves, up_capacity = _leaves(w, _leaf_groups(fab, servers, nics, down), down,
                                  oversubscription)  # fmt: skip
    if len(leaves) == 1:
        return leaves
    if fab is Fabric.FAT_TREE_3TIER:
        per_pod = pod_leaves if pod_leaves is not None else switch_radix // 2
        if not per_pod >= 1:
            raise ValueError(f"pod_leaves: must be >= 1, got {per_pod}")
        return _three_tiers(w, leaves, up_capacity, per_pod, switch_radix, spine_oversubscription)
    if len(leaves) > switch_radix:
        raise ValueError(
            f"fabric: {len(leaves)} leaves exceed a two-tier tree of radix {switch_radix}; "
            "use fat_tree_3tier or a larger switch_radix"
        )
    n_spines = max(1, math.ceil(sum(up_capacity) / switch_radix))
    spines = [w.switch(f"spine{s}") for s in range(n_spines)]
    for leaf, u in zip(leaves, up_capacity, strict=True):
        for sp in spines:
            w.link(leaf, sp, u * nic_bandwidth_Bps / n_spines)
    return spines


def _checked_down_ports(
    switch_radix: int, leaf_down_ports: int | None, oversub: float, spine_oversub: float
) -> int:
    """The leaves' down ports, after checking the fabric's sizes (``ValueError`` naming the
    parameter)."""
    if not switch_radix >= 2:
        raise ValueError(f"switch_radix: must be >= 2, got {switch_radix}")
    if switch_radix > MAX_RANKS:
        # more ports than a topology may have ranks serves nothing, and port numbers must stay
        # machine integers for D-mod-K routing (the largest switch ASICs have 512 ports)
        raise ValueError(f"switch_radix: must be at most {MAX_RANKS:,}, got {switch_radix:,}")
    if not oversub >= 1.0:
        raise ValueError(f"oversubscription: must be >= 1 (1 = non-blocking), got {oversub}")
    if not spine_oversub >= 1.0:
        raise ValueError(f"spine_oversubscription: must be >= 1, got {spine_oversub}")
    down = leaf_down_ports if leaf_down_ports is not None else switch_radix // 2
    if not 1 <= down <= switch_radix:
        raise ValueError(f"leaf_down_ports: must be in 1..{switch_radix}, got {down}")
    return down


@dataclass(frozen=True)
class _Wiring:
    """Adds the fabric's switches (named with ``prefix``) and links (one latency and kind)."""

    gb: GraphBuilder
    nic_Bps: float
    latency_s: float
    kind: LinkKind
    prefix: str

    def switch(self, name: str) -> str:
        return self.gb.add_node(f"{self.prefix}{name}", NodeKind.SWITCH)

    def link(self, a: str, b: str, bw: float) -> None:
        self.gb.add_link(a, b, bw, self.latency_s, self.kind)


def _leaf_groups(
    fab: Fabric, servers: Sequence[Server], nics: list[str], down: int
) -> list[list[str]]:
    """The NICs under each leaf: rail ``r`` of ``down`` servers per leaf (rail-optimised), or
    ``down`` consecutive NICs."""
    if fab is not Fabric.RAIL_OPTIMIZED:
        return [nics[i : i + down] for i in range(0, len(nics), down)]
    groups: list[list[str]] = []
    rails = max(len(s.nics) for s in servers)
    for su in range(0, len(servers), down):
        unit = servers[su : su + down]
        for r in range(rails):
            groups.append([s.nics[r] for s in unit if r < len(s.nics)])
    return groups


def _leaves(
    w: _Wiring, groups: list[list[str]], down: int, oversub: float
) -> tuple[list[str], list[float]]:
    """One leaf per group; the leaves and their up capacity in NIC-speed ports."""
    leaves, up_capacity = [], []
    for k, group in enumerate(groups):
        leaf = w.switch(f"leaf{k}")
        for p, n in enumerate(group):
            w.link(n, leaf, w.nic_Bps)
            w.gb.nodes[n]["port"] = k * down + p
        leaves.append(leaf)
        up_capacity.append(len(group) / oversub)
    return leaves, up_capacity


def _three_tiers(
    w: _Wiring,
    leaves: list[str],
    up_capacity: list[float],
    per_pod: int,
    radix: int,
    spine_oversub: float,
) -> list[str]:
    """Pods of ``per_pod`` leaves with their spines, and core group ``g`` joining spine ``g``
    of every pod (classic 3-tier Clos core groups); the top tier."""
    pod_spines: list[tuple[str, float, int]] = []  # (name, down capacity in ports, index)
    starts = range(0, len(leaves), per_pod)
    for p, lo in enumerate(starts):
        pl, pu = leaves[lo : lo + per_pod], up_capacity[lo : lo + per_pod]
        n_sp = max(1, math.ceil(sum(pu) / (radix / 2)))
        for s in range(n_sp):
            sp = w.switch(f"pod{p}.spine{s}")
            for leaf, u in zip(pl, pu, strict=True):
                w.link(leaf, sp, u * w.nic_Bps / n_sp)
            pod_spines.append((sp, sum(pu) / n_sp, s))
    if len(starts) == 1:
        return [sp for sp, _, _ in pod_spines]
    groups_up: dict[int, list[tuple[str, float]]] = {}
    for sp, d, g in pod_spines:
        groups_up.setdefault(g, []).append((sp, d / spine_oversub))
    cores: list[str] = []
    for g, members in sorted(groups_up.items()):
        n_core = max(1, math.ceil(sum(u for _, u in members) / radix))
        group = [w.switch(f"core{g}.{c}") for c in range(n_core)]
        for sp, u in members:
            for c in group:
                w.link(sp, c, u * w.nic_Bps / n_core)
        cores.extend(group)
    return cores
