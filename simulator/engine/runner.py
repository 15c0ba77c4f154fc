"""The engine: run a :class:`~simulator.core.ir.Workload` on a topology, event by event.

One simpy environment and one :class:`~simulator.network.Fabric` per simulation. Ops are not
simpy processes: the runner keeps an integer counter of unfinished predecessors per op and
releases an op the moment its counter reaches zero (see :mod:`simulator.engine.streams`).
A released compute op is a wake-up on simpy's queue (:mod:`simulator.engine.wake`: a timeout
without simpy's per-event set-up, in the same order); every byte goes through the simulation's
:class:`~simulator.collectives.transport.Transport`: a collective whose rendezvous is complete
runs :meth:`~simulator.collectives.transport.Transport.collective` as one simpy process per group
(its own group plus its mirrors); a matched send/recv is
:meth:`~simulator.collectives.transport.Transport.send_recv` (one or two flows per pair, split at
the backend's send buffer). Completion callbacks release the ops that wait. Ties are broken by
simpy's ``(time, priority, insertion order)`` and insertion order follows global op indices, so
the same inputs give the same outputs bit for bit.

If the event queue runs dry with ops unfinished, :class:`~simulator.engine.errors.DeadlockError`
explains who waits for whom (:mod:`simulator.engine.deadlock`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable
from functools import partial
from typing import Literal, Protocol

import simpy
from simpy.events import NORMAL

from simulator.collectives.backend import BackendProfile
from simulator.collectives.context import SimContext
from simulator.collectives.transport import RunInfo, Transport
from simulator.core.ir import Collective, Compute, Recv, Send, Workload
from simulator.core.vocab import Fidelity
from simulator.engine.collkey import CollKey, coll_key
from simulator.engine.deadlock import explain_deadlock
from simulator.engine.errors import WorkloadError
from simulator.engine.isolation import Isolation, LoneRun, find_isolated, lone_run
from simulator.engine.records import OpTimes
from simulator.engine.result import StepResult, build_result
from simulator.engine.streams import Plan, build_plan
from simulator.engine.symmetry import Copies, find_copies
from simulator.engine.wake import Wake, scheduler, wake_after
from simulator.faults.engine import network_changes
from simulator.network import Fabric
from simulator.topology import Topology

#: ``compute_model(op, rank) -> seconds`` for :class:`Compute` ops without ``duration_s``.
ComputeModel = Callable[[Compute, int], float]


class NetworkChanges(Protocol):
    """Network faults as the engine sees them (:class:`simulator.faults.network.NetworkFaults`)."""

    @property
    def changes(self) -> bool:
        """True when the network changes during the step."""

    def at(self, t: float) -> Topology:
        """The topology in force at time ``t`` (s)."""

    def next_change(self, t: float) -> float:
        """First time after ``t`` at which the network changes (``inf``: never)."""


_COMPUTE, _COLLECTIVE, _SEND, _RECV = 0, 1, 2, 3


def simulate(  # noqa: PLR0913 (the faults hook is one more keyword)
    workload: Workload,
    topology: Topology,
    *,
    backend: BackendProfile | str = "nccl",
    fidelity: Fidelity | str = "flow",
    compute_model: ComputeModel | None = None,
    record: bool | Literal["timelines"] = True,
    chunks: int = 1,
    isolate: bool = True,
    network: NetworkChanges | None = None,
    symmetry: bool = True,
) -> StepResult:
    """Simulate one run of ``workload``'s programs on ``topology``.

    Args:
        workload: per-rank programs (all ranks, or representatives plus mirrors).
        topology: a :class:`simulator.topology.Topology`; workload ranks index its ``ranks``.
        backend: backend profile name (``"nccl"``, ``"gloo"``, a calibration file) or a loaded
            :class:`simulator.collectives.BackendProfile`; passed to the collectives.
        fidelity: ``"analytical"``, ``"flow"`` or ``"chunk"`` (see :mod:`simulator.collectives`).
        compute_model: seconds of a :class:`Compute` op that has no ``duration_s``.
        record: keep per-flow records (the ``flows`` table) and the per-link load timeline
            (for timeline counters); op times and per-link totals are always kept. With
            ``record`` the summed load of every link class and tier is kept too
            (:attr:`StepResult.link_class_timeline`). ``"timelines"``: the timelines without
            the flow records (what ``run --out`` needs, at a cost that does not grow with the
            number of flows).
        chunks: pipelining chunks per collective, passed to the transport.
        isolate: run each distinct isolated collective (one whose links no other traffic can
            use, see :mod:`simulator.engine.isolation`) once and replay it; exact, and much
            faster for tensor-parallel collectives. ``False`` runs every collective on the
            shared fabric (same results up to floating-point rounding).
        network: network faults (:mod:`simulator.faults.network`): the run starts on
            ``network.at(0)``; changes in the step go through :mod:`simulator.faults.engine`.
        symmetry: at flow fidelity without flow records, run mirrored traffic that is a
            proven copy of other mirrored traffic once (:mod:`simulator.engine.symmetry`);
            exact. ``False`` runs every copy (same results up to floating-point rounding).

    Returns:
        A :class:`StepResult`; all of its figures are per training step
        (simulated time / ``workload.steps_per_program``).

    Raises:
        WorkloadError: an op cannot run (no duration and no compute model, members of a
            collective disagree on op or size, a peer outside the job, ...).
        DeadlockError: ops are left waiting when no event is left; the message names them.
    """
    fid = _fidelity(fidelity)
    if network is not None:
        topology = network.at(0.0)
        isolate = isolate and not network.changes
    ctx = SimContext(topology, backend, ranks=workload.world)

    plan = build_plan(workload, topology.num_ranks)
    durations = _compute_durations(plan, compute_model)
    flows, record = record is True, bool(record)
    changes = network is not None and bool(network.changes)
    transport = _transport(ctx, fid, chunks, flows, record, reuse=not (flows or changes))
    env = transport.env
    iso = Isolation(isolated=find_isolated(plan, ctx) if isolate else set())
    use_copies = symmetry and fid is Fidelity.FLOW and not flows and not changes
    copies = find_copies(plan, ctx) if use_copies else Copies()
    runner = _Runner(plan, transport, durations, iso, record)
    runner.copies = copies
    runner.record_flows = flows
    if network is not None and changes:
        env.process(network_changes(runner, network))
    runner.run()
    return build_result(
        workload=workload,
        plan=plan,
        times=runner.times,
        transport=transport,
        isolation=iso,
        copies=copies,
        backend=ctx.profile.name,
        fidelity=fid.value,
        record=record,
    )


def _transport(
    ctx: SimContext, fid: Fidelity, chunks: int, flows: bool, timelines: bool, *, reuse: bool
) -> Transport:
    """A fresh environment, fabric and transport for one simulation on ``ctx``'s topology
    (``flows``: keep flow records; ``timelines``: keep the load timelines; ``reuse``: start
    the same flows again for a phase that runs again, see :class:`Transport`)."""
    env = simpy.Environment()
    groups = ctx.link_classes.of_link if timelines else None
    fabric = Fabric(
        env, ctx.topology.capacity_Bps, record=flows, record_timeline=timelines, link_group=groups
    )
    # per-link bytes: the fabric's
    return Transport(ctx, env, fabric, fid, chunks, payloads=False, reuse_flows=reuse)


def _fidelity(fidelity: Fidelity | str) -> Fidelity:
    try:
        return Fidelity(str(fidelity))
    except ValueError as exc:
        choices = ", ".join(f.value for f in Fidelity)
        raise WorkloadError(f"unknown fidelity {fidelity!r} (choose {choices})") from exc


def _compute_durations(plan: Plan, compute_model: ComputeModel | None) -> list[float]:
    """Seconds of every compute op (``nan`` for other ops); raise on a missing duration."""
    out = [math.nan] * len(plan)
    for g, op in enumerate(plan.ops):
        if not isinstance(op, Compute):
            continue
        if op.duration_s is not None:
            out[g] = float(op.duration_s)
            continue
        if compute_model is None:
            raise WorkloadError(
                f"{plan.label(g)}: compute op has no duration_s and no compute_model was given"
            )
        d = float(compute_model(op, plan.rank[g]))
        if not (d >= 0 and math.isfinite(d)):
            raise WorkloadError(f"{plan.label(g)}: compute_model returned {d} s (need >= 0)")
        out[g] = d
    return out


class _Runner:
    """Releases ops as their predecessors finish; owns the rendezvous tables."""

    def __init__(
        self,
        plan: Plan,
        transport: Transport,
        durations: list[float],
        isolation: Isolation,
        record: bool,
    ) -> None:
        self.plan = plan
        self.transport = transport
        self.ctx = transport.ctx
        self.env = transport.env
        self.durations = durations
        self.iso = isolation
        self.record = record
        self.record_flows = record
        #: mirrored traffic not run: proven copies of traffic that is (engine.symmetry)
        self.copies = Copies()
        n = len(plan)
        self.times = OpTimes.empty(n)
        self.waits = list(plan.waits)
        self.left = n  # ops not finished yet
        self.kind = [_kind_code(op) for op in plan.ops]
        self.has_program = set(plan.program_ranks)
        self._expected: dict[tuple[int, ...], list[int]] = {}
        self._alone_groups: dict[tuple[int, ...], bool] = {}
        #: collectives waiting for members: key -> global indices of members that arrived
        self.coll_pending: dict[Hashable, list[int]] = {}
        #: sends / recvs waiting for their partner: (src, dst, tag) -> FIFO of global indices
        self.send_q: dict[tuple[int, int, int], deque[int]] = {}
        self.recv_q: dict[tuple[int, int, int], deque[int]] = {}
        #: the callbacks of a compute op's and of a lone collective's wake-up (shared tuples)
        self._wake_cbs = (self._on_wake,)
        self._lone_cbs = (self._on_lone_done,)
        self._schedule = scheduler(self.env)

    # -- driving ------------------------------------------------------------------------

    def run(self) -> None:
        """Release the ops without predecessors, run to the end, check nothing is left."""
        for g in range(len(self.plan)):
            if self.waits[g] == 0:
                self._reach(g)
        self.env.run()
        unfinished = [g for g, e in enumerate(self.times.end_s) if math.isnan(e)]
        if unfinished:
            raise explain_deadlock(self.plan, self.times, self.env.now, unfinished, self)

    def _reach(self, g: int) -> None:
        """Op ``g`` has all predecessors done: it is reached now."""
        now = self.env.now
        self.times.ready_s[g] = now
        k = self.kind[g]
        if k == _COMPUTE:
            self.times.start_s[g] = now
            wake_after(self.env, self.durations[g], self._wake_cbs, g)
        elif k == _COLLECTIVE:
            self._arrive_collective(g)
        elif k == _SEND:
            self._arrive_send(g)
        else:
            self._arrive_recv(g)

    def _on_wake(self, wake: Wake) -> None:
        """Compute op ``wake.g`` is done."""
        self._finish(wake.g)

    def _finish(self, g: int, _event: simpy.Event | None = None) -> None:
        """Op ``g`` is done now (``_event``: the simpy event it waited for, if any).

        Its dependents whose last predecessor it was are reached, in order; a compute op
        among them is started here (what :meth:`_reach` does, inlined: most ops are)."""
        now = self.env.now
        times = self.times
        times.end_s[g] = now
        self.left -= 1
        waits = self.waits
        kind = self.kind
        for d in self.plan.dependents[g]:
            waits[d] -= 1
            if waits[d] == 0:
                if kind[d] == _COMPUTE:
                    times.ready_s[d] = now
                    times.start_s[d] = now
                    # durations were checked >= 0 (_compute_durations): no check per op
                    self._schedule(Wake(self._wake_cbs, d), NORMAL, self.durations[d])
                elif kind[d] == _COLLECTIVE:
                    times.ready_s[d] = now
                    self._arrive_collective(d)
                else:
                    self._reach(d)

    # -- collectives --------------------------------------------------------------------

    def expected_members(self, g: int) -> list[int]:
        """Members of op ``g``'s group that have programs (the rendezvous waits for these)."""
        op = self.plan.ops[g]
        assert isinstance(op, Collective)
        members = self._expected.get(op.group)
        if members is None:
            members = [m for m in op.group if m in self.has_program]
            self._expected[op.group] = members
        return members

    def _arrive_collective(self, g: int) -> None:
        op = self.plan.ops[g]
        assert isinstance(op, Collective)
        if not op.mirrors and op.match_key is None and self._alone(op.group):
            lone = self.plan.own_key[g]  # coll_key(op, op.group), computed by the plan
            if lone in self.iso.isolated:
                self._launch_lone(g, op, lone)
                return
        key = self.plan.coll_key[g]
        arrived = self.coll_pending.setdefault(key, [])
        if arrived:
            r = self.plan.rank[g]
            if any(self.plan.rank[a] == r for a in arrived):
                raise WorkloadError(f"{self.plan.label(g)}: rank reached collective {key} twice")
        arrived.append(g)
        if len(arrived) == len(self.expected_members(g)):
            del self.coll_pending[key]
            self._launch_collective(sorted(arrived, key=lambda a: self.plan.rank[a]))

    def _alone(self, group: tuple[int, ...]) -> bool:
        """Whether a collective of ``group`` waits for no member but the one that reaches it
        (the others have no program)."""
        alone = self._alone_groups.get(group)
        if alone is None:
            alone = self._alone_groups[group] = sum(m in self.has_program for m in group) == 1
        return alone

    def _launch_lone(self, g: int, op: Collective, key: CollKey) -> None:
        """Start collective ``g``, alone in its rendezvous (matched by group and ordinal, so no
        other group's op shares its key), without mirrors and isolated: the replay of its lone
        run as one timeout. The same steps, in the same order, as
        :meth:`_launch_collective` takes for one member and one isolated group."""
        now = self.env.now
        self.times.start_s[g] = now
        run = self._replay(now, key, op.name)
        self._schedule(Wake(self._lone_cbs, g, run.algo), NORMAL, run.duration_s)

    def _replay(self, now: float, key: CollKey, name: str) -> LoneRun:
        """Isolated collective ``key`` (named ``name``) starts at ``now``: its lone run (run
        on first use) and its use recorded."""
        run = self.iso.runs.get(key)
        if run is None:
            run = lone_run(self.transport, key, self.record, name, flows=self.record_flows)
            self.iso.runs[key] = run
        self.iso.uses.append((now, key))
        return run

    def _on_lone_done(self, wake: Wake) -> None:
        """Lone collective ``wake.g`` (replayed, algorithm ``wake.algo``) is done."""
        self.times.algo[wake.g] = wake.algo
        self._finish(wake.g)

    def _launch_collective(self, members: list[int]) -> None:
        first = self.plan.ops[members[0]]
        assert isinstance(first, Collective)
        mirrors: list[tuple[int, ...]] = []
        for g in members:
            op = self.plan.ops[g]
            assert isinstance(op, Collective)
            if (op.op, op.group, op.size_B, op.root) != (
                first.op,
                first.group,
                first.size_B,
                first.root,
            ):
                raise WorkloadError(
                    f"collective members disagree: {self.plan.label(members[0])} is "
                    f"{first.op} of {first.size_B} B on {first.group} root {first.root}, "
                    f"{self.plan.label(g)} is {op.op} of {op.size_B} B on {op.group} "
                    f"root {op.root}"
                )
            for m in op.mirrors:
                if m not in mirrors and m != first.group and m not in self.copies.groups:
                    mirrors.append(m)
        now = self.env.now
        for g in members:
            self.times.start_s[g] = now
        state = _Pending(members, 1 + len(mirrors))
        for i, grp in enumerate((first.group, *mirrors)):
            key = coll_key(first, grp)
            if key in self.iso.isolated:
                run = self._replay(now, key, first.name)
                ev = self.env.timeout(run.duration_s)
                ev.callbacks.append(partial(self._on_lone_part, state, i == 0, run))
                continue
            proc = self.env.process(
                self.transport.collective(
                    first.op, grp, first.size_B, first.algo, root=first.root, tag=first.name
                )
            )
            proc.callbacks.append(partial(self._on_collective_part, state, i == 0))

    def _on_collective_part(self, state: _Pending, own: bool, event: simpy.Event) -> None:
        info = event.value
        assert isinstance(info, RunInfo)
        self._part_done(state, own, info.algo)

    def _on_lone_part(self, state: _Pending, own: bool, run: LoneRun, _event: simpy.Event) -> None:
        self._part_done(state, own, run.algo)

    def _part_done(self, state: _Pending, own: bool, algo: str) -> None:
        if own:
            state.algo = algo
        state.left -= 1
        if state.left == 0:
            for g in state.members:
                self.times.algo[g] = state.algo
                self._finish(g)

    # -- point to point -----------------------------------------------------------------

    def _arrive_send(self, g: int) -> None:
        op = self.plan.ops[g]
        assert isinstance(op, Send)
        src, dst = self.plan.rank[g], op.peer
        key = (src, dst, op.tag)
        if dst not in self.has_program:
            self._launch_p2p(g, None)
        elif (q := self.recv_q.get(key)) is not None and q:
            self._launch_p2p(g, q.popleft())
        else:
            self.send_q.setdefault(key, deque()).append(g)

    def _arrive_recv(self, g: int) -> None:
        op = self.plan.ops[g]
        assert isinstance(op, Recv)
        src, dst = op.peer, self.plan.rank[g]
        key = (src, dst, op.tag)
        if src not in self.has_program:
            self._launch_p2p(None, g)
        elif (q := self.send_q.get(key)) is not None and q:
            self._launch_p2p(q.popleft(), g)
        else:
            self.recv_q.setdefault(key, deque()).append(g)

    def _launch_p2p(self, s: int | None, r: int | None) -> None:
        """Start the transfer of a matched send ``s`` / recv ``r`` (either may be mirrored)."""
        pairs: list[tuple[int, int]]
        if s is not None:
            sop = self.plan.ops[s]
            assert isinstance(sop, Send)
            size_B, name = sop.size_B, sop.name
            skip = self.copies.pairs
            pairs = [(self.plan.rank[s], sop.peer), *(m for m in sop.mirrors if m not in skip)]
            if r is not None:
                rop = self.plan.ops[r]
                assert isinstance(rop, Recv)
                if rop.size_B != sop.size_B:
                    raise WorkloadError(
                        f"{self.plan.label(s)} sends {sop.size_B} B but "
                        f"{self.plan.label(r)} receives {rop.size_B} B"
                    )
        else:
            assert r is not None
            rop = self.plan.ops[r]
            assert isinstance(rop, Recv)
            size_B, name = rop.size_B, rop.name
            pairs = [(rop.peer, self.plan.rank[r])]
        now = self.env.now
        for g in (s, r):
            if g is not None:
                self.times.start_s[g] = now
        self.transport.send_recv(
            pairs,
            size_B,
            name,
            sender=s is not None,
            on_sent=partial(self._finish, s) if s is not None else _nothing,
            on_received=partial(self._finish, r) if r is not None else _nothing,
        )


def _nothing() -> None:
    """No op waits for this side of a transfer (its rank has no program)."""


class _Pending:
    """A launched collective: members to finish once ``left`` group transfers are done."""

    __slots__ = ("algo", "left", "members")

    def __init__(self, members: list[int], left: int) -> None:
        self.members = members
        self.left = left
        self.algo = ""


def _kind_code(op: object) -> int:
    if isinstance(op, Compute):
        return _COMPUTE
    if isinstance(op, Collective):
        return _COLLECTIVE
    if isinstance(op, Send):
        return _SEND
    if isinstance(op, Recv):
        return _RECV
    raise WorkloadError(f"unknown op type {type(op).__name__}")
