"""Max-min fair rates by progressive filling (a pure function; no simpy).

All flows start at rate 0 and rise together. A link *saturates* when the flows crossing it use
its whole capacity; a flow *freezes* when it crosses a saturated link or reaches its own cap.
Frozen flows keep their rate; the others keep rising. The result is the unique max-min fair
allocation: no flow can get more without taking from a flow that has less or the same.

The loop is vectorised: the flow->link incidence is flattened into two index arrays
(``inc_flow[k]`` crosses ``inc_link[k]``), and each round computes every link's fair share of
its remaining capacity with :func:`numpy.bincount`. Instead of freezing only the flows at the
globally smallest share, a round freezes the flows of every link whose share is no larger than
the share of any link it shares a flow with and than the caps of its flows: shares only rise as
other flows freeze, so such a link saturates at exactly its current share whatever happens
elsewhere. The global minimum is always such a link (progress is guaranteed) and unrelated
parts of the network are solved in the same rounds, so the round count is the depth of the
bottleneck dependency chain rather than the number of distinct rates. Disjoint groups of
flows therefore get exactly the rates they would get alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Relative tolerance for ties: a link whose fair share is within this fraction of its
#: neighbours' smallest share saturates in the same round (a flow on it gets the smallest
#: share on its path, never more), and a flow whose cap is within it of the shares on its path
#: freezes. A numerical choice (a few thousand ulps), not a physical constant.
TIE_RTOL = 1e-9

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def max_min_rates(
    flow_links: Sequence[Sequence[int] | IntArray],
    capacity_Bps: npt.ArrayLike,
    max_rate_Bps: npt.ArrayLike | float | None = None,
) -> FloatArray:
    """Max-min fair rate of each flow, in B/s.

    Args:
        flow_links: per flow, the ids of the links it crosses (indices into ``capacity_Bps``),
            as a sequence or a 1-D integer array.
            A link listed twice counts twice (the flow loads it twice). A flow with no links
            is limited only by its cap: it gets ``max_rate_Bps`` (``inf`` when uncapped).
        capacity_Bps: capacity of every link, B/s (1-D, ``>= 0``; ``inf`` allowed).
        max_rate_Bps: per-flow cap (one value for all flows, or one per flow; ``> = 0``,
            ``inf`` allowed). ``None`` means uncapped.

    Returns:
        float64 array, one rate per flow, in the order of ``flow_links``. A flow whose links
        all have infinite capacity and which has no cap gets ``inf``.

    Raises:
        ValueError: on a link id out of range, a negative or NaN capacity or cap, or a cap
            array whose length differs from the number of flows.
    """
    n_flows = len(flow_links)
    capacity = np.asarray(capacity_Bps, dtype=np.float64)
    if capacity.ndim != 1:
        raise ValueError(f"capacity_Bps must be 1-D, got shape {capacity.shape}")
    if np.isnan(capacity).any() or (capacity < 0).any():
        raise ValueError("capacity_Bps must be >= 0 and not NaN")
    caps = _caps_array(max_rate_Bps, n_flows)
    counts = np.fromiter(map(len, flow_links), dtype=np.intp, count=n_flows)
    inc_link = np.fromiter(
        itertools.chain.from_iterable(flow_links), dtype=np.intp, count=int(counts.sum())
    )
    if inc_link.size and (inc_link.min() < 0 or inc_link.max() >= capacity.size):
        raise ValueError(f"link id out of range [0, {capacity.size}) in flow_links")
    inc_flow = np.repeat(np.arange(n_flows, dtype=np.intp), counts)
    links_used, inc_local = np.unique(inc_link, return_inverse=True)
    return solve_incidence(inc_flow, inc_local.reshape(-1), n_flows, capacity[links_used], caps)


def _caps_array(max_rate_Bps: npt.ArrayLike | float | None, n_flows: int) -> FloatArray:
    if max_rate_Bps is None:
        return np.full(n_flows, np.inf)
    caps = np.asarray(max_rate_Bps, dtype=np.float64)
    if caps.ndim == 0:
        caps = np.full(n_flows, float(caps))
    if caps.shape != (n_flows,):
        raise ValueError(f"max_rate_Bps has shape {caps.shape}, expected ({n_flows},)")
    if np.isnan(caps).any() or (caps < 0).any():
        raise ValueError("max_rate_Bps must be >= 0 and not NaN")
    return caps


def solve_incidence(
    inc_flow: IntArray,
    inc_link: IntArray,
    n_flows: int,
    capacity_Bps: FloatArray,
    max_rate_Bps: FloatArray,
    weight: FloatArray | None = None,
) -> FloatArray:
    """Progressive filling on a flattened incidence (the core of :func:`max_min_rates`).

    Args:
        inc_flow: flow index (``0..n_flows-1``) of each incidence.
        inc_link: link index (``0..len(capacity_Bps)-1``) of each incidence.
        n_flows: number of flows.
        capacity_Bps: capacity per link index, B/s (``>= 0``).
        max_rate_Bps: cap per flow, B/s (``>= 0``, ``inf`` = uncapped).
        weight: per flow, how many identical flows it stands for (``None``: 1 each). A flow of
            weight ``m`` loads each of its links ``m`` times its rate; its rate is that of
            each of the ``m`` flows, which max-min fairness gives equal rates (they are
            interchangeable, and the allocation is unique).

    Returns:
        rates per flow, B/s. Inputs are not validated here (callers do) and not modified.
    """
    rates = np.zeros(n_flows, dtype=np.float64)
    n_links = capacity_Bps.size
    has_link = np.bincount(inc_flow, minlength=n_flows) > 0
    rates[~has_link] = max_rate_Bps[~has_link]
    remaining = capacity_Bps.astype(np.float64, copy=True)
    active = has_link.copy()
    fl, ln = inc_flow, inc_link
    share = np.empty(n_links, dtype=np.float64)
    flow_link_min = np.empty(n_flows, dtype=np.float64)
    link_nbr_min = np.empty(n_links, dtype=np.float64)
    wt = None if weight is None else weight[fl]
    while fl.size:
        # Fair share of every link's remaining capacity among its unfrozen flows.
        if wt is None:
            count = np.bincount(ln, minlength=n_links)
        else:
            count = np.bincount(ln, weights=wt, minlength=n_links)
        share.fill(np.inf)
        np.divide(remaining, count, out=share, where=count > 0)
        share_inc = share[ln]
        # Per flow: the smallest share on its path, and that capped by its own limit.
        flow_link_min.fill(np.inf)
        np.minimum.at(flow_link_min, fl, share_inc)
        flow_min = np.minimum(flow_link_min, max_rate_Bps)
        # Per link: the smallest flow_min among its flows (covers every neighbouring link).
        link_nbr_min.fill(np.inf)
        fmin_inc = flow_min[fl]
        np.minimum.at(link_nbr_min, ln, fmin_inc)
        # A link whose share is no larger than any neighbour's share or any of its flows' caps
        # is a bottleneck now: shares only rise as other flows freeze, so all its flows freeze
        # at its share. Likewise a flow whose cap is below every share on its path.
        bottleneck = share <= link_nbr_min * (1.0 + TIE_RTOL)
        frozen_inc = bottleneck[ln]
        frozen = np.zeros(n_flows, dtype=bool)
        frozen[fl[frozen_inc]] = True
        frozen |= active & (max_rate_Bps <= flow_link_min * (1.0 + TIE_RTOL))
        active &= ~frozen
        frozen_inc = frozen[fl]
        if not frozen_inc.any():  # only infinite shares and no caps are left
            rates[fl] = np.inf
            break
        rates[frozen] = flow_min[frozen]
        used = rates[fl[frozen_inc]]
        if wt is not None:
            used = used * wt[frozen_inc]
        with np.errstate(invalid="ignore"):  # inf - inf on links whose flows all froze at inf
            remaining -= np.bincount(ln[frozen_inc], weights=used, minlength=n_links)
        np.maximum(remaining, 0.0, out=remaining)
        keep = ~frozen_inc
        fl, ln = fl[keep], ln[keep]
        if wt is not None:
            wt = wt[keep]
    return rates
