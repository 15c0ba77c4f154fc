"""Utilisation of every link class and tier over time, from the fabric's running counters.

The fabric sums the load of each link class as the simulation runs (see
:mod:`simulator.topology.linkclass`); :func:`link_class_bins` integrates those piecewise-constant
sums over equal time bins. Nothing here reads per-flow records, so the cost does not grow with
the number of flows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.engine import StepResult


@dataclass(frozen=True)
class ClassBins:
    """Mean utilisation per link class and time bin.

    Attributes:
        labels: link class names (``"infiniband t1->t2"``).
        edges_s: bin edges, seconds (``bins + 1``).
        utilisation: ``classes x bins``: bytes carried in the bin / (class capacity x width).
        bytes_B: ``classes x bins``: bytes carried by the class's links in the bin.
    """

    labels: tuple[str, ...]
    edges_s: np.ndarray
    utilisation: np.ndarray
    bytes_B: np.ndarray


def link_class_bins(result: StepResult, bins: int = 200) -> ClassBins:
    """:class:`ClassBins` of ``result`` over ``[0, makespan]`` (all zeros without a class
    timeline, i.e. when simulated with ``record=False``)."""
    labels = result.link_class_labels
    span = result.makespan_s if result.makespan_s > 0 else 1.0
    edges = np.linspace(0.0, span, bins + 1)
    carried = np.zeros((len(labels), bins))
    tl = result.link_class_timeline
    if tl is not None and len(tl[0]):
        t_all, c_all, load_all = tl
        for c in range(len(labels)):
            mask = c_all == c
            if not mask.any():
                continue
            t = np.append(t_all[mask], max(span, float(t_all[mask][-1])))
            cum = np.concatenate(([0.0], np.cumsum(load_all[mask] * np.diff(t))))
            carried[c] = np.diff(np.interp(edges, t, cum, left=0.0, right=cum[-1]))
    cap = result.link_class_capacity_Bps[:, None] * (span / bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        util = np.where(cap > 0, carried / cap, 0.0) if len(labels) else carried
    return ClassBins(labels, edges, util, carried)
