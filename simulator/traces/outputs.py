"""``commsim replay --out DIR``: the replay's timeline, tables and plots, as ``run --out``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.report.tables import write_tables
from simulator.report.timeline import write_timeline

MARKER = ".commsim-output"  # the same marker as ``commsim run --out`` (simulator/cli/run.py)
MARKER_TEXT = "written by commsim replay; files here may be overwritten by the next run\n"


def write_replay_outputs(
    out: Path, result: Any, payload: dict[str, Any], steps: int | None = None
) -> None:
    """Write ``result.json`` (the replay's comparison), the tables, ``timeline.json`` and the
    timeline and link plots of the simulated steps into ``out`` (marker first). ``steps``:
    the measured steps simulated back to back (the timeline's title gives the time per step)."""
    from simulator.report.plots import plot_links, plot_timeline

    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(MARKER_TEXT)
    (out / "result.json").write_text(json.dumps(payload, indent=2, default=str))
    write_tables(result, out)
    write_timeline(result, out / "timeline.json")
    plot_timeline(result, out / "timeline.png", steps=steps)
    plot_links(result, out / "links.png")
