"""From one rank's step timeline to a :class:`~simulator.core.ir.Program`.

Both trace flavours (gloo on CPU, NCCL on GPU) are first reduced to the same shape, a
:class:`StepTimeline`: the *compute lane* (main thread on CPU, the compute stream on GPU) as
labelled busy pieces, the communication ops with their launch time on that lane and their
measured span, and the wait points where the lane blocked on a communication op.

Program construction (the importer's dependency model):

* Compute pieces are cut at every communication launch and every wait, and consecutive pieces
  with the same label (category, layer) are merged into one ``Compute`` op whose
  ``duration_s`` is the measured busy time (Python gaps between ops on the lane included;
  time spent blocked in a wait excluded).
* A communication op depends on the compute op just before its launch (bucket readiness: a DDP
  bucket's all-reduce is launched by the backward op that filled it); one launched from a
  completion callback (PowerSGD's chained all-reduces) also depends on the op it chains on.
* The compute op after a wait depends on the communication op waited for.
* The first optimizer compute op depends on every collective launched before it: the
  optimizer reads the synchronised gradients (DDP's reducer and FSDP's reduce-scatter are
  waited for before ``optimizer.step``), even when the trace shows no wait because those
  collectives had already finished.
* Collectives run on the stream of the worker that executed them (``comm.0``, ``comm.1``: gloo
  runs collectives on 2 threads; NCCL streams likewise), sends on ``comm.send``, receives on
  ``comm.recv`` (gloo and NCCL progress them independently of each other).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.core.ir import Program
from simulator.core.vocab import CollectiveOp


@dataclass(frozen=True, slots=True)
class Label:
    """What a compute piece is: ``category`` (fwd, bwd, optim, other) and layer (-1: none)."""

    category: str
    layer: int = -1


@dataclass(slots=True)
class Piece:
    """Busy time on the compute lane, seconds (gap before it included)."""

    start_s: float
    end_s: float
    label: Label


@dataclass(slots=True)
class CommEvent:
    """One communication op as measured on a rank.

    ``op`` is a CollectiveOp for collectives, or ``"send"``/``"recv"``. ``size_B`` follows
    the IR's (nccl-tests') convention. ``group``: global ranks; ``peer``: global peer rank for
    send/recv (-1 unknown until resolved across ranks). ``launch_s``: when the compute lane
    issued it; ``start_s``/``end_s``: the measured span of the communication itself.
    """

    op: CollectiveOp | str
    size_B: float
    launch_s: float
    start_s: float
    end_s: float
    stream: str
    name: str
    group: tuple[int, ...] = ()
    peer: int = -1
    tag: int = 0
    elems: int = 0  # elements of the launch op's first input (matches explicit waits)
    after: int = -1  # index of the comm whose completion callback launched this one


@dataclass(slots=True)
class Wait:
    """The compute lane blocked from ``start_s`` to ``end_s`` on comm ``comm`` (index).

    ``host_region_s`` (GPU lanes, from the first proven wait of a step on): the wall time the
    host spent from this wait to the next one (to the step's end for the last), launching
    the kernels in between. It becomes a chain of ``host`` ops beside the waits
    (see :func:`build_program`): the kernels after the next wait start only once the host has
    launched them, and the step ends no earlier than the host's chain. The kernels themselves
    count only their busy time, so a slower network exposes only the communication that
    outlasts the host's own work.
    """

    start_s: float
    end_s: float
    comm: int
    host_region_s: float | None = None
    #: comms the host itself blocks on at this wait (a host synchronisation such as
    #: ``cudaStreamSynchronize``, not a stream wait) and the host time before the
    #: synchronisation (s): the region is then ``host_pre_s`` of host work, the wait for
    #: these comms and the GPU work before it, and ``host_region_s`` of host work after it
    host_blocked_on: list[int] = field(default_factory=list)
    host_pre_s: float = 0.0


@dataclass(slots=True)
class StepTimeline:
    """One rank's view of one training step."""

    rank: int
    step: int
    start_s: float
    end_s: float
    pieces: list[Piece] = field(default_factory=list)
    comms: list[CommEvent] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    #: the host's ``ProfilerStep`` wall time (s) when the trace has one (GPU traces)
    wall_s: float | None = None

    @property
    def duration_s(self) -> float:
        """Wall time of the step on this rank: the ProfilerStep's, else the timeline's span."""
        return self.wall_s if self.wall_s is not None else self.end_s - self.start_s


def _cut_points(tl: StepTimeline) -> list[tuple[float, int, int]]:
    """Sorted (time, kind, index): kind 0 = launch of comm index, 1 = wait index."""
    pts = [(c.launch_s, 0, i) for i, c in enumerate(tl.comms)]
    pts += [(w.start_s, 1, i) for i, w in enumerate(tl.waits)]
    pts.sort()
    return pts


def build_program(tl: StepTimeline) -> tuple[Program, dict[int, int]]:
    """Build the rank's Program for one step; also return comm index -> op id.

    The step's pieces are walked in time order, cut at every comm launch and wait
    (:func:`_cut_points`): busy time of one label between two cuts becomes one compute op.
    """
    b = _ProgramBuilder(tl)
    cuts = _cut_points(tl)
    ci = 0
    for piece in tl.pieces:
        t = piece.start_s
        while ci < len(cuts) and cuts[ci][0] <= piece.end_s:
            when, kind, idx = cuts[ci]
            ci += 1
            if when > t:
                b.add_busy(piece.label, when - t, t)
                t = when
            b.cut(kind, idx)
        b.add_busy(piece.label, piece.end_s - t, t)
    for _, kind, idx in cuts[ci:]:  # launches/waits after the last piece
        b.cut(kind, idx)
    return b.finish(), b.comm_op


class _ProgramBuilder:
    """The state of :func:`build_program` as it walks one step."""

    def __init__(self, tl: StepTimeline) -> None:
        self.tl = tl
        self.prog = Program(rank=tl.rank)
        self.comm_op: dict[int, int] = {}
        self.pending: list[int] = []  # comm indices the next compute op must wait for
        self.pending_ops: list[int] = []  # op ids (host regions) the next compute op waits for
        self.host: list[int] = []  # the chain of host-region ops (GPU lanes)
        self.last_compute: int | None = None
        self.busy_s = 0.0
        self.seg_label: Label | None = None
        self.counts: dict[Label, int] = {}
        self.optim_seen = False

    def cut(self, kind: int, idx: int) -> None:
        """A comm launch (``kind`` 0) or a wait (1) ends the current compute op."""
        self.flush()
        if kind == 0:
            self.emit_comm(idx)
        else:
            self.wait_on(self.tl.waits[idx])

    def _deps(self) -> list[int]:
        deps = [self.comm_op[c] for c in self.pending if c in self.comm_op] + self.pending_ops
        if self.last_compute is not None:
            deps.append(self.last_compute)
        return deps

    def flush(self) -> None:
        """Emit the busy time gathered so far as one compute op of its label."""
        lab = self.seg_label
        if lab is None:
            return
        n = self.counts.get(lab, 0)
        self.counts[lab] = n + 1
        layer = f".layer{lab.layer}" if lab.layer >= 0 else ""
        deps = self._deps()
        if lab.category == "optim" and not self.optim_seen:
            self.optim_seen = True
            deps += [
                self.comm_op[i]
                for i, c in enumerate(self.tl.comms)
                if i in self.comm_op and c.op not in ("send", "recv")
            ]
        self.last_compute = self.prog.compute(
            f"{lab.category}{layer}.{n}",
            duration_s=max(self.busy_s, 0.0),
            deps=sorted(set(deps)),
            category=lab.category,
            layer=lab.layer,
        )
        self.pending.clear()
        self.pending_ops.clear()
        self.busy_s = 0.0
        self.seg_label = None

    def wait_on(self, w: Wait) -> None:
        """The next compute op waits for ``w``'s comm (and its host region, if any)."""
        self.pending.append(w.comm)
        if w.host_region_s is None:
            return
        host = self.host
        if host:
            self.pending_ops.append(host[-1])  # the host launched this region's kernels after it
        last = self.last_compute
        first = [host[-1]] if host else [last] if last is not None else []
        if w.host_blocked_on:  # a host sync: host work, then the host waits for the GPU
            pre = self.prog.compute(
                f"host.region.{len(host)}.pre",
                duration_s=w.host_pre_s,
                deps=first,
                stream="host",
                category="other",
            )
            blocked = [self.comm_op[c] for c in w.host_blocked_on if c in self.comm_op]
            first = sorted({pre, *blocked, *([last] if last is not None else [])})
        host.append(
            self.prog.compute(
                f"host.region.{len(host)}",
                duration_s=w.host_region_s,
                deps=first,
                stream="host",
                category="other",
            )
        )

    def add_busy(self, label: Label, busy_s: float, start_s: float) -> None:
        """``busy_s`` of ``label`` compute from ``start_s`` (a new op if the label changes)."""
        if busy_s <= 0:
            return
        if self.seg_label is not None and label != self.seg_label:
            self.flush()
        if self.seg_label is None:
            self.seg_label = label
            self.busy_s = 0.0
        self.busy_s += busy_s

    def emit_comm(self, i: int) -> None:
        """Launch comm ``i`` after the last compute op (and the comm it must follow)."""
        c, prog = self.tl.comms[i], self.prog
        deps = [self.last_compute] if self.last_compute is not None else []
        if c.after >= 0 and c.after in self.comm_op:
            deps.append(self.comm_op[c.after])
        if c.op in ("send", "recv"):
            emit = prog.send if c.op == "send" else prog.recv
            oid = emit(c.name, peer=c.peer, size_B=c.size_B, tag=c.tag,
                       stream=f"comm.{c.op}", deps=deps, category="p2p")  # fmt: skip
        else:
            oid = prog.collective(c.name, op=CollectiveOp(c.op), group=c.group,
                                  size_B=c.size_B, stream=c.stream, deps=deps,
                                  category="comm")  # fmt: skip
        self.comm_op[i] = oid

    def finish(self) -> Program:
        """Close the step: the last compute op, and a join op for waits at the very end."""
        self.flush()
        if self.host:  # the step ends no earlier than the host's last region
            self.pending_ops.append(self.host[-1])
        if self.pending or self.pending_ops:  # waits at the very end: a zero-length join op
            deps = self._deps()
            self.prog.compute("step.end", duration_s=0.0, deps=sorted(set(deps)), category="other")
        return self.prog
