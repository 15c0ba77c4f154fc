"""pandas views of a fabric run, built on request (the fabric itself keeps plain lists/arrays)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from simulator.network.flow import FlowRecord
from simulator.network.maxmin import FloatArray, IntArray

if TYPE_CHECKING:
    import pandas as pd


class FabricRun(Protocol):
    """What the frames read of a :class:`~simulator.network.fabric.Fabric`."""

    records: list[FlowRecord]

    @property
    def now(self) -> float:
        """Simulated time, seconds."""
        ...

    @property
    def capacity_Bps(self) -> FloatArray:
        """Capacity per link id, B/s."""
        ...

    @property
    def link_bytes_B(self) -> FloatArray:
        """Bytes carried per link id."""
        ...

    @property
    def link_busy_s(self) -> FloatArray:
        """Busy time per link id, seconds."""
        ...

    @property
    def link_peak_util(self) -> FloatArray:
        """Peak utilisation per link id."""
        ...

    def timeline_arrays(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """Per-link load changes: ``(time_s, link, load_Bps)``."""
        ...


def fabric_frames(fabric: FabricRun) -> dict[str, pd.DataFrame]:
    """``{"flows", "links", "timeline"}`` DataFrames of ``fabric`` at the current time.

    * ``flows``: one row per completed flow (needs ``record=True``): ``seq, tag, src, dst,
      start_s, join_s`` (start + latency), ``end_s, size_B, latency_s, mean_rate_Bps, links``.
    * ``links``: one row per link id: ``link, capacity_Bps, bytes_B, busy_s, peak_util,
      mean_util`` (bytes / (capacity x now); 0 at time 0).
    * ``timeline``: ``time_s, link, load_Bps, util`` rows of piecewise-constant load (needs
      ``record_timeline=True``; empty otherwise).
    """
    import pandas as pd

    recs = fabric.records
    flows = pd.DataFrame(
        {
            "seq": [r.seq for r in recs],
            "tag": [r.tag for r in recs],
            "src": [r.src for r in recs],
            "dst": [r.dst for r in recs],
            "start_s": [r.start_s for r in recs],
            "join_s": [r.start_s + r.latency_s for r in recs],
            "end_s": [r.end_s for r in recs],
            "size_B": [r.size_B for r in recs],
            "latency_s": [r.latency_s for r in recs],
            "mean_rate_Bps": [r.mean_rate_Bps for r in recs],
            "links": [r.links for r in recs],
        }
    )
    cap = fabric.capacity_Bps
    now = float(fabric.now)
    carried = fabric.link_bytes_B
    links = pd.DataFrame(
        {
            "link": np.arange(cap.size),
            "capacity_Bps": cap,
            "bytes_B": carried,
            "busy_s": fabric.link_busy_s,
            "peak_util": fabric.link_peak_util,
            "mean_util": carried / (cap * now) if now > 0 else np.zeros(cap.size),
        }
    )
    time_s, link, load = fabric.timeline_arrays()
    timeline = pd.DataFrame(
        {"time_s": time_s, "link": link, "load_Bps": load, "util": load / cap[link]}
    )
    return {"flows": flows, "links": links, "timeline": timeline}
