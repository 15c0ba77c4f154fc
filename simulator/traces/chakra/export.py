"""``commsim run SCENARIO --chakra-out DIR``: a scenario's workload as Chakra ET files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.build import build_workload
from simulator.topology import load_topology
from simulator.topology.whatif import scale_links
from simulator.traces.chakra.codec import export_workload


def export_scenario(scenario: Any, out_dir: Path) -> list[Path]:
    """Build ``scenario``'s workload on its topology and write it into ``out_dir``.

    Raises:
        InputError: ``out_dir`` is not new or empty.
    """
    topology = scale_links(
        load_topology(scenario.topology),
        scenario.network.bandwidth_scale,
        scenario.network.latency_scale,
        file=scenario.source_file,
    )
    built = build_workload(scenario, topology)
    return export_workload(built.workload, out_dir)
