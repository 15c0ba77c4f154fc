"""A link bandwidth or latency written without a unit where the number cannot be meant.

Plain numbers are SI (bytes/s, seconds) everywhere (:mod:`simulator.core.units`), so
``bandwidth: 400`` (meant: 400 Gbps) read as 400 B/s and ``latency: 5`` (meant: 5 us) as 5 s,
silently: a run then reports a step hours long. Every bandwidth field of every file
(:data:`simulator.core.schema.BandwidthBps`), every latency field
(:data:`simulator.core.schema.LatencyS`: links, backend profiles, hardware, faults) and the
topology builders' parameters written without their ``_Bps``/``_s`` suffix; no pydantic here
(the topology loader imports it at start-up).
"""

from __future__ import annotations

from typing import Final

#: A link bandwidth written as a bare number below this (B/s, 8 Mbit/s) is a unit left out
#: (``bandwidth: 400`` meaning 400 Gbps read as 400 B/s); the slowest shipped link is the rig's
#: 400 Mbit/s (5e7 B/s).
MIN_BARE_BANDWIDTH_BPS: Final[float] = 1e6
#: A link latency written as a bare number at or above this (s) is a unit left out
#: (``latency: 5`` meaning 5 us read as 5 s); one second one way is 200,000 km of fibre.
MAX_BARE_LATENCY_S: Final[float] = 1.0


def _bare(v: object) -> float | None:
    """``v`` as a number when it was written without a unit (``400``, ``"400"``), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def unit_bandwidth(v: object) -> object:
    """``v`` unchanged; ``ValueError`` for a bare number below :data:`MIN_BARE_BANDWIDTH_BPS`."""
    x = _bare(v)
    if x is not None and 0 < x < MIN_BARE_BANDWIDTH_BPS:
        raise ValueError(
            f"{v!r} without a unit is {x:g} bytes/s; write the unit, e.g. '{x:g}Gbps' "
            f"(bits/s) or '{x:g} GB/s' (bytes/s)"
        )
    return v


def unit_latency(v: object) -> object:
    """``v`` unchanged; ``ValueError`` for a bare number at or above :data:`MAX_BARE_LATENCY_S`."""
    x = _bare(v)
    if x is not None and x >= MAX_BARE_LATENCY_S:
        raise ValueError(
            f"{v!r} without a unit is {x:g} seconds one way; write the unit, e.g. '{x:g}us' "
            f"or '{x:g} ms' ('{x:g} s' if seconds are meant)"
        )
    return v
