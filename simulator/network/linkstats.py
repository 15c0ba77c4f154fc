"""Per-link statistics of a fabric run: bytes, busy time, peak utilisation, load timeline.

Kept separate from the rate bookkeeping: the fabric reports *events* (a link gains or loses its
last draining flow, a component gets new loads, a flow completes) and this class turns them into
numbers. Plain Python lists for the per-event scalar updates (cheaper than numpy item access),
numpy arrays for what is read out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class LinkStats:
    """Counters per link id.

    Args:
        capacity_Bps: capacity per link, B/s (for utilisation).
        record_timeline: keep every load change for :meth:`timeline_arrays`.
        link_group: optional group index (``0..G-1``) per link, e.g. its link class and tier:
            the summed load of every group is then kept as it changes
            (:meth:`group_timeline_arrays`), a few rows per settle whatever the flow count.
    """

    def __init__(
        self,
        capacity_Bps: FloatArray,
        record_timeline: bool,
        link_group: IntArray | None = None,
    ) -> None:
        n = int(capacity_Bps.size)
        self._cap = capacity_Bps
        self._count = [0] * n
        self._busy_since = [0.0] * n
        self._busy_s = [0.0] * n
        self._bytes_B = [0.0] * n
        self._peak_util = np.zeros(n)
        self._record_timeline = record_timeline
        self._tl_time: list[float] = []
        self._tl_links: list[IntArray] = []
        self._tl_load: list[FloatArray] = []
        self._group = link_group
        self._n_groups = int(link_group.max()) + 1 if link_group is not None and n else 0
        self._cur = np.zeros(n) if link_group is not None else None
        self._gt_time: list[float] = []
        self._gt_group: list[IntArray] = []
        self._gt_delta: list[FloatArray] = []

    def occupy(self, link: int, t: float) -> bool:
        """One more draining flow on ``link`` from time ``t``; True if the link was idle."""
        c = self._count[link]
        self._count[link] = c + 1
        if c == 0:
            self._busy_since[link] = t
            return True
        return False

    def release(self, link: int, t: float) -> bool:
        """One flow fewer on ``link`` at time ``t``; True if the link is now idle."""
        c = self._count[link] - 1
        self._count[link] = c
        if c == 0:
            self._busy_s[link] += t - self._busy_since[link]
            return True
        return False

    def occupy_all(self, links: tuple[int, ...], t: float) -> None:
        """:meth:`occupy` for each of ``links`` (distinct ids), in one call."""
        count, since = self._count, self._busy_since
        for link in links:
            c = count[link]
            count[link] = c + 1
            if c == 0:
                since[link] = t

    def release_all(self, links: tuple[int, ...], t: float) -> list[int]:
        """:meth:`release` for each of ``links`` (distinct ids); the links now idle."""
        count, since, busy = self._count, self._busy_since, self._busy_s
        idle = []
        for link in links:
            c = count[link] - 1
            count[link] = c
            if c == 0:
                busy[link] += t - since[link]
                idle.append(link)
        return idle

    def add_bytes(self, links: tuple[int, ...], size_B: float) -> None:
        """A flow of ``size_B`` bytes completed over ``links`` (a repeated link counts twice)."""
        b = self._bytes_B
        for link in links:
            b[link] += size_B

    def loads(self, t: float, links: IntArray, load_Bps: FloatArray) -> None:
        """From time ``t``, ``links`` (distinct ids) carry ``load_Bps``."""
        if links.size == 0:
            return
        util = load_Bps / self._cap[links]
        self._peak_util[links] = np.maximum(self._peak_util[links], util)
        if self._cur is not None:
            self._group_change(t, links, load_Bps)
        if self._record_timeline:
            self._tl_time.append(t)
            self._tl_links.append(links)
            self._tl_load.append(load_Bps)

    def idle(self, t: float, links: list[int]) -> None:
        """From time ``t``, ``links`` carry nothing (timeline rows only)."""
        if self._cur is not None and links:
            ids = np.array(links, dtype=np.intp)
            self._group_change(t, ids, np.zeros(ids.size))
        if self._record_timeline and links:
            self._tl_time.append(t)
            self._tl_links.append(np.array(sorted(links), dtype=np.intp))
            self._tl_load.append(np.zeros(len(links)))

    def _group_change(self, t: float, links: IntArray, load_Bps: FloatArray) -> None:
        """Record how the groups' summed loads change when ``links`` move to ``load_Bps``."""
        assert self._cur is not None and self._group is not None
        delta = load_Bps - self._cur[links]
        self._cur[links] = load_Bps
        per_group = np.bincount(self._group[links], weights=delta, minlength=self._n_groups)
        changed = np.flatnonzero(per_group)
        if changed.size:
            self._gt_time.append(t)
            self._gt_group.append(changed)
            self._gt_delta.append(per_group[changed].astype(np.float64, copy=False))

    # ------------------------------------------------------------------ read-out
    def bytes_B(self) -> FloatArray:
        """Bytes of completed flows per link."""
        return np.array(self._bytes_B)

    def busy_s(self, now: float) -> FloatArray:
        """Time with at least one draining flow, per link, up to ``now``."""
        busy = np.array(self._busy_s)
        count = np.array(self._count)
        on = np.flatnonzero(count > 0)
        if on.size:
            busy[on] += now - np.array(self._busy_since)[on]
        return busy

    def peak_util(self) -> FloatArray:
        """Highest load / capacity seen per link."""
        return self._peak_util.copy()

    def timeline_arrays(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """``(time_s, link, load_Bps)`` rows in time order (empty unless recording)."""
        if not self._tl_time:
            return np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0)
        sizes = [a.size for a in self._tl_links]
        return (
            np.repeat(np.array(self._tl_time), sizes),
            np.concatenate(self._tl_links),
            np.concatenate(self._tl_load),
        )

    def group_timeline_arrays(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """``(time_s, group, delta_Bps)`` rows in time order: from ``time_s`` on, the summed
        load of ``group`` changes by ``delta_Bps`` (empty without ``link_group``)."""
        if not self._gt_time:
            return np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0)
        sizes = [a.size for a in self._gt_group]
        return (
            np.repeat(np.array(self._gt_time), sizes),
            np.concatenate(self._gt_group),
            np.concatenate(self._gt_delta),
        )
