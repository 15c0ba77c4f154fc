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
    """Build the rank's Program for one step; also return comm index -> op id."""
    prog = Program(rank=tl.rank)
    comm_op: dict[int, int] = {}
    pending: list[int] = []  # comm indices the next compute op must wait for
    pending_ops: list[int] = []  # op ids (host regions) the next compute op must wait for
    host: list[int] = []  # the chain of host-region ops (GPU lanes)
    last_compute: int | None = None
    seg: list[float] = []  # [busy_s, first_start_s]
    seg_label: Label | None = None
    counts: dict[Label, int] = {}
    optim_seen: list[bool] = []

    def flush() -> None:
        nonlocal seg_label, last_compute
        if seg_label is None or not seg:
            return
        n = counts.get(seg_label, 0)
        counts[seg_label] = n + 1
        layer = f".layer{seg_label.layer}" if seg_label.layer >= 0 else ""
        deps = [comm_op[c] for c in pending if c in comm_op] + pending_ops
        if last_compute is not None:
            deps.append(last_compute)
        if seg_label.category == "optim" and not optim_seen:
            optim_seen.append(True)
            deps += [
                comm_op[i]
                for i, c in enumerate(tl.comms)
                if i in comm_op and c.op not in ("send", "recv")
            ]
        last_compute = prog.compute(
            f"{seg_label.category}{layer}.{n}",
            duration_s=max(seg[0], 0.0),
            deps=sorted(set(deps)),
            category=seg_label.category,
            layer=seg_label.layer,
        )
        pending.clear()
        pending_ops.clear()
        seg.clear()
        seg_label = None

    def wait_on(w: Wait) -> None:
        pending.append(w.comm)
        if w.host_region_s is None:
            return
        if host:
            pending_ops.append(host[-1])  # the host launched this region's kernels after it
        first = [host[-1]] if host else [last_compute] if last_compute is not None else []
        host.append(
            prog.compute(
                f"host.region.{len(host)}",
                duration_s=w.host_region_s,
                deps=first,
                stream="host",
                category="other",
            )
        )

    def add_busy(label: Label, busy_s: float, start_s: float) -> None:
        nonlocal seg_label
        if busy_s <= 0:
            return
        if seg_label is not None and label != seg_label:
            flush()
        if seg_label is None:
            seg_label = label
            seg.extend([0.0, start_s])
        seg[0] += busy_s

    def emit_comm(i: int) -> None:
        c = tl.comms[i]
        deps = [last_compute] if last_compute is not None else []
        if c.after >= 0 and c.after in comm_op:
            deps.append(comm_op[c.after])
        if c.op == "send":
            oid = prog.send(
                c.name,
                peer=c.peer,
                size_B=c.size_B,
                tag=c.tag,
                stream="comm.send",
                deps=deps,
                category="p2p",
            )
        elif c.op == "recv":
            oid = prog.recv(
                c.name,
                peer=c.peer,
                size_B=c.size_B,
                tag=c.tag,
                stream="comm.recv",
                deps=deps,
                category="p2p",
            )
        else:
            oid = prog.collective(
                c.name,
                op=CollectiveOp(c.op),
                group=c.group,
                size_B=c.size_B,
                stream=c.stream,
                deps=deps,
                category="comm",
            )
        comm_op[i] = oid

    cuts = _cut_points(tl)
    ci = 0
    for piece in tl.pieces:
        t = piece.start_s
        while ci < len(cuts) and cuts[ci][0] <= piece.end_s:
            when, kind, idx = cuts[ci]
            ci += 1
            if when > t:
                add_busy(piece.label, when - t, t)
                t = when
            if kind == 0:
                flush()
                emit_comm(idx)
            else:
                flush()
                wait_on(tl.waits[idx])
        add_busy(piece.label, piece.end_s - t, t)
    while ci < len(cuts):  # launches/waits after the last piece
        _, kind, idx = cuts[ci]
        ci += 1
        flush()
        if kind == 0:
            emit_comm(idx)
        else:
            wait_on(tl.waits[idx])
    flush()
    if host:  # the step ends no earlier than the host's last region
        pending_ops.append(host[-1])
    if pending or pending_ops:  # waits at the very end: a zero-length join op keeps them
        deps = [comm_op[c] for c in pending if c in comm_op] + pending_ops
        if last_compute is not None:
            deps.append(last_compute)
        prog.compute("step.end", duration_s=0.0, deps=sorted(set(deps)), category="other")
    return prog, comm_op
