"""The IR: one :class:`Program` per rank, a DAG of ops on streams.

This is the waist of commsim: strategies and trace importers produce Programs, the engine
runs only Programs. Semantics the engine guarantees (and producers may rely on):

* Ops on the same stream of a rank run in program order, one at a time (like CUDA streams).
  An op starts when the previous op on its stream has finished *and* all of its ``deps``
  (ids of ops of the same rank, on any stream) have finished.
* A :class:`Collective` starts when every member of its ``group`` has reached it (rendezvous);
  members are matched by ``match_key`` (default: the group plus the per-group ordinal of the
  collective in each rank's program, like a NCCL communicator's sequence number). All members'
  ops finish together when the collective's transfers are done.
* :class:`Send` and :class:`Recv` rendezvous: the transfer starts when both sides have reached
  their op; they are matched by ``(src, dst, tag)`` in program order.
* Ranks are global integers ``0..world-1`` that index ``Topology.ranks``.
* Scale by structure (mirrors): a Workload may carry programs for *representative* ranks
  only. A rank without a program is assumed to behave exactly like the representative whose
  collectives include it: it reaches every collective when the representative does, so a
  rendezvous waits only for members that have programs. ``Collective.mirrors`` lists groups of
  ranks without programs that run the same collective at the same time (their flows share the
  network with everything else, so contention stays real); ``Send.mirrors`` lists
  ``(src, dst)`` pairs likewise. The op finishes when its own and all mirror transfers are done.
  Builders add mirrors only where they can share links with simulated traffic.

Units: seconds, bytes, FLOPs (count, not rate).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from simulator.core.fastinit import fast_frozen_init, positional_factory
from simulator.core.vocab import Algorithm, CollectiveOp


class OpKind(StrEnum):
    """What an op is, for records and tables."""

    COMPUTE = "compute"
    COLLECTIVE = "collective"
    SEND = "send"
    RECV = "recv"


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """Base of all ops.

    Attributes:
        id: unique within its Program (any int; builders use 0, 1, 2, ... in issue order).
        name: human label, e.g. ``"fwd.layer3.mb2"`` or ``"allreduce.bucket0"``.
        stream: the stream it runs on (``"compute"``, ``"comm"``, ``"comm.dp"``, ...).
        deps: ids of ops of the same Program that must finish before this one starts.
        category: free-form grouping for reports (``"fwd"``, ``"bwd"``, ``"optim"``, ``"dp"``,
            ``"tp"``, ``"pp"``, ``"ep"``, ...).
        layer: transformer layer index, or -1 when not tied to a layer.
        microbatch: micro-batch index, or -1.
    """

    id: int
    name: str
    stream: str
    deps: tuple[int, ...] = ()
    category: str = ""
    layer: int = -1
    microbatch: int = -1

    @property
    def kind(self) -> OpKind:  # pragma: no cover - overridden
        raise NotImplementedError


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Compute(Op):
    """Local computation.

    Either ``duration_s`` is known (measured in a trace), or it is ``None`` and the engine's
    compute model derives it from ``flops`` and ``bytes_accessed_B`` (roofline with an
    efficiency factor, see :mod:`simulator.workload.costmodel`).
    """

    duration_s: float | None = None
    flops: float = 0.0
    bytes_accessed_B: float = 0.0

    @property
    def kind(self) -> OpKind:
        return OpKind.COMPUTE


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Collective(Op):
    """A collective over ``group`` (global ranks, in the order the algorithm uses them).

    ``size_B`` follows nccl-tests' "size" column: all_reduce, broadcast, reduce: the buffer;
    all_gather: the gathered output (``n`` x the per-rank input); reduce_scatter: the input
    (``n`` x the per-rank output); all_to_all: the whole per-rank send buffer; barrier: 0.

    ``algo`` is an :class:`~simulator.core.vocab.Algorithm` (``AUTO`` lets the backend profile
    choose). ``root`` is the group-local index of the root for broadcast/reduce.
    ``match_key`` overrides the default matching (group + per-group ordinal).
    """

    op: CollectiveOp
    group: tuple[int, ...]
    size_B: float
    algo: Algorithm = Algorithm.AUTO
    root: int = 0
    match_key: str | None = None
    mirrors: tuple[tuple[int, ...], ...] = ()

    @property
    def kind(self) -> OpKind:
        return OpKind.COLLECTIVE


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Send(Op):
    """Point-to-point send of ``size_B`` bytes to global rank ``peer``."""

    peer: int
    size_B: float
    tag: int = 0
    mirrors: tuple[tuple[int, int], ...] = ()

    @property
    def kind(self) -> OpKind:
        return OpKind.SEND


@fast_frozen_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Recv(Op):
    """Point-to-point receive of ``size_B`` bytes from global rank ``peer``."""

    peer: int
    size_B: float
    tag: int = 0

    @property
    def kind(self) -> OpKind:
        return OpKind.RECV


AnyOp = Compute | Collective | Send | Recv

#: Positional constructors for the :class:`Program` helpers (fields in declaration order).
_compute = positional_factory(Compute)
_collective = positional_factory(Collective)


@dataclass(slots=True)
class Program:
    """The ops of one rank for one training step (or one repeated unit, see Workload).

    Build with the helper methods; each returns the new op's id so that later ops can
    depend on it::

        p = Program(rank=0)
        f = p.compute("fwd", duration_s=1e-3)
        p.collective("ar", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=4e6, deps=(f,))
    """

    rank: int
    ops: list[AnyOp] = field(default_factory=list)

    def _next_id(self) -> int:
        return len(self.ops)

    def add(self, op: AnyOp) -> int:
        """Append an op (its id must be unused); return its id."""
        self.ops.append(op)
        return op.id

    def compute(
        self,
        name: str,
        *,
        duration_s: float | None = None,
        flops: float = 0.0,
        bytes_accessed_B: float = 0.0,
        stream: str = "compute",
        deps: Sequence[int] = (),
        category: str = "",
        layer: int = -1,
        microbatch: int = -1,
    ) -> int:
        """Append a :class:`Compute` op and return its id."""
        ops = self.ops
        n = len(ops)
        # Compute(id=n, name=name, stream=stream, ...): every field, in declaration order
        ops.append(
            _compute(
                n,
                name,
                stream,
                tuple(deps),
                category,
                layer,
                microbatch,
                duration_s,
                flops,
                bytes_accessed_B,
            )
        )
        return n

    def collective(
        self,
        name: str,
        *,
        op: CollectiveOp,
        group: Sequence[int],
        size_B: float,
        algo: Algorithm = Algorithm.AUTO,
        root: int = 0,
        stream: str = "comm",
        deps: Sequence[int] = (),
        category: str = "",
        layer: int = -1,
        microbatch: int = -1,
        match_key: str | None = None,
        mirrors: Sequence[Sequence[int]] = (),
    ) -> int:
        """Append a :class:`Collective` op and return its id."""
        ops = self.ops
        n = len(ops)
        # Collective(id=n, name=name, stream=stream, ...): every field, in declaration order
        ops.append(
            _collective(
                n,
                name,
                stream,
                tuple(deps),
                category,
                layer,
                microbatch,
                op,
                tuple(group),
                size_B,
                algo,
                root,
                match_key,
                tuple(tuple(g) for g in mirrors) if mirrors else (),
            )
        )
        return n

    def send(
        self,
        name: str,
        *,
        peer: int,
        size_B: float,
        tag: int = 0,
        stream: str = "comm",
        deps: Sequence[int] = (),
        category: str = "",
        layer: int = -1,
        microbatch: int = -1,
        mirrors: Sequence[tuple[int, int]] = (),
    ) -> int:
        """Append a :class:`Send` op and return its id."""
        return self.add(
            Send(
                id=self._next_id(),
                name=name,
                stream=stream,
                deps=tuple(deps),
                category=category,
                layer=layer,
                microbatch=microbatch,
                peer=peer,
                size_B=size_B,
                tag=tag,
                mirrors=tuple((int(a), int(b)) for a, b in mirrors),
            )
        )

    def recv(
        self,
        name: str,
        *,
        peer: int,
        size_B: float,
        tag: int = 0,
        stream: str = "comm",
        deps: Sequence[int] = (),
        category: str = "",
        layer: int = -1,
        microbatch: int = -1,
    ) -> int:
        """Append a :class:`Recv` op and return its id."""
        return self.add(
            Recv(
                id=self._next_id(),
                name=name,
                stream=stream,
                deps=tuple(deps),
                category=category,
                layer=layer,
                microbatch=microbatch,
                peer=peer,
                size_B=size_B,
                tag=tag,
            )
        )

    def __iter__(self) -> Iterator[AnyOp]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def validate(self) -> None:
        """Raise ValueError if ids are not unique or a dep names an unknown/later-cycle op."""
        seen: set[int] = set()
        for op in self.ops:
            if op.id in seen:
                raise ValueError(f"rank {self.rank}: duplicate op id {op.id}")
            for d in op.deps:
                if d not in seen:
                    raise ValueError(
                        f"rank {self.rank}: op {op.id} ({op.name}) depends on {d}, "
                        "which is not an earlier op of this program"
                    )
            seen.add(op.id)


@dataclass(slots=True)
class Workload:
    """Programs of one job, plus how to read them.

    Attributes:
        programs: one per simulated rank, sorted by rank. Usually every rank ``0..world-1``;
            with mirrors (see the module docstring) only the representatives.
        world: number of ranks in the job (``None``: ``len(programs)``).
        steps_per_program: how many training steps one run of the programs represents
            (local SGD with averaging every H steps builds H steps; reported step time is
            the simulated time divided by this).
        metadata: free-form description (strategy, model, parallel degrees, ...), copied into
            results.
    """

    programs: list[Program]
    world: int | None = None
    steps_per_program: int = 1
    metadata: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.world is None:
            self.world = len(self.programs)

    @property
    def world_size(self) -> int:
        """Number of ranks in the job (simulated or mirrored)."""
        assert self.world is not None  # set in __post_init__
        return self.world

    @property
    def simulated_ranks(self) -> list[int]:
        """Ranks that have a program."""
        return [p.rank for p in self.programs]

    def with_programs(self, programs: list[Program]) -> Workload:
        """The same job (world, steps per program, a copy of the metadata) with ``programs``."""
        return Workload(
            programs=programs,
            world=self.world,
            steps_per_program=self.steps_per_program,
            metadata=dict(self.metadata),
        )

    def program(self, rank: int) -> Program | None:
        """The program of ``rank``, or None for a mirrored rank."""
        for p in self.programs:
            if p.rank == rank:
                return p
        return None

    def validate(self) -> None:
        """Check every program, that ranks are sorted, unique and inside ``0..world-1``."""
        last = -1
        for p in self.programs:
            if p.rank <= last or p.rank >= self.world_size:
                raise ValueError(f"program ranks must be sorted, unique and < world: {p.rank}")
            last = p.rank
            p.validate()
