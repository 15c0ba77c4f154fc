"""Timeline in Chrome trace event format (opens in Perfetto and chrome://tracing).

* one process (``pid``) per simulated rank, named ``rank R``; one thread (``tid``) per stream;
* one complete event (``ph: "X"``, ``ts``/``dur`` in microseconds) per op; collectives are
  named ``NAME all_reduce 64 MiB g[0..7]`` and carry op, size, group and algorithm in ``args``;
* a process ``links`` with one counter track (``ph: "C"``) for each of the busiest links: its
  mean utilisation (0..1) per time bin, from the fabric's per-link load timeline
  (see :func:`link_utilisation_bins`).

Spec: "Trace Event Format" (Google Docs, id 1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from simulator.engine import StepResult
from simulator.report.linktiers import tier_counter_events
from simulator.report.opevents import comm_label, op_event_text

_US = 1e6  # microseconds per second: Chrome trace timestamps are in us
#: Time bins of the link and tier counter tracks.
BINS = 200


def chrome_trace(
    result: StepResult, *, k_links: int = 8, bins: int = BINS, topology: Any = None
) -> dict[str, Any]:
    """The trace as a JSON-ready dict ``{"traceEvents": [...], "displayTimeUnit": "ms", ...}``.

    With ``topology``, a process ``link tiers`` adds one counter per link tier (NVLink, PCIe,
    node uplinks, leaf-spine, spine-core, gateway, WAN) and the ``k_links`` busiest links of
    each (:func:`simulator.report.linktiers.tier_counter_events`).
    """
    return {
        "traceEvents": list(trace_events(result, k_links=k_links, bins=bins, topology=topology)),
        **_trace_tail(result),
    }


def _trace_tail(result: StepResult) -> dict[str, Any]:
    """The keys of the trace after ``traceEvents``."""
    return {
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "commsim",
            "step_time_s": result.step_time_s,
            "backend": result.backend,
            "fidelity": result.fidelity,
        },
    }


#: Ops converted to trace events per batch (bounds the row dicts alive at once).
_BATCH = 8192


def trace_events(
    result: StepResult, *, k_links: int = 8, bins: int = BINS, topology: Any = None
) -> Iterator[dict[str, Any]]:
    """The events of :func:`chrome_trace`, in order, one at a time."""
    yield from _op_events(result)
    yield from _counter_events(result, k_links=k_links, bins=bins, topology=topology)


def _counter_events(
    result: StepResult, *, k_links: int, bins: int, topology: Any
) -> Iterator[dict[str, Any]]:
    """The events of :func:`trace_events` after the op events: link and tier counters."""
    yield from link_counter_events(result, k=k_links, bins=bins)
    if topology is not None:
        pid = max(result.simulated_ranks, default=0) + 2
        yield from tier_counter_events(result, topology, k=k_links, bins=bins, pid=pid)


def _op_events(result: StepResult) -> Iterator[dict[str, Any]]:
    """Process and thread names, then one complete event per op."""
    ops = result.ops
    tids: dict[tuple[int, str], int] = {}
    labels: dict[tuple[Any, ...], str] = {}  # op labels repeat: format each once
    for rank in result.simulated_ranks:
        yield (
            {
                "ph": "M",
                "name": "process_name",
                "pid": rank,
                "tid": 0,
                "args": {"name": f"rank {rank}"},
            }
        )
        yield (
            {
                "ph": "M",
                "name": "process_sort_index",
                "pid": rank,
                "tid": 0,
                "args": {"sort_index": rank},
            }
        )
    for row in _op_rows(ops):
        key = (int(row["rank"]), str(row["stream"]))
        if key not in tids:
            tids[key] = sum(1 for k in tids if k[0] == key[0]) + 1
            yield (
                {
                    "ph": "M",
                    "name": "thread_name",
                    "pid": key[0],
                    "tid": tids[key],
                    "args": {"name": key[1]},
                }
            )
        name = str(row["name"])
        args: dict[str, Any] = {"id": int(row["id"]), "kind": str(row["kind"])}
        if row["kind"] != "compute":
            what = (row["op"], row["size_B"], row["group"], row["peer"], row["kind"])
            label = labels.get(what)
            if label is None:
                label = labels[what] = comm_label(*what)
            name = f"{name} {label}"
            args.update(
                op=str(row["op"]),
                size_B=float(row["size_B"]),
                group=str(row["group"]),
                peer=int(row["peer"]),
                algo=str(row["algo"]),
                wait_us=(float(row["start_s"]) - float(row["ready_s"])) * _US,
            )
        if int(row["layer"]) >= 0:
            args["layer"] = int(row["layer"])
        if int(row["microbatch"]) >= 0:
            args["microbatch"] = int(row["microbatch"])
        yield (
            {
                "ph": "X",
                "name": name,
                "cat": str(row["category"] or row["kind"]),
                "pid": int(row["rank"]),
                "tid": tids[key],
                "ts": float(row["start_s"]) * _US,
                "dur": max(float(row["end_s"]) - float(row["start_s"]), 0.0) * _US,
                "args": args,
            }
        )


def _batches(events: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for ev in events:
        batch.append(ev)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _op_rows(ops: Any) -> Iterator[dict[str, Any]]:
    """``ops.to_dict(orient="records")``, a batch of rows at a time."""
    keys = [str(c) for c in ops.columns]
    for lo in range(0, len(ops), _BATCH):
        part = ops.iloc[lo : lo + _BATCH]
        cols = [part[c].tolist() for c in ops.columns]  # Python scalars, as to_dict gives
        for values in zip(*cols, strict=True):
            yield dict(zip(keys, values, strict=True))


def link_utilisation_bins(
    result: StepResult, link_ids: list[int], bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (s, ``bins + 1``) and mean utilisation per link and bin (``links x bins``).

    Exact when the fabric kept its per-link load timeline (``simulate(..., record=True)``):
    the piecewise-constant load is integrated over each bin. Otherwise each flow record's
    bytes are spread evenly from the end of its latency to its end (an approximation).
    All zeros without either.
    """
    span = result.makespan_s if result.makespan_s > 0 else 1.0
    edges = np.linspace(0.0, span, bins + 1)
    width = span / bins
    out = np.zeros((len(link_ids), bins))
    cap = _capacity_Bps(result, link_ids)
    tl = result.link_timeline_of(link_ids)
    if tl is not None and len(tl[0]):
        t_all, l_all, load_all = tl
        for i, lid in enumerate(link_ids):
            mask = l_all == lid
            t = np.append(t_all[mask], span)
            load = load_all[mask]
            # cumulative bytes at each change point, then at the bin edges (piecewise linear)
            cum = np.concatenate(([0.0], np.cumsum(load * np.diff(t))))
            at_edges = np.interp(edges, t, cum, left=0.0, right=cum[-1])
            out[i] = np.diff(at_edges) / (cap[lid] * width)
        return edges, out
    row_of = {lid: i for i, lid in enumerate(link_ids)}
    for rec in result.flow_records:
        hit = [row_of[lk] for lk in rec.links if lk in row_of]
        if not hit or rec.size_B <= 0:
            continue
        a = float(rec.start_s) + float(getattr(rec, "latency_s", 0.0))
        b = float(rec.end_s)
        if b <= a:
            continue
        rate = float(rec.size_B) / (b - a)
        i0 = min(int(a / width), bins - 1)
        i1 = min(int(b / width), bins - 1)
        for i in range(i0, i1 + 1):
            ov = min(b, edges[i + 1]) - max(a, edges[i])
            if ov > 0:
                for h in hit:
                    out[h, i] += rate * ov
    for lid, i in row_of.items():
        out[i] /= cap[lid] * width
    return edges, out


def _capacity_Bps(result: StepResult, link_ids: list[int]) -> dict[int, float]:
    """``link id -> capacity_Bps`` of ``link_ids``, read from the links table's columns."""
    cols = result.link_columns
    row = {lid: i for i, lid in enumerate(np.asarray(cols["link"]).tolist())}
    cap = np.asarray(cols["capacity_Bps"], dtype=np.float64)
    return {lid: float(cap[row[lid]]) for lid in link_ids}


def _busiest_carrying(result: StepResult, k: int) -> list[tuple[int, str, str, str]]:
    """``(link, src, dst, kind)`` of those of the ``k`` busiest links
    (:meth:`~simulator.engine.StepResult.busiest_links`, same order) that carried bytes,
    read from the links table's columns."""
    cols = result.link_columns
    link = np.asarray(cols["link"], dtype=np.int64)
    order = np.lexsort((link, -np.asarray(cols["utilisation"], dtype=np.float64)))
    carried = np.asarray(cols["bytes_B"], dtype=np.float64) > 0
    src, dst, kind = cols["src"], cols["dst"], cols["kind"]
    return [
        (int(link[i]), str(src[i]), str(dst[i]), str(kind[i]))
        for i in order[:k].tolist()
        if carried[i]
    ]


def link_counter_events(
    result: StepResult, *, k: int = 8, bins: int = BINS
) -> list[dict[str, Any]]:
    """Counter events (``ph: "C"``) for the ``k`` busiest links that carried traffic."""
    busiest = _busiest_carrying(result, k)
    if not busiest or (not result.has_link_timeline and not result.flow_records):
        return []
    pid = max(result.simulated_ranks, default=0) + 1
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "links"}},
        {
            "ph": "M",
            "name": "process_sort_index",
            "pid": pid,
            "tid": 0,
            "args": {"sort_index": pid},
        },
    ]
    ids = [lid for lid, *_ in busiest]
    edges, util = link_utilisation_bins(result, ids, bins)
    for j, (lid, src, dst, kind) in enumerate(busiest):
        name = f"link {lid} {src}->{dst} ({kind})"
        prev = None
        for i in range(bins):
            v = round(float(util[j, i]), 6)
            if v != prev:
                events.append(
                    {
                        "ph": "C",
                        "name": name,
                        "pid": pid,
                        "tid": 0,
                        "ts": float(edges[i]) * _US,
                        "args": {"utilisation": v},
                    }
                )
                prev = v
        events.append(
            {
                "ph": "C",
                "name": name,
                "pid": pid,
                "tid": 0,
                "ts": float(edges[-1]) * _US,
                "args": {"utilisation": 0.0},
            }
        )
    return events


def write_timeline(
    result: StepResult, path: str | Path, *, k_links: int = 8, topology: Any = None
) -> Path:
    """Write :func:`chrome_trace` as JSON to ``path``; return it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    # Streamed: the op events are formatted as JSON text a column at a time
    # (simulator.report.opevents), the counters encoded a batch at a time (C encoder); the
    # bytes are those of json.dumps(chrome_trace(...), separators=(",", ":")).
    # The counters are computed first, before the op events' columns exist: merging the load
    # timelines is the trace's largest transient allocation (tens of MB on the flagship).
    enc = json.JSONEncoder(separators=(",", ":")).encode
    counters = list(_counter_events(result, k_links=k_links, bins=BINS, topology=topology))
    with p.open("w", encoding="utf-8") as fh:
        fh.write('{"traceEvents":[')
        first = True
        for chunk in op_event_text(result):
            fh.write(("" if first else ",") + chunk)
            first = False
        for batch in _batches(iter(counters)):
            fh.write(("" if first else ",") + enc(batch)[1:-1])
            first = False
        fh.write("]," + enc(_trace_tail(result))[1:])
    return p
