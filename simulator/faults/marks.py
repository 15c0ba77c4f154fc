"""Faults in the outputs of ``commsim run --out``: timeline marks and the rerouted-load table.

* :func:`mark_timeline` adds a ``faults`` track to ``timeline.json`` (Perfetto) with one slice
  per interval during which a network fault was in force, and marks slow ranks (a slice over the
  step on the rank's track) and stalls of step 0 (an instant at the start of the step).
* :func:`write_link_faults` writes ``links_faults.csv``: every link that a fault names or whose
  bytes changed against the healthy run, with both byte counts (where the traffic went).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from simulator.faults.network import NetworkFaults


def intervals(network: NetworkFaults, end_s: float) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, label)`` of every interval a fault is in force, up to ``end_s``."""
    out: list[tuple[float, float, str]] = []
    for r in network.resolved:
        t = r.at_s
        while t < end_s:
            nxt = r.next_change(t)
            if r.active(t):
                out.append((t, min(nxt, end_s), r.label))
            if not math.isfinite(nxt):
                break
            t = nxt
    return out


def mark_timeline(path: Path, network: NetworkFaults | None, faults: Any, end_s: float) -> None:
    """Add the fault marks to the Perfetto JSON at ``path`` (times in microseconds)."""
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    pid = 1 + max((int(e.get("pid", 0)) for e in events), default=0)
    events.append(
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "faults"}}
    )
    if network is not None:
        for start, end, label in intervals(network, end_s):
            events.append(
                {
                    "ph": "X",
                    "name": label,
                    "pid": pid,
                    "tid": 0,
                    "ts": start * 1e6,
                    "dur": (end - start) * 1e6,
                }
            )
    for s in faults.slow_ranks:
        for r in s.ranks:
            events.append(
                {
                    "ph": "X",
                    "name": f"slow x{s.compute_factor:g}",
                    "pid": r,
                    "tid": 999,
                    "ts": 0.0,
                    "dur": end_s * 1e6,
                }
            )
    for st in faults.stalls:
        if st.first == 0:
            for r in st.ranks:
                events.append(
                    {
                        "ph": "i",
                        "name": f"stall {st.duration:g} s",
                        "pid": r,
                        "tid": 999,
                        "ts": 0.0,
                        "s": "t",
                    }
                )
    path.write_text(json.dumps(doc))


def write_link_faults(out: Path, result: Any, healthy: Any, network: NetworkFaults) -> Path:
    """``links_faults.csv``: links named by a fault or carrying other bytes than when healthy."""
    import pandas as pd

    labels: dict[int, list[str]] = {}
    for r in network.resolved:
        for i in r.links:
            labels.setdefault(i, []).append(r.label)
    now = result.links.set_index("link")["bytes_B"]
    before = healthy.links.set_index("link")["bytes_B"]
    changed = set(
        np.flatnonzero(~np.isclose(now.to_numpy(), before.reindex(now.index).to_numpy(), rtol=1e-9))
    )
    rows = []
    topo = network.base
    for i in sorted(set(labels) | {int(now.index[k]) for k in changed}):
        lk = topo.links[i]
        rows.append(
            {
                "link": i,
                "src": lk.src,
                "dst": lk.dst,
                "fault": "; ".join(labels.get(i, [])),
                "healthy_bytes_B": float(before.get(i, 0.0)),
                "bytes_B": float(now.get(i, 0.0)),
                "rerouted_B": float(now.get(i, 0.0)) - float(before.get(i, 0.0)),
            }
        )
    path = out / "links_faults.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
