"""Link classes and tiers for the Perfetto timeline: what each link is, and its load over time.

:func:`link_tiers` names every link by where it sits in the cluster: ``NVLink`` (GPU to
NVSwitch or GPU to GPU), ``PCIe`` (inside a server), ``node uplinks`` (NIC to its leaf switch),
``leaf-spine``, ``spine-core`` (switch tiers from
:func:`~simulator.topology.summary.switch_tiers`), ``gateway`` (datacenter fabric to its WAN
gateway) and ``WAN``. :func:`tier_counter_events` turns the simulation's load into
Chrome-trace counter tracks: one per tier (the tier's mean utilisation: bytes carried by all
its links over their summed capacity, per time bin) and the ``k`` busiest links of each tier.
A tier's track is the sum of its link classes' running counters
(:attr:`~simulator.engine.StepResult.link_class_timeline`, every link class lies in one tier);
only the ``k`` busiest links per tier read the per-link timeline, so the cost does not grow
with the number of links or flows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from simulator.engine import StepResult
from simulator.report.linkclass import link_class_bins
from simulator.topology.linkclass import LinkClasses, link_classes
from simulator.topology.model import LinkKind, NodeKind, Topology
from simulator.topology.summary import switch_tiers

#: Tier order in the trace (top to bottom).
TIER_ORDER = ("NVLink", "PCIe", "node uplinks", "leaf-spine", "spine-core", "gateway", "WAN")

_US = 1e6


def link_tiers(topology: Topology) -> dict[int, str]:
    """``link id -> tier name`` for every directed link of ``topology``."""
    kinds = {n: str(a.get("kind")) for n, a in topology.node_table.items()}
    tiers = switch_tiers(topology)
    out: dict[int, str] = {}
    for lk in topology.links:
        ends = {kinds[lk.src], kinds[lk.dst]}
        if lk.kind is LinkKind.WAN:
            name = "WAN"
        elif NodeKind.GATEWAY.value in ends:
            name = "gateway"
        elif lk.kind is LinkKind.NVLINK:
            name = "NVLink"
        elif NodeKind.NIC.value in ends and NodeKind.SWITCH.value in ends:
            name = "node uplinks"
        elif ends == {NodeKind.SWITCH.value}:
            lo, hi = sorted((tiers.get(lk.src, 1), tiers.get(lk.dst, 1)))
            name = "leaf-spine" if (lo, hi) == (1, 2) else "spine-core" if hi >= 3 else "switches"
        elif lk.kind is LinkKind.PCIE:
            name = "PCIe"
        else:
            name = str(lk.kind.value)
        out[lk.id] = name
    return out


def binned_bytes(
    result: StepResult, link_ids: list[int], bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (s, ``bins + 1``) and bytes each link carried per bin (``links x bins``), from
    the per-link load timeline (``simulate(..., record=True)``); zeros without it. Only the
    rows of ``link_ids`` are read (:meth:`~simulator.engine.StepResult.link_timeline_of`)."""
    span = result.makespan_s if result.makespan_s > 0 else 1.0
    edges = np.linspace(0.0, span, bins + 1)
    out = np.zeros((len(link_ids), bins))
    tl = result.link_timeline_of(link_ids) if link_ids else None
    if tl is None or not len(tl[0]):
        return edges, out
    t_all, l_all, load_all = tl
    order = np.argsort(l_all, kind="stable")  # group by link once, keeping time order
    t_s, l_s, load_s = t_all[order], l_all[order], load_all[order]
    starts = np.searchsorted(l_s, link_ids, side="left")
    ends = np.searchsorted(l_s, link_ids, side="right")
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if a == b:
            continue
        t = np.append(t_s[a:b], span)
        cum = np.concatenate(([0.0], np.cumsum(load_s[a:b] * np.diff(t))))
        out[i] = np.diff(np.interp(edges, t, cum, left=0.0, right=cum[-1]))
    return edges, out


def _floats(column: Any, rows: np.ndarray) -> list[float]:
    """The values of ``column`` at ``rows`` (a mask) as Python floats."""
    return np.asarray(column, dtype=np.float64)[rows].tolist()


def _counter(name: str, pid: int, edges: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    prev = None
    for i, v in enumerate(values):
        r = round(float(v), 6)
        if r != prev:
            events.append({"ph": "C", "name": name, "pid": pid, "tid": 0,
                           "ts": float(edges[i]) * _US, "args": {"utilisation": r}})  # fmt: skip
            prev = r
    events.append({"ph": "C", "name": name, "pid": pid, "tid": 0,
                   "ts": float(edges[-1]) * _US, "args": {"utilisation": 0.0}})  # fmt: skip
    return events


def tier_of_class(topology: Topology, tier_of: dict[int, str] | None = None) -> list[str]:
    """Tier name (:func:`link_tiers`) of each link class of ``topology``
    (:func:`~simulator.topology.linkclass.link_classes`, same order). ``tier_of``: the
    :func:`link_tiers` of ``topology`` where the caller has them already.

    Raises:
        ValueError: a class holds links of two tiers (a class is kind plus the levels of both
            ends, which is all a tier depends on, so this means the two definitions drifted).
    """
    tier_of = link_tiers(topology) if tier_of is None else tier_of
    of_link = link_classes(topology).of_link
    out: dict[int, str] = {}
    for lk in topology.links:
        c = int(of_link[lk.id])
        if out.setdefault(c, tier_of[lk.id]) != tier_of[lk.id]:
            raise ValueError(f"link class {c} spans tiers {out[c]!r} and {tier_of[lk.id]!r}")
    return [out[c] for c in range(len(out))]


def level_tier(kind: str, src_level: str, dst_level: str) -> str:
    """The tier :func:`link_tiers` gives a link of kind ``kind`` between ends at levels
    ``src_level`` and ``dst_level`` (:mod:`simulator.topology.linkclass`: ``t<n>`` for a switch
    of tier ``n``, else the node kind). A link's tier depends on nothing else, so this is the
    tier of every link of a class."""
    tier = {lvl: int(lvl[1:]) for lvl in (src_level, dst_level) if _is_switch_level(lvl)}
    ends = {NodeKind.SWITCH.value if lvl in tier else lvl for lvl in (src_level, dst_level)}
    if kind == LinkKind.WAN.value:
        return "WAN"
    if NodeKind.GATEWAY.value in ends:
        return "gateway"
    if kind == LinkKind.NVLINK.value:
        return "NVLink"
    if NodeKind.NIC.value in ends and NodeKind.SWITCH.value in ends:
        return "node uplinks"
    if ends == {NodeKind.SWITCH.value}:
        lo, hi = sorted((tier[src_level], tier[dst_level]))
        return "leaf-spine" if (lo, hi) == (1, 2) else "spine-core" if hi >= 3 else "switches"
    if kind == LinkKind.PCIE.value:
        return "PCIe"
    return kind


def _is_switch_level(level: str) -> bool:
    """``t1``, ``t2``...: a switch's level (no node kind reads so)."""
    return level[:1] == "t" and level[1:].isdigit()


def class_tiers(classes: LinkClasses) -> list[str]:
    """Tier name of each class of ``classes`` (:func:`level_tier` of its kind and levels):
    :func:`tier_of_class` without a pass over the links."""
    return [
        level_tier(k, a, b)
        for k, a, b in zip(classes.kind, classes.src_level, classes.dst_level, strict=True)
    ]


def tier_counter_events(
    result: StepResult, topology: Topology, *, k: int = 3, bins: int = 200, pid: int
) -> list[dict[str, Any]]:
    """Counter tracks per tier (mean utilisation, from the link-class counters) and for the
    ``k`` busiest links of each tier that carried bytes, in process ``pid`` (named
    ``link tiers``)."""
    if result.link_class_timeline is None or not result.has_link_timeline:
        return []
    cols = result.link_columns
    carried = np.asarray(cols["bytes_B"], dtype=np.float64) > 0
    if not carried.any():
        return []
    meta = {"ph": "M", "pid": pid, "tid": 0}
    events: list[dict[str, Any]] = [
        {**meta, "name": "process_name", "args": {"name": "link tiers"}},
        {**meta, "name": "process_sort_index", "args": {"sort_index": pid}},
    ]
    # Tiers per link class, then per link through its class: one pass over the links
    # (link_classes), where link_tiers and tier_of_class made three.
    classes = link_classes(topology)
    class_tier = class_tiers(classes)
    link_ids = np.asarray(cols["link"], dtype=np.int64)
    ids: list[int] = link_ids[carried].tolist()
    tier_at: list[str] = np.asarray(class_tier, dtype=object)[
        classes.of_link[link_ids[carried]]
    ].tolist()
    cls = link_class_bins(result, bins)
    edges = cls.edges_s
    width = float(edges[1] - edges[0])
    cap = dict(zip(ids, _floats(cols["capacity_Bps"], carried), strict=True))
    util = dict(zip(ids, _floats(cols["utilisation"], carried), strict=True))
    present = set(tier_at)
    names = [t for t in TIER_ORDER if t in present] + sorted(present - set(TIER_ORDER))
    count: Counter[str] = Counter()
    for c, t in enumerate(class_tier):
        count[t] += int(classes.count[c])
    carrying: dict[str, list[int]] = {t: [] for t in names}
    for lid, t in zip(ids, tier_at, strict=True):
        carrying[t].append(lid)
    tops = {t: sorted(carrying[t], key=lambda x: (-util[x], x))[:k] for t in names}
    top_ids = [lid for t in names for lid in tops[t]]
    _edges, b = binned_bytes(result, top_ids, bins)
    row = {lid: i for i, lid in enumerate(top_ids)}
    for n, tier in enumerate(names):
        mine = [c for c, t in enumerate(class_tier) if t == tier]
        total_cap = float(result.link_class_capacity_Bps[mine].sum()) * width
        tier_bytes = cls.bytes_B[mine].sum(axis=0)
        label = f"{n}. {tier}: mean utilisation of its {count[tier]} links"
        events += _counter(label, pid, edges, tier_bytes / total_cap)
        for j, lid in enumerate(tops[tier]):
            lk = topology.links[lid]
            name = f"{n}. {tier} #{j + 1}: link {lid} {lk.src}->{lk.dst}"
            events += _counter(name, pid, edges, b[row[lid]] / (cap[lid] * width))
    return events
