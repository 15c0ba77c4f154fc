"""Flows: what the fabric is asked to carry (FlowSpec) and what it did (FlowRecord).

SI units throughout: bytes (``_B``), seconds (``_s``), bytes/second (``_Bps``). A flow's ``links``
are link ids (indices into the fabric's ``capacity_Bps`` array); the network package never sees
the topology itself.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One transfer to carry over a fixed path.

    Attributes:
        links: link ids the flow crosses, in path order. Empty means a local copy with no
            network cost: it drains at ``max_rate_Bps`` (infinitely fast when that is ``inf``).
        size_B: bytes to carry (``>= 0``). A zero-byte flow completes right after its latency.
        latency_s: time before the first byte flows: the path latency plus any per-message
            overhead (``>= 0``). The flow does not load any link during this time.
        max_rate_Bps: cap on the flow's own rate, e.g. a per-connection limit (``> 0``; ``inf``
            means uncapped).
        tag: free label carried into the record (e.g. ``"allreduce#3/ring/step2"``).
        src: source rank, or ``-1`` when not meaningful.
        dst: destination rank, or ``-1`` when not meaningful.

    Raises:
        ValueError: on a negative or non-finite size or latency, a non-positive or NaN
            ``max_rate_Bps``, or a negative link id.
        TypeError: on a link id that is not an integer.
    """

    links: tuple[int, ...]
    size_B: float
    latency_s: float = 0.0
    max_rate_Bps: float = math.inf
    tag: str = ""
    src: int = -1
    dst: int = -1

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        links = tuple(map(operator.index, self.links))  # numpy integers -> int; floats raise
        setattr_(self, "links", links)
        if type(self.size_B) is not float:
            setattr_(self, "size_B", float(self.size_B))
        if type(self.latency_s) is not float:
            setattr_(self, "latency_s", float(self.latency_s))
        if type(self.max_rate_Bps) is not float:
            setattr_(self, "max_rate_Bps", float(self.max_rate_Bps))
        if links and min(links) < 0:
            raise ValueError(f"FlowSpec: negative link id in {links}")
        if not (0.0 <= self.size_B < math.inf):
            raise ValueError(f"FlowSpec: size_B must be finite and >= 0, got {self.size_B}")
        if not (0.0 <= self.latency_s < math.inf):
            raise ValueError(f"FlowSpec: latency_s must be finite and >= 0, got {self.latency_s}")
        if not (self.max_rate_Bps > 0.0):
            raise ValueError(f"FlowSpec: max_rate_Bps must be > 0, got {self.max_rate_Bps}")


def trusted_flow(
    links: tuple[int, ...],
    size_B: float,
    latency_s: float,
    max_rate_Bps: float,
    tag: str,
    src: int,
    dst: int,
) -> FlowSpec:
    """A :class:`FlowSpec` from values that already hold its invariants, without re-checking.

    For callers that build millions of flows from routed paths: ``links`` a tuple of Python
    ints ``>= 0``, ``size_B`` and ``latency_s`` finite floats ``>= 0``, ``max_rate_Bps`` a float
    ``> 0`` (``inf`` allowed). The result equals ``FlowSpec(links, size_B, ...)`` for such values
    (``tests/test_network_fabric.py`` compares them); other values are the caller's error.
    """
    spec = object.__new__(FlowSpec)
    set_ = object.__setattr__
    set_(spec, "links", links)
    set_(spec, "size_B", size_B)
    set_(spec, "latency_s", latency_s)
    set_(spec, "max_rate_Bps", max_rate_Bps)
    set_(spec, "tag", tag)
    set_(spec, "src", src)
    set_(spec, "dst", dst)
    return spec


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """What happened to one flow.

    Attributes:
        start_s: simulated time at which :meth:`Fabric.start` was called.
        end_s: time at which its last byte arrived (``start_s + latency_s + drain time``).
        size_B: bytes carried.
        links: link ids crossed.
        tag, src, dst: copied from the :class:`FlowSpec`.
        latency_s: the spec's latency (the flow drained from ``start_s + latency_s`` on).
        seq: the fabric's sequence number of the flow (order of ``start`` calls, from 0).
    """

    start_s: float
    end_s: float
    size_B: float
    links: tuple[int, ...]
    tag: str
    src: int
    dst: int
    latency_s: float = 0.0
    seq: int = -1

    @property
    def duration_s(self) -> float:
        """``end_s - start_s``: latency plus drain time."""
        return self.end_s - self.start_s

    @property
    def mean_rate_Bps(self) -> float:
        """Average drain rate after the latency (``inf`` for an instantaneous drain)."""
        drain_s = self.end_s - self.start_s - self.latency_s
        return self.size_B / drain_s if drain_s > 0 else math.inf
