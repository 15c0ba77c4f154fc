"""Whether a layout's memory estimate fits its GPU: the line ``commsim run`` warns with.

A step time for a layout that cannot hold its own state is not an answer anyone can use, so
``run`` says so on stderr (the JSON and the tables are unchanged): the first pipeline stage's
estimate (parameters, gradients, optimizer state, activations; see
:class:`simulator.build.BuiltWorkload`) against the HBM of the GPU in the hardware catalog
(``simulator/data/hardware.yaml``, spec-sheet capacities). ``commsim plan`` applies the same
test to rank layouts (:mod:`simulator.studies.capacity`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from simulator.core.units import format_size
from simulator.hardware import gpu_hbm_B


def memory_warning(memory_per_gpu_B: Mapping[str, float], gpu: str | None) -> str | None:
    """The warning for an estimate over ``gpu``'s HBM (bytes by part, ``total`` included), or
    ``None`` when it fits or the GPU's HBM is unknown (not in the catalog)."""
    total = memory_per_gpu_B.get("total")
    if total is None or not gpu:
        return None
    hbm_B = gpu_hbm_B(gpu)
    if not hbm_B or (math.isfinite(total) and total <= hbm_B):
        return None
    parts = ", ".join(f"{k} {format_size(v)}" for k, v in memory_per_gpu_B.items() if k != "total")
    return (
        f"memory per GPU {format_size(total)} ({parts}) is over the {format_size(hbm_B)} of HBM "
        f"of one {gpu}: this layout would run out of memory (the step time assumes it fits)"
    )
