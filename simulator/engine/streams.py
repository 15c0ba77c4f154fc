"""Flatten a :class:`~simulator.core.ir.Workload` into one dependency graph.

Every op of every simulated rank gets a *global index* ``g`` (programs in rank order, ops in
program order). An op waits for its stream predecessor (CUDA-stream semantics: ops of one
stream of one rank run in program order, one at a time) and for its ``deps``. The plan stores,
per op, how many predecessors it waits for and which ops wait for it, so the runner can
release ops with integer counters instead of one simpy process per op.

Collectives also get their rendezvous key here: ``match_key`` when the op sets one, otherwise
the group plus the per-group ordinal of the collective in its rank's program (like a NCCL
communicator's sequence number), and their distinct-collective key
(:func:`~simulator.engine.collkey.coll_key`). The ops that launch traffic are listed once per
distinct launch (:attr:`Plan.traffic`), for the passes that read traffic classes.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from simulator.core.gcphases import checkpoint
from simulator.core.ir import AnyOp, Collective, Compute, Program, Recv, Send, Workload
from simulator.engine.collkey import CollKey, coll_key, launch_signature
from simulator.engine.errors import WorkloadError


@dataclass(slots=True)
class Plan:
    """The flattened workload (all lists are indexed by global op index ``g``).

    Attributes:
        ops: the IR ops.
        rank: the rank whose program holds the op.
        stream: index into :attr:`streams` of the op's stream.
        streams: ``(rank, stream name)`` per stream index, in order of first appearance.
        waits: number of predecessors (stream predecessor and deps, deduplicated).
        dependents: ops that wait for this one, ascending.
        coll_key: rendezvous key of collectives (``None`` for other ops).
        program_ranks: ranks that have a program (sorted).
        own_key: distinct-collective key of a collective on its own group
            (:func:`~simulator.engine.collkey.coll_key`; ``None`` for other ops).
        traffic: ascending global indices of the ops that launch traffic, one per distinct
            :func:`~simulator.engine.collkey.launch_signature` (its first op), plus every op
            with mirrors: every traffic class of the plan, its links, launchers and streams,
            as the isolation and symmetry passes read them, comes from these ops alone (an op
            left out repeats one that is listed).
    """

    ops: list[AnyOp]
    rank: list[int]
    stream: list[int]
    streams: list[tuple[int, str]]
    waits: list[int]
    dependents: list[list[int]]
    coll_key: list[Hashable | None]
    program_ranks: list[int]
    own_key: list[CollKey | None]
    traffic: list[int]

    @property
    def local(self) -> dict[tuple[int, int], int]:
        """``(rank, op id) -> g`` (built on each call)."""
        return {(self.rank[g], op.id): g for g, op in enumerate(self.ops)}

    def __len__(self) -> int:
        return len(self.ops)

    def own(self, g: int) -> CollKey:
        """The distinct-collective key of collective ``g`` on its own group (:attr:`own_key`)."""
        key = self.own_key[g]
        if key is None:
            raise TypeError(f"{self.label(g)} is not a collective")
        return key

    def label(self, g: int) -> str:
        """``"rank R op 'NAME' (id I)"`` for messages."""
        op = self.ops[g]
        return f"rank {self.rank[g]} op '{op.name}' (id {op.id})"


def build_plan(workload: Workload, num_ranks: int) -> Plan:
    """Flatten ``workload``; raise :class:`WorkloadError` on what cannot run.

    Checks: program ranks sorted, unique and inside the topology (``num_ranks``); deps name
    earlier ops of the same program; collective groups and peers are ranks of the topology and
    a collective's group contains its own rank.
    """
    world = workload.world_size
    if world > num_ranks:
        raise WorkloadError(f"workload has {world} ranks but the topology only {num_ranks}")
    try:
        workload.validate()
    except ValueError as exc:
        raise WorkloadError(str(exc)) from exc

    flat = _Flattener(workload.world_size)
    for prog in workload.programs:
        flat.add(prog)
    plan = Plan(
        ops=flat.ops,
        rank=flat.rank,
        stream=flat.stream,
        streams=flat.streams,
        waits=flat.waits,
        dependents=flat.dependents,
        coll_key=flat.rendezvous,
        program_ranks=[p.rank for p in workload.programs],
        own_key=flat.own_key,
        traffic=flat.traffic,
    )
    checkpoint()  # the plan lives as long as the simulation (simulator.core.gcphases)
    return plan


class _Flattener:
    """The lists of a :class:`Plan` under construction, filled program by program."""

    def __init__(self, world: int) -> None:
        self.world = world
        self.ops: list[AnyOp] = []
        self.rank: list[int] = []
        self.stream: list[int] = []
        self.streams: list[tuple[int, str]] = []
        self.waits: list[int] = []
        self.dependents: list[list[int]] = []
        self.rendezvous: list[Hashable | None] = []
        self.own_key: list[CollKey | None] = []
        self.traffic: list[int] = []
        self._checked: set[tuple[int, ...]] = set()
        self._launches: dict[Hashable, CollKey | None] = {}  # signature -> own key

    def add(self, prog: Program) -> None:
        """Append the ops of ``prog`` (validated: unique ids, deps on earlier ops)."""
        r = prog.rank
        base = len(self.ops)
        pops = prog.ops
        self.ops.extend(pops)
        self.rank.extend([r] * len(pops))
        self.dependents.extend([[] for _ in pops])
        ids = {op.id: base + i for i, op in enumerate(pops)}  # unique ids: validated
        streams, stream_of, waits, dependents = (
            self.streams,
            self.stream,
            self.waits,
            self.dependents,
        )
        rendezvous, own_key = self.rendezvous, self.own_key
        world, checked = self.world, self._checked
        stream_idx: dict[str, int] = {}
        last_on_stream: dict[str, int] = {}
        ordinal: dict[tuple[int, ...], int] = {}
        for g, op in enumerate(pops, base):
            if type(op) is not Compute or not (op.duration_s is None or op.duration_s >= 0):
                _check_op(op, r, world, checked)
            name = op.stream
            si = stream_idx.get(name)
            if si is None:
                si = stream_idx[name] = len(streams)
                streams.append((r, name))
            stream_of.append(si)
            prev = last_on_stream.get(name)
            last_on_stream[name] = g
            _link(g, prev, op.deps, ids, waits, dependents)
            key: Hashable | None = None
            own: CollKey | None = None
            if isinstance(op, Collective):
                if op.match_key is not None:
                    key = ("key", op.match_key)
                else:
                    n = ordinal.get(op.group, 0)
                    ordinal[op.group] = n + 1
                    key = ("group", op.group, n)
                own = self._launch(g, op, si)
            elif type(op) is not Compute:
                self._launch(g, op, si)
            rendezvous.append(key)
            own_key.append(own)

    def _launch(self, g: int, op: AnyOp, stream: int) -> CollKey | None:
        """List op ``g`` in :attr:`Plan.traffic` when it is the first of its launch signature
        or has mirrors; its own key when it is a collective."""
        sig = launch_signature(op, stream)
        if sig is None:
            return None
        own = self._launches.get(sig, _UNSEEN)
        if own is not _UNSEEN:  # a repeat: listed only for its mirrors' slots
            if isinstance(op, Collective | Send) and op.mirrors:
                self.traffic.append(g)
            return own  # type: ignore[return-value]
        own = coll_key(op, op.group) if isinstance(op, Collective) else None
        self._launches[sig] = own
        self.traffic.append(g)
        return own


#: Marks a launch signature not seen yet (``None`` is the own key of a send or receive).
_UNSEEN = object()


def _link(
    g: int,
    prev: int | None,
    deps: tuple[int, ...],
    ids: dict[int, int],
    waits: list[int],
    dependents: list[list[int]],
) -> None:
    """Op ``g`` waits for its stream predecessor ``prev`` and its ``deps`` (op ids, mapped to
    global indices by ``ids``), each once: append its count to ``waits`` and ``g`` to each
    predecessor's ``dependents`` (predecessors in ascending order)."""
    if len(deps) == 1:  # the usual case, without building a set
        d = ids[deps[0]]
        if prev is None or prev == d:
            waits.append(1)
            dependents[d].append(g)
            return
        lo, hi = (prev, d) if prev < d else (d, prev)
        waits.append(2)
        dependents[lo].append(g)
        dependents[hi].append(g)
        return
    if len(deps) == 2:  # the next most usual (a TP block's compute), also without a set
        a, b = ids[deps[0]], ids[deps[1]]
        two = (a,) if a == b else (a, b) if a < b else (b, a)
        if prev is not None and prev not in two:
            two = tuple(sorted((*two, prev)))
        waits.append(len(two))
        for p in two:
            dependents[p].append(g)
        return
    if deps:
        preds = {ids[d] for d in deps}
        if prev is not None:
            preds.add(prev)
        waits.append(len(preds))
        for p in sorted(preds):
            dependents[p].append(g)
    elif prev is not None:
        waits.append(1)
        dependents[prev].append(g)
    else:
        waits.append(0)


def _where(op: AnyOp, rank: int) -> str:
    """``rank R op 'NAME' (id I)``: where a bad op is, for messages."""
    return f"rank {rank} op '{op.name}' (id {op.id})"


def _check_op(op: AnyOp, rank: int, world: int, checked: set[tuple[int, ...]]) -> None:
    if type(op) is Compute and (op.duration_s is None or op.duration_s >= 0):
        return  # most ops: nothing to check
    if isinstance(op, Collective):
        if rank not in op.group:
            raise WorkloadError(
                f"{_where(op, rank)}: collective group {op.group} does not contain rank {rank}"
            )
        if op.group not in checked:
            _check_group(op, rank, op.group, world, checked)
        for grp in op.mirrors:
            if grp not in checked:
                _check_group(op, rank, grp, world, checked)
        if op.size_B < 0:
            raise WorkloadError(f"{_where(op, rank)}: negative size_B {op.size_B}")
    elif isinstance(op, Send | Recv):
        if not 0 <= op.peer < world:
            raise WorkloadError(
                f"{_where(op, rank)}: peer {op.peer} is not a rank of the job (< {world})"
            )
        if op.size_B < 0:
            raise WorkloadError(f"{_where(op, rank)}: negative size_B {op.size_B}")
        if isinstance(op, Send):
            for a, b in op.mirrors:
                if not (0 <= a < world and 0 <= b < world):
                    raise WorkloadError(
                        f"{_where(op, rank)}: mirror pair {(a, b)} outside 0..{world - 1}"
                    )
    elif isinstance(op, Compute) and op.duration_s is not None and not op.duration_s >= 0:
        raise WorkloadError(f"{_where(op, rank)}: duration_s must be >= 0, got {op.duration_s}")


def _check_group(
    op: Collective, rank: int, grp: tuple[int, ...], world: int, checked: set[tuple[int, ...]]
) -> None:
    """Raise on a group with a repeated rank or a rank outside the job; else note it checked."""
    if len(set(grp)) != len(grp) or any(not 0 <= m < world for m in grp):
        raise WorkloadError(
            f"{_where(op, rank)}: bad group {grp} (ranks must be unique and < {world})"
        )
    checked.add(grp)
