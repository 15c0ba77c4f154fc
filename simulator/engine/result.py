"""The outcome of a simulation: :class:`StepResult`.

Definitions (see also :mod:`simulator.engine.breakdown` and docs/decisions.md):

* ``makespan_s``: end of the last op of any simulated rank (the programs all start at 0).
* ``step_time_s = makespan_s / steps_per_program``.
* The breakdown (``compute_s``, ``comm_s``, ``exposed_comm_s``, ``bubble_s``) is that of the
  **critical rank**: the simulated rank whose last op ends last (ties: the lowest rank), over
  the window ``[0, makespan_s]``, divided by ``steps_per_program``. For it,
  ``step_time_s == compute_s + exposed_comm_s + bubble_s``. The breakdown of every simulated
  rank is in :attr:`StepResult.ranks` (same definitions, same window).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulator.collectives.transport import Transport
from simulator.core.arrays import FloatArray, IntArray
from simulator.core.ir import Compute, Workload
from simulator.core.jsonvalue import JsonObject, plain
from simulator.engine.breakdown import Breakdown
from simulator.engine.intervals import Union, breakdown_of, exposed, union
from simulator.engine.isolation import Isolation
from simulator.engine.records import (
    LINK_COLUMNS,
    OP_COLUMNS,
    LinkColumn,
    OpColumn,
    OpTimes,
    flows_table,
    link_columns,
)
from simulator.engine.records import op_columns as make_op_columns
from simulator.engine.streams import Plan
from simulator.engine.symmetry import Copies
from simulator.network import FlowRecord

if TYPE_CHECKING:
    import pandas as pd


@dataclass(slots=True)
class StepResult:
    """Step time, its breakdown, and per-op / per-flow / per-link tables.

    All ``*_s`` scalars are seconds **per training step**. Tables hold simulated time of the
    whole run (``steps_per_program`` steps).

    Attributes:
        step_time_s: makespan / steps_per_program.
        compute_s, comm_s, exposed_comm_s, bubble_s: breakdown of the critical rank.
        makespan_s: simulated time of the whole run.
        steps_per_program: training steps the programs represent.
        critical_rank: rank whose breakdown is reported.
        comm_by_category_s: critical rank's communication time per op category (union of
            that category's intervals; categories may overlap, so these need not add up).
        exposed_comm_by_category_s: per category, its communication not under compute.
        world: ranks in the job; simulated_ranks: ranks with a program.
        backend, fidelity: what the collectives ran with.
        ranks: per simulated rank ``rank, end_s, compute_s, comm_s, exposed_comm_s, bubble_s``
            (per step).
        links: per directed link (see :func:`simulator.engine.records.links_table`).
        metadata: the workload's metadata.

    ``ranks`` and ``links`` are pandas tables built on first use from the columns kept here
    (``run --json`` needs neither, nor pandas: :meth:`busiest_links_json` reads the columns).
    """

    step_time_s: float
    compute_s: float
    comm_s: float
    exposed_comm_s: float
    bubble_s: float
    makespan_s: float
    steps_per_program: int
    critical_rank: int
    comm_by_category_s: dict[str, float]
    exposed_comm_by_category_s: dict[str, float]
    world: int
    simulated_ranks: list[int]
    backend: str
    fidelity: str
    _rank_columns: dict[str, list[int] | list[float]]
    _link_columns: dict[str, LinkColumn]
    metadata: dict[str, object] = field(default_factory=dict)
    _plan: Plan | None = None
    _times: OpTimes | None = None
    _flow_records: list[FlowRecord] = field(default_factory=list)
    _link_timeline: tuple[FloatArray, IntArray, FloatArray] | None = None
    _isolation: Isolation | None = None
    _copies: Copies | None = None
    _link_group: IntArray | None = None
    _ops: pd.DataFrame | None = None
    _op_columns: dict[str, OpColumn] | None = None
    _flows: pd.DataFrame | None = None
    _ranks: pd.DataFrame | None = None
    _links: pd.DataFrame | None = None
    _class_timeline: tuple[FloatArray, IntArray, FloatArray] | None = None
    _class_labels: tuple[str, ...] = ()
    _class_capacity_Bps: FloatArray | None = None
    _records_merged: bool = False
    _timeline_merged: bool = False
    _class_merged: bool = False

    @property
    def ranks(self) -> pd.DataFrame:
        """Per simulated rank: its end and its breakdown, per step (columns ``rank, end_s,
        compute_s, comm_s, exposed_comm_s, bubble_s``)."""
        if self._ranks is None:
            import pandas as pd

            self._ranks = pd.DataFrame(self._rank_columns)
        return self._ranks

    @property
    def links(self) -> pd.DataFrame:
        """Per directed link (see :func:`simulator.engine.records.links_table`)."""
        if self._links is None:
            import pandas as pd

            self._links = pd.DataFrame(self._link_columns, columns=list(LINK_COLUMNS))
        return self._links

    @property
    def ops(self) -> pd.DataFrame:
        """One row per op of every simulated rank (see :data:`records.OP_COLUMNS`)."""
        if self._ops is None:
            import pandas as pd

            self._ops = pd.DataFrame(self.op_columns, columns=list(OP_COLUMNS))
        return self._ops

    @property
    def op_columns(self) -> dict[str, OpColumn]:
        """The columns of :attr:`ops` without pandas (:func:`records.op_columns`)."""
        if self._op_columns is None:
            assert self._plan is not None and self._times is not None
            self._op_columns = make_op_columns(self._plan, self._times)
        return self._op_columns

    @property
    def rank_columns(self) -> dict[str, list[int] | list[float]]:
        """The columns of :attr:`ranks` without pandas."""
        return self._rank_columns

    @property
    def link_columns(self) -> dict[str, LinkColumn]:
        """The columns of :attr:`links` without pandas (:data:`records.LINK_COLUMNS`)."""
        return self._link_columns

    @property
    def flows(self) -> pd.DataFrame:
        """One row per network flow (empty when simulated with ``record=False``)."""
        if self._flows is None:
            self._flows = flows_table(self.flow_records)
        return self._flows

    @property
    def flow_records(self) -> list[FlowRecord]:
        """Raw flow records (``start_s, end_s, size_B, links, tag, src, dst, latency_s``),
        in order of start time; includes the replays of isolated collectives. Empty unless
        simulated with ``record=True`` (``"timelines"`` keeps none)."""
        if not self._records_merged:
            self._records_merged = True
            if self._isolation is not None:
                recs = self._flow_records + self._isolation.records()
                recs.sort(key=lambda r: r.start_s)  # stable: ties keep fabric order first
                self._flow_records = recs
        return self._flow_records

    @property
    def link_timeline(self) -> tuple[FloatArray, IntArray, FloatArray] | None:
        """The fabric's per-link load changes ``(time_s, link, load_Bps)`` (piecewise
        constant, time-ordered), or None when simulated with ``record=False``."""
        if not self._timeline_merged:
            self._timeline_merged = True
            if self._isolation is not None and self._link_timeline is not None:
                self._link_timeline = _merge_rows(self._link_timeline, self._isolation.timeline())
            if self._copies and self._link_timeline is not None:
                tl = self._link_timeline
                self._link_timeline = _merge_rows(tl, self._copies.rows(tl))
        return self._link_timeline

    @property
    def has_link_timeline(self) -> bool:
        """Whether the per-link load timeline was kept (``record=True``), without merging it."""
        return self._link_timeline is not None

    def link_timeline_of(
        self, link_ids: list[int]
    ) -> tuple[FloatArray, IntArray, FloatArray] | None:
        """:attr:`link_timeline` restricted to ``link_ids`` (without building the rest)."""
        if self._copies and not self._timeline_merged:
            need = np.union1d(np.asarray(link_ids, dtype=np.intp), self._copies.sources(link_ids))
            base = self._own_timeline_of(need.tolist())
            if base is None:
                return None
            keep = np.isin(base[1], link_ids)
            own = (base[0][keep], base[1][keep], base[2][keep])
            return _merge_rows(own, self._copies.rows(base, only=link_ids))
        return self._own_timeline_of(link_ids)

    def _own_timeline_of(
        self, link_ids: list[int]
    ) -> tuple[FloatArray, IntArray, FloatArray] | None:
        """Rows of ``link_ids`` from the fabric and the isolated replays (and from the copies
        once :attr:`link_timeline` has merged them in)."""
        tl = self._link_timeline
        if tl is None:
            return None
        keep = np.isin(tl[1], link_ids)
        own = (tl[0][keep], tl[1][keep], tl[2][keep])
        if self._timeline_merged or self._isolation is None:
            return own
        return _merge_rows(own, self._isolation.timeline(np.asarray(link_ids, dtype=np.intp)))

    @property
    def link_class_labels(self) -> tuple[str, ...]:
        """Names of the link classes (``"infiniband t1->t2"``, see
        :mod:`simulator.topology.linkclass`); empty when simulated with ``record=False``."""
        return self._class_labels

    @property
    def link_class_capacity_Bps(self) -> FloatArray:
        """Summed capacity of each link class's links, B/s (utilisation = load / this)."""
        return self._class_capacity_Bps if self._class_capacity_Bps is not None else np.zeros(0)

    @property
    def link_class_timeline(self) -> tuple[FloatArray, IntArray, FloatArray] | None:
        """Summed load of each link class ``(time_s, class, load_Bps)``: piecewise constant,
        time-ordered, every class at 0 before its first row; replays of isolated collectives
        included. None when simulated with ``record=False``."""
        if self._class_timeline is None:
            return None
        if not self._class_merged:
            self._class_merged = True
            t, c, d = self._class_timeline
            if self._isolation is not None:
                t, c, d = _merge_rows((t, c, d), self._isolation.class_timeline())
            if self._copies and self._link_group is not None:
                src = np.unique(np.concatenate([src for src, _ in self._copies.maps]))
                base = self._own_timeline_of(src.tolist())
                if base is not None:
                    rows = self._copies.class_rows(base, self._link_group)
                    t, c, d = _merge_rows((t, c, d), rows)
            self._class_timeline = (t, c, _levels(c, d, len(self._class_labels)))
        return self._class_timeline

    def busiest_links(self, k: int = 5) -> pd.DataFrame:
        """The ``k`` links with the highest mean utilisation (ties: lower link id first)."""
        df = self.links
        order = np.lexsort((df["link"].to_numpy(), -df["utilisation"].to_numpy()))
        return df.iloc[order[:k]].reset_index(drop=True)

    def to_dict(self, k_links: int = 5) -> JsonObject:
        """JSON-ready summary: scalars, per-category comm and the ``k_links`` busiest links."""
        return {
            "step_time_s": self.step_time_s,
            "compute_s": self.compute_s,
            "comm_s": self.comm_s,
            "exposed_comm_s": self.exposed_comm_s,
            "bubble_s": self.bubble_s,
            "makespan_s": self.makespan_s,
            "steps_per_program": self.steps_per_program,
            "critical_rank": self.critical_rank,
            "comm_by_category_s": dict(self.comm_by_category_s),
            "exposed_comm_by_category_s": dict(self.exposed_comm_by_category_s),
            "world": self.world,
            "simulated_ranks": len(self.simulated_ranks),
            "backend": self.backend,
            "fidelity": self.fidelity,
            "busiest_links": self.busiest_links_json(k_links),
            "metadata": self.metadata_json(),
        }

    def busiest_links_json(self, k: int = 5) -> list[JsonObject]:
        """:meth:`busiest_links` as JSON rows (numpy scalars made plain), read from the
        columns: the same rows and values without building the table."""
        cols = self._link_columns
        link = np.asarray(cols["link"])
        order = np.lexsort((link, -np.asarray(cols["utilisation"])))[: max(k, 0)]
        return [{c: plain(_native(cols[c][i])) for c in LINK_COLUMNS} for i in order.tolist()]

    def metadata_json(self) -> JsonObject:
        """``metadata`` with every value made JSON-plain (anything else as its ``str``)."""
        return {k: plain(v) for k, v in self.metadata.items()}


def build_result(  # noqa: PLR0913 (the proven copies are one more keyword)
    *,
    workload: Workload,
    plan: Plan,
    times: OpTimes,
    transport: Transport,
    isolation: Isolation | None = None,
    copies: Copies | None = None,
    backend: str,
    fidelity: str,
    record: bool,
) -> StepResult:
    """Assemble a :class:`StepResult` from the runner's times and the transport's counters
    (with the replayed isolated collectives' added).
    """
    steps = max(int(workload.steps_per_program), 1)
    makespan = max(times.end_s, default=0.0)
    ops = _OpArrays.of(plan, times)
    last_end: dict[int, float] = {}
    unions: dict[int, tuple[Union, Union]] = {}
    for r in plan.program_ranks:
        mine = ops.rank == r
        # the largest end above 0 (NaN skipped), as a running "if end > last" finds it
        last_end[r] = float(np.fmax.reduce(ops.end[mine], initial=0.0))
        cmp, com = mine & ops.compute, mine & ~ops.compute
        unions[r] = (union(ops.start[cmp], ops.end[cmp]), union(ops.start[com], ops.end[com]))

    per_rank: dict[int, Breakdown] = {
        r: breakdown_of(*unions[r], makespan).scaled(1.0 / steps) for r in plan.program_ranks
    }
    critical = min(plan.program_ranks, key=lambda r: (-last_end[r], r)) if per_rank else -1
    crit = per_rank.get(critical, Breakdown(0.0, 0.0, 0.0, 0.0, 0.0))

    crit_compute = unions[critical][0] if per_rank else union(np.zeros(0), np.zeros(0))
    comm_by_cat, exposed_by_cat = _by_category(plan, ops, critical, crit_compute, steps)

    rank_columns = _rank_columns(per_rank, last_end)
    fabric = transport.fabric
    bytes_B, busy_s, peak = _link_stats(transport, isolation, copies)
    links = link_columns(transport.ctx.topology, bytes_B, busy_s, peak, makespan, steps)
    classes = transport.ctx.link_classes
    return StepResult(
        step_time_s=makespan / steps,
        compute_s=crit.compute_s,
        comm_s=crit.comm_s,
        exposed_comm_s=crit.exposed_comm_s,
        bubble_s=crit.bubble_s,
        makespan_s=makespan,
        steps_per_program=steps,
        critical_rank=critical,
        comm_by_category_s=comm_by_cat,
        exposed_comm_by_category_s=exposed_by_cat,
        world=workload.world_size,
        simulated_ranks=list(plan.program_ranks),
        backend=backend,
        fidelity=fidelity,
        _rank_columns=rank_columns,
        _link_columns=links,
        metadata=dict(workload.metadata),
        _plan=plan,
        _times=times,
        _flow_records=list(fabric.records) if record else [],
        _link_timeline=fabric.timeline_arrays() if record else None,
        _isolation=isolation if record and isolation is not None and isolation.uses else None,
        _copies=copies if record and copies else None,
        _link_group=transport.ctx.link_classes.of_link if record and copies else None,
        _class_timeline=fabric.group_timeline_arrays() if record else None,
        _class_labels=classes.labels if record else (),
        _class_capacity_Bps=classes.capacity_Bps if record else None,
    )


def _merge_rows(
    a: tuple[FloatArray, IntArray, FloatArray], b: tuple[FloatArray, IntArray, FloatArray]
) -> tuple[FloatArray, IntArray, FloatArray]:
    """Rows of ``a`` then ``b``, stably sorted by time (``a`` first at equal times)."""
    if not len(b[0]):
        return a
    t, lk, v = (np.concatenate(pair) for pair in zip(a, b, strict=True))
    order = np.argsort(t, kind="stable")
    return t[order], lk[order], v[order]


def _levels(group: IntArray, delta: FloatArray, n: int) -> FloatArray:
    """Per row, the running sum of ``delta`` within its ``group`` (rows in time order)."""
    out = np.zeros(delta.size)
    for g in range(n):
        rows = np.flatnonzero(group == g)
        if rows.size:
            out[rows] = np.maximum(np.cumsum(delta[rows]), 0.0)  # no negative round-off
    return out


def _by_category(
    plan: Plan, ops: _OpArrays, critical: int, compute: Union, steps: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Communication and exposed communication time per category on ``critical``, per step."""
    by_cat: dict[str, list[int]] = defaultdict(list)
    for g in np.flatnonzero((ops.rank == critical) & ~ops.compute).tolist():
        by_cat[plan.ops[g].category or "other"].append(g)
    cats = {c: union(ops.start[gs], ops.end[gs]) for c, gs in sorted(by_cat.items())}
    comm_by_cat = {c: u.measure() / steps for c, u in cats.items()}
    exposed_by_cat = {c: exposed(u, compute) / steps for c, u in cats.items()}
    return comm_by_cat, exposed_by_cat


@dataclass(frozen=True, slots=True)
class _OpArrays:
    """Per op (global index): start and end (s), rank, and whether it is a compute op."""

    start: FloatArray
    end: FloatArray
    rank: IntArray
    compute: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, plan: Plan, times: OpTimes) -> _OpArrays:
        n = len(plan)
        return cls(
            start=np.asarray(times.start_s, dtype=float),
            end=np.asarray(times.end_s, dtype=float),
            rank=np.asarray(plan.rank, dtype=np.intp),
            compute=np.fromiter((isinstance(op, Compute) for op in plan.ops), bool, n),
        )


def _rank_columns(
    per_rank: dict[int, Breakdown], last_end: dict[int, float]
) -> dict[str, list[int] | list[float]]:
    """The columns of :attr:`StepResult.ranks`: per simulated rank its end and its breakdown
    (per step)."""
    return {
        "rank": list(per_rank),
        "end_s": [last_end[r] for r in per_rank],
        "compute_s": [b.compute_s for b in per_rank.values()],
        "comm_s": [b.comm_s for b in per_rank.values()],
        "exposed_comm_s": [b.exposed_comm_s for b in per_rank.values()],
        "bubble_s": [b.bubble_s for b in per_rank.values()],
    }


def _native(v: object) -> object:
    """A numpy scalar as the Python number pandas' ``to_dict`` gives; anything else as is."""
    return v.item() if isinstance(v, np.generic) else v


def _link_stats(
    transport: Transport, isolation: Isolation | None, copies: Copies | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bytes, busy seconds and peak utilisation per link id, replayed collectives and the
    proven copies' links included."""
    fabric = transport.fabric
    bytes_B = transport.link_bytes_B()
    busy_s = np.asarray(fabric.link_busy_s, dtype=float)
    peak = np.asarray(fabric.link_peak_util, dtype=float)
    if isolation is not None:
        bytes_B, busy_s, peak = isolation.add_link_stats(bytes_B, busy_s, peak)
    if copies:
        bytes_B, busy_s, peak = copies.link_stats(bytes_B, busy_s, peak)
    return bytes_B, busy_s, peak
