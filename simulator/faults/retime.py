"""Re-time compute over a fixed communication structure: many perturbed steps in one pass.

One exact simulation of the unperturbed workload gives every op's place in the dependency graph
and every communication op's duration (collective: rendezvous to completion; send/recv: from
the pair's rendezvous to its own end). A perturbed step is then a longest-path (max-plus)
computation over the same graph: a compute op starts when its predecessors are done and lasts
its base time x the rank's factor (+ a stall on the rank's first compute op); a collective
starts when the last member of its group is ready; a send/recv pair starts when both sides are
ready; communication lasts what it lasted in the exact run.

**When this is exact.** It equals the event simulation whenever every communication op's
duration does not depend on when it starts, i.e. no two transfers that can overlap in time
share a link (each is alone on its links: isolated collectives, rail-local sends) and the
backend has no concurrency limit. Then the event simulation is itself this max-plus recursion.
Where transfers do share links, shifted start times change their overlap and thus their
duration, which this mode does not see: it keeps the unperturbed durations. The exact mode
(:func:`simulator.faults.steps.run_steps` with ``exact=True``) simulates every step and is the
test oracle (tests/test_faults_steps.py compares both).

**Folded jobs.** A representative program stands for the ranks ``R + o`` for every *lane
offset* ``o`` (the TP ranks of every data-parallel replica). Each lane gets its own factors; a
collective's groups are the translates of its group over the lanes; a send of lane ``o`` meets
the receive of lane ``o`` (pipeline neighbours are translates of each other). All lanes and
all steps are one numpy array per op, so a step costs a handful of vector operations per op.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.core.ir import Collective, Compute, Recv, Send, Workload
from simulator.engine.streams import Plan, build_plan
from simulator.workload.strategies.layout import Layout

_STEP = re.compile(r"\.s(\d+)(?:\.|$)")


def op_step(name: str) -> int:
    """The step within a multi-step program an op belongs to (``fwd.s3`` -> 3; default 0)."""
    m = _STEP.search(name)
    return int(m.group(1)) if m else 0


def lane_offsets(workload: Workload) -> list[int]:
    """Offsets ``o`` such that program rank ``R`` stands for ranks ``R + o`` (``[0]`` unfolded).

    Raises:
        ValueError: the representatives and offsets do not cover the job once.
    """
    md = workload.metadata
    world = workload.world_size
    if len(workload.programs) == world:
        return [0]
    if not md.get("folded"):
        raise ValueError("programs cover part of the job but the workload is not folded")
    tp, pp, dp = (int(md[k]) for k in ("tp", "pp", "dp"))  # type: ignore[call-overload]
    cp = int(md.get("cp", 1))  # type: ignore[call-overload]
    lay = Layout(tp=tp, pp=pp, dp=dp, cp=cp)  # rank(0, 0, 0) is 0: the offsets are ranks
    offs = sorted(lay.rank(t, 0, d) for d in range(dp) for t in range(tp))
    covered = sorted(p.rank + o for p in workload.programs for o in offs)
    if covered != list(range(world)):
        raise ValueError("folded programs and lane offsets do not cover the job once")
    return offs


@dataclass(frozen=True)
class BaseRun:
    """What one exact run fixes: the plan, compute base times, communication durations."""

    plan: Plan
    compute_s: np.ndarray  # per op: base compute seconds (nan for communication)
    comm_s: np.ndarray  # per op: communication duration (nan for compute)
    start_s: np.ndarray  # per op: start in the exact run (orders the re-timing pass)
    offsets: list[int]
    steps_per_program: int


def base_run(workload: Workload, topology: Any, result: Any, compute_model: Any) -> BaseRun:
    """Read a :class:`BaseRun` from the exact result of ``workload`` on ``topology``."""
    plan = build_plan(workload, topology.num_ranks)
    n = len(plan)
    comp = np.full(n, math.nan)
    comm = np.full(n, math.nan)
    begin = np.zeros(n)
    ops = result.ops
    start = dict(zip(zip(ops["rank"], ops["id"], strict=True), ops["start_s"], strict=True))
    end = dict(zip(zip(ops["rank"], ops["id"], strict=True), ops["end_s"], strict=True))
    for g, op in enumerate(plan.ops):
        key = (plan.rank[g], op.id)
        begin[g] = float(start[key])
        if isinstance(op, Compute):
            comp[g] = (
                op.duration_s if op.duration_s is not None else compute_model(op, plan.rank[g])
            )
        else:
            comm[g] = float(end[key]) - float(start[key])
    return BaseRun(plan, comp, comm, begin, lane_offsets(workload), workload.steps_per_program)


def _units(plan: Plan, start_s: np.ndarray) -> tuple[list[list[int]], list[int]]:  # noqa: C901
    """Rendezvous units (a collective instance, a matched send/recv, one compute op) in an
    order where every unit comes after the units of all its members' predecessors, and
    otherwise in order of their start in the exact run (so that the values kept alive are
    those in flight then, not every micro-batch's); and the unit of every op."""
    n = len(plan)
    unit_of = [-1] * n
    units: list[list[int]] = []
    coll: dict[Any, int] = {}
    sends: dict[tuple[int, int, int], deque[int]] = {}
    recvs: dict[tuple[int, int, int], deque[int]] = {}
    progs = set(plan.program_ranks)
    for g, op in enumerate(plan.ops):
        if isinstance(op, Collective):
            key = plan.coll_key[g]
            u = coll.get(key)
            if u is None:
                u = coll[key] = len(units)
                units.append([])
            units[u].append(g)
            unit_of[g] = u
            continue
        if isinstance(op, Send | Recv):
            src, dst = (plan.rank[g], op.peer) if isinstance(op, Send) else (op.peer, plan.rank[g])
            other = op.peer
            k = (src, dst, op.tag)
            mine, theirs = (sends, recvs) if isinstance(op, Send) else (recvs, sends)
            q = theirs.get(k)
            if other in progs and q:
                u = unit_of[q.popleft()]
                units[u].append(g)
            elif other in progs:
                u = len(units)
                units.append([g])
                mine.setdefault(k, deque()).append(g)
            else:
                u = len(units)
                units.append([g])
            unit_of[g] = u
            continue
        unit_of[g] = len(units)
        units.append([g])
    # Kahn over units
    preds_u: list[set[int]] = [set() for _ in units]
    for g in range(n):
        for d in plan.dependents[g]:
            if unit_of[d] != unit_of[g]:
                preds_u[unit_of[d]].add(unit_of[g])
    succ: list[list[int]] = [[] for _ in units]
    indeg = [len(p) for p in preds_u]
    for u, ps in enumerate(preds_u):
        for p in ps:
            succ[p].append(u)
    order: list[int] = []
    when = [float(start_s[members[0]]) for members in units]
    ready = [(when[u], u) for u in range(len(units)) if indeg[u] == 0]
    heapq.heapify(ready)
    while ready:
        _, u = heapq.heappop(ready)
        order.append(u)
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(ready, (when[v], v))
    if len(order) != len(units):
        raise ValueError("the workload's rendezvous form a cycle; it cannot be re-timed")
    return [units[u] for u in order], unit_of


@dataclass(frozen=True)
class _Reduce:
    """How a collective's lanes reduce to its groups: stack the members' lanes (member-major),
    take ``order``, reshape to ``(groups, size)``; ``gid`` maps each stacked lane to its group."""

    order: np.ndarray
    gid: np.ndarray
    groups: int
    size: int


def _groups(plan: Plan, members: list[int], offsets: np.ndarray) -> _Reduce:
    """The lanes of ``members`` split into translates of the op's group."""
    op = plan.ops[members[0]]
    assert isinstance(op, Collective)
    rel = [r - min(op.group) for r in sorted(op.group)]
    lanes = [int(plan.rank[g] + o) for g in members for o in offsets]
    actual = set(lanes)
    gid: dict[int, int] = {}
    for x in sorted(actual):
        if x in gid:
            continue
        grp = [x + r for r in rel]  # the group translated so that its smallest rank is x
        if any(y not in actual or y in gid for y in grp):
            raise ValueError(
                f"collective {op.name}: lanes do not split into translates of {op.group}"
            )
        k = len(gid) // len(rel)
        for y in grp:
            gid[y] = k
    ids = np.array([gid[x] for x in lanes])
    order = np.argsort(ids, kind="stable")
    return _Reduce(order, ids, len(actual) // len(rel), len(rel))


def retime(base: BaseRun, factor: np.ndarray, stall_s: np.ndarray) -> np.ndarray:
    """Step times, ``(runs, steps_per_program)``: end of each program step in each run.

    Args:
        base: the fixed structure.
        factor: ``(runs * steps_per_program, world)`` compute factors (step-major).
        stall_s: the same shape, seconds added to a rank's first compute op of the step.

    Returns:
        ``ends[run, k]``: time at which the last op of program step ``k`` of run ``run``
        finished (runs start at 0).
    """
    p = _Pass(base, factor, stall_s)
    for members in _units(base.plan, base.start_s)[0]:
        op = base.plan.ops[members[0]]
        if isinstance(op, Compute):
            p.compute(members[0])
        elif isinstance(op, Collective):
            p.collective(members, op)
        else:
            p.p2p(members)
    return p.ends


class _Pass:
    """One max-plus pass: op end times as ``(lanes, runs)`` arrays, freed once consumed."""

    def __init__(self, base: BaseRun, factor: np.ndarray, stall_s: np.ndarray) -> None:
        plan = base.plan
        self.base, self.plan, self.offs = base, plan, np.array(base.offsets)
        self.spp = spp = base.steps_per_program
        self.runs = runs = factor.shape[0] // spp
        self.f = factor[: runs * spp].reshape(runs, spp, -1)
        self.st = stall_s[: runs * spp].reshape(runs, spp, -1)
        self.lanes = len(self.offs)
        self.end: dict[int, np.ndarray] = {}
        self.left = [len(d) for d in plan.dependents]
        self.preds: list[list[int]] = [[] for _ in range(len(plan))]
        for g, ds in enumerate(plan.dependents):
            for d in ds:
                self.preds[d].append(g)
        self.step_of = [op_step(op.name) for op in plan.ops]
        self.first_compute: dict[tuple[int, int], int] = {}
        for g, op in enumerate(plan.ops):
            if isinstance(op, Compute):
                self.first_compute.setdefault((plan.rank[g], self.step_of[g]), g)
        self.ends = np.zeros((runs, spp))
        self.zero = np.zeros((self.lanes, runs))
        self.gcache: dict[tuple[Any, ...], _Reduce] = {}
        self.lane_f: dict[tuple[int, int], np.ndarray] = {}
        # an op whose dependents all belong to its step ends before them: only the others
        # can end a step
        so = self.step_of
        self.last_of_step = [
            all(so[d] != so[g] for d in ds) for g, ds in enumerate(plan.dependents)
        ]

    def factors(self, rank: int, k: int) -> np.ndarray:
        hit = self.lane_f.get((rank, k))
        if hit is None:
            hit = np.ascontiguousarray(self.f[:, k, :][:, rank + self.offs].T)
            self.lane_f[(rank, k)] = hit
        return hit

    def ready(self, g: int) -> np.ndarray:
        ps = self.preds[g]
        if not ps:
            return self.zero
        r = self.end[ps[0]]
        for p in ps[1:]:
            r = np.maximum(r, self.end[p])
        return r

    def done(self, g: int, e: np.ndarray) -> None:
        self.end[g] = e
        if self.last_of_step[g]:
            k = min(self.step_of[g], self.spp - 1)
            self.ends[:, k] = np.maximum(self.ends[:, k], e.max(axis=0))
        for p in self.preds[g]:
            self.left[p] -= 1
            if self.left[p] == 0:
                del self.end[p]
        if self.left[g] == 0:
            del self.end[g]

    def compute(self, g: int) -> None:
        rank, step = self.plan.rank[g], self.step_of[g]
        k = min(step, self.spp - 1)
        e = self.ready(g) + self.base.compute_s[g] * self.factors(rank, k)
        if self.first_compute.get((rank, step)) == g:
            e = e + self.st[:, k, :][:, rank + self.offs].T
        self.done(g, e)

    def collective(self, members: list[int], op: Collective) -> None:
        key = (op.group, *(self.plan.rank[g] for g in members))
        red = self.gcache.get(key)
        if red is None:
            red = self.gcache[key] = _groups(self.plan, members, self.offs)
        rs = [self.ready(g) for g in members]
        stacked = rs[0] if len(rs) == 1 else np.concatenate(rs)
        gmax = stacked[red.order].reshape(red.groups, red.size, self.runs).max(axis=1)
        start = gmax[red.gid]
        n = self.lanes
        for i, g in enumerate(members):
            self.done(g, start[i * n : (i + 1) * n] + self.base.comm_s[g])

    def p2p(self, members: list[int]) -> None:
        start = self.ready(members[0])
        for g in members[1:]:
            start = np.maximum(start, self.ready(g))
        for g in members:
            self.done(g, start + self.base.comm_s[g])
