"""Step timelines from a CPU (gloo) Kineto trace.

gloo traces carry no ``record_param_comms`` events. A communication op shows twice:

* the ``c10d::<op>`` CPU op on the main thread, where it is *launched*; its ``Input Dims`` and
  ``Input type`` give the size;
* a ``gloo:<op>`` annotation whose span is the real communication time: on one of gloo's
  worker threads for collectives (gloo runs them FIFO on 2 threads), on the main thread for
  ``gloo:send`` / ``gloo:recv`` (async spans that overlap later ops).

Each ``c10d::`` launch is matched to the next unmatched ``gloo:`` span of a compatible kind
(FIFO, start not before the launch). The compute lane is the main thread: top-level ``cpu_op``
events (annotations like ``DistributedDataParallel.forward`` are containers and are looked
through). A gap on the lane longer than :data:`MIN_WAIT_GAP_S` that ends within
:data:`RESUME_SLACK_S` after a communication span ended (or at most :data:`EARLY_RESUME_S`
before its recorded end) is a wait on that op;
``_c10d_functional::wait_tensor`` ops are explicit waits.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from simulator.core.vocab import CollectiveOp
from simulator.traces.et import ETIndex
from simulator.traces.events import Event, ImportSummary, KinetoTrace, dtype_size_B
from simulator.traces.timeline import CommEvent, Label, Piece, StepTimeline, Wait

#: Shortest lane gap treated as a possible wait. Python overhead between ops on this machine
#: is 2-30 us (our tiny-GPT DDP trace, `commsim record --world 2 --strategy ddp`), waits are
#: hundreds of us and more; 100 us separates them.
MIN_WAIT_GAP_S = 100e-6
#: How long after a communication span ends the lane may resume and still count as having
#: waited for it (thread wake-up). Observed on this 2-core machine: 57 us after a
#: gloo:all_reduce (ddp trace), 491 us after a gloo:all_gather under FSDP (4 busy threads on
#: 2 cores); 2 ms leaves margin. Only the part of the gap before the span's end counts as
#: waiting; the wake-up after it stays on the lane as busy time.
RESUME_SLACK_S = 2e-3
#: How long *before* a communication span's recorded end the lane may resume and still count
#: as having waited for it. gloo's worker wakes the waiting thread, then closes its
#: ``gloo:`` span; on a busy 2-core machine the waiter can run first. Measured on the DDP
#: recordings of validation run E (2026-11-29): for every main-thread gap > 1 ms, the nearest
#: ``gloo:`` span end minus the time the lane resumed. 23 % of the gaps on rig-4host-2rack and
#: 9 % on rig-2host resume before that end, by up to 0.32 ms (4 hosts) and 0.10 ms (2 hosts)
#: at the 95th percentile, 0.59 ms for ddp-fp16 on 4 hosts. Before this window such gaps
#: (up to 38 ms) were booked as compute: 104 ms per step on rank 0 of the 4-host DDP
#: recording, 13 ms with it.
EARLY_RESUME_S = 1e-3
#: Shortest gap *inside* a top-level op (between its nested ops) treated as a possible wait.
#: FSDP2 blocks on its all_gather and reduce_scatter inside autograd hooks, so no gap shows on
#: the lane: on rig-4host-2rack an 80-110 ms wait sits inside one
#: ``autograd::engine::evaluate_function`` (run E's fsdp recording, 2026-11-29). Longer than
#: the lane threshold because a thread descheduled inside an op on a busy 2-core machine leaves
#: gaps too; a wait is 1 ms or more here.
INNER_WAIT_MIN_S = 1e-3
#: Annotations inside which a framework launches a collective and blocks on it; a gap in
#: them is searched like a gap inside an op. FSDP2's post-backward reduce runs in a Python
#: hook outside any op: ``FSDP::post_backward_reduce`` holds the reduce_scatter's launch and
#: the wait for it.
BLOCKING_SCOPES = ("FSDP::",)

#: Annotation of an accelerator-mode recording (``commsim record --device accel``,
#: :mod:`simulator.traces.accel`): the host waits inside it for a layer's device time. It is
#: compute of the op that holds it, never a gap in which a collective could be waited for.
DEVICE_PREFIX = "commsim.device."

STEP_RE = re.compile(r"^(?:commsim\.step|ProfilerStep)#(\d+)$")
LAYER_RE = re.compile(r"^commsim\.fwd\.layer(\d+)$")

SizeFn = Callable[[Event, int, "ETIndex | None"], float | None]


def _elems(dims: object) -> int:
    """Number of elements of a dims entry (a shape list, or a list of shapes for TensorList)."""
    if not isinstance(dims, list) or not dims:
        return 0
    if all(isinstance(d, int) for d in dims):
        n = 1
        for d in dims:
            n *= int(d)
        return n
    return sum(_elems(d) for d in dims)


def _itemsize(ev: Event, k: int, et: ETIndex | None = None) -> int | None:
    types = ev.args.get("Input type") or []
    t = types[k] if k < len(types) else ""
    if t in ("TensorList", "GenericList"):
        # Kineto does not type a TensorList; the execution trace does (else the gloo span).
        return et.itemsize(ev.args.get("Record function id"), k) if et is not None else None
    return dtype_size_B(str(t))


def _arg_B(k: int, times: int = 1) -> SizeFn:
    """Size = elements of input ``k`` x itemsize x ``times`` (``times=-1``: x group size)."""

    def fn(ev: Event, n: int, et: ETIndex | None) -> float | None:
        dims = ev.args.get("Input Dims") or []
        if k >= len(dims):
            return None
        item = _itemsize(ev, k, et)
        if item is None:
            return None
        mult = n if times == -1 else times
        return float(_elems(dims[k]) * item * mult)

    return fn


#: c10d op -> (IR op, gloo span names it runs as, size rule). Sizes follow nccl-tests:
#: all_gather: the gathered output; reduce_scatter: the full input.
C10D_OPS: dict[str, tuple[CollectiveOp | str, tuple[str, ...], SizeFn]] = {
    "c10d::allreduce_": (CollectiveOp.ALL_REDUCE, ("gloo:all_reduce",), _arg_B(0)),
    "c10d::allreduce_coalesced_": (CollectiveOp.ALL_REDUCE, ("gloo:all_reduce",), _arg_B(0)),
    "c10d::_allgather_base_": (CollectiveOp.ALL_GATHER, ("gloo:all_gather",), _arg_B(0)),
    "c10d::allgather_": (CollectiveOp.ALL_GATHER, ("gloo:all_gather",), _arg_B(1, -1)),
    "c10d::allgather_into_tensor_coalesced_": (
        CollectiveOp.ALL_GATHER,
        ("gloo:all_gather",),
        _arg_B(0),
    ),
    "c10d::_reduce_scatter_base_": (
        CollectiveOp.REDUCE_SCATTER,
        ("gloo:all_reduce", "gloo:reduce_scatter"),
        _arg_B(1),
    ),
    "c10d::reduce_scatter_": (
        CollectiveOp.REDUCE_SCATTER,
        ("gloo:all_reduce", "gloo:reduce_scatter"),
        _arg_B(1),
    ),
    "c10d::reduce_scatter_tensor_coalesced_": (
        CollectiveOp.REDUCE_SCATTER,
        ("gloo:all_reduce", "gloo:reduce_scatter"),
        _arg_B(1),
    ),
    "c10d::broadcast_": (CollectiveOp.BROADCAST, ("gloo:broadcast",), _arg_B(0)),
    "c10d::reduce_": (CollectiveOp.REDUCE, ("gloo:reduce",), _arg_B(0)),
    "c10d::alltoall_base_": (CollectiveOp.ALL_TO_ALL, ("gloo:all_to_all",), _arg_B(1)),
    "c10d::alltoall_": (CollectiveOp.ALL_TO_ALL, ("gloo:all_to_all",), _arg_B(1)),
    "c10d::barrier": (CollectiveOp.BARRIER, ("gloo:barrier",), lambda ev, n, et: 0.0),
    "c10d::send": ("send", ("gloo:send",), _arg_B(0)),
    "c10d::recv_": ("recv", ("gloo:recv",), _arg_B(0)),
    "c10d::recv_any_source_": ("recv", ("gloo:recvAnySource", "gloo:recv"), _arg_B(0)),
}
#: Ops whose first argument is the output buffer (the gloo span runs the second, the input).
_OUTPUT_FIRST = (CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_TO_ALL)
#: gloo spans that have no ``c10d::`` launch in the trace (collectives issued from completion
#: callbacks on gloo's threads, e.g. PowerSGD's) become ops of their own.
SPAN_OPS: dict[str, CollectiveOp] = {
    "gloo:all_reduce": CollectiveOp.ALL_REDUCE,
    "gloo:all_gather": CollectiveOp.ALL_GATHER,
    "gloo:broadcast": CollectiveOp.BROADCAST,
    "gloo:reduce": CollectiveOp.REDUCE,
    "gloo:all_to_all": CollectiveOp.ALL_TO_ALL,
    "gloo:barrier": CollectiveOp.BARRIER,
}
#: c10d-level ops that only wrap the ones above (counted as used, not as comm ops).
WRAPPERS = ("_c10d_functional::", "c10d_functional::")
WAIT_OPS = ("_c10d_functional::wait_tensor", "c10d_functional::wait_tensor")


@dataclass(slots=True)
class _Span:
    ev: Event
    used: bool = False


def _gloo_size_B(span: Event) -> float | None:
    dims = span.args.get("Input Dims") or []
    types = span.args.get("Input type") or []
    if not dims or not types:
        return None
    item = dtype_size_B(str(types[0]))
    return None if item is None else float(_elems(dims[0]) * item)


def _top_level(evs: Sequence[Event]) -> tuple[list[Event], int]:
    """Events not contained in an earlier one (input sorted by start, longest first)."""
    top: list[Event] = []
    end = float("-inf")
    nested = 0
    for e in evs:
        if e.start_s >= end:
            top.append(e)
            end = e.end_s
        else:
            nested += 1
    return top, nested


def _inner_gaps(
    top: Sequence[Event], evs: Sequence[Event], min_s: float
) -> list[tuple[float, float, float]]:
    """Gaps longer than ``min_s`` inside each top-level op with nested ops: stretches where
    none of its nested ops runs (from its start to its first nested op, between them, and
    after the last one), as ``(start, end, op start)``. ``evs`` and ``top`` are sorted by
    start."""
    out: list[tuple[float, float, float]] = []
    j = 0
    for u in top:
        while j < len(evs) and evs[j].start_s < u.start_s:
            j += 1
        cur = u.start_s
        k = j
        while k < len(evs) and evs[k].start_s < u.end_s:
            e = evs[k]
            if e is not u:
                if e.start_s - cur > min_s:
                    out.append((cur, e.start_s, u.start_s))
                cur = max(cur, min(e.end_s, u.end_s))
            k += 1
        if cur > u.start_s and u.end_s - cur > min_s:
            out.append((cur, u.end_s, u.start_s))
    return out


def _inner_wait(
    gs: float, ge: float, op_start: float, comms: Sequence[CommEvent], done: set[int]
) -> int | None:
    """The collective a gap inside an op waited for: launched by that op before the gap, and
    done within it (or at most :data:`EARLY_RESUME_S` after); the last to finish. None if
    none."""
    cands = [
        i
        for i, c in enumerate(comms)
        if i not in done
        and _is_collective(c)
        and op_start <= c.launch_s <= gs
        and gs <= c.end_s <= ge + EARLY_RESUME_S
    ]
    return max(cands, key=lambda i: comms[i].end_s) if cands else None


def _subtract(
    units: list[tuple[float, float, Label]], holes: list[tuple[float, float]]
) -> list[tuple[float, float, Label]]:
    """Remove the ``holes`` intervals from the unit intervals."""
    out: list[tuple[float, float, Label]] = []
    holes = sorted(holes)
    for s, e, lab in units:
        cur = s
        for hs, he in holes:
            if he <= cur or hs >= e:
                continue
            if hs > cur:
                out.append((cur, hs, lab))
            cur = max(cur, he)
        if cur < e:
            out.append((cur, e, lab))
    return out


def main_thread(trace: KinetoTrace) -> str:
    """The tid of the training loop: where step markers are, else the busiest cpu_op thread."""
    for e in trace.events:
        if STEP_RE.match(e.name):
            return e.tid
    busy: dict[str, float] = {}
    for e in trace.events:
        if e.cat == "cpu_op":
            busy[e.tid] = busy.get(e.tid, 0.0) + e.dur_s
    if not busy:
        return ""
    return max(busy.items(), key=lambda kv: kv[1])[0]


def step_windows(trace: KinetoTrace, tid: str) -> list[tuple[int, float, float]]:
    """``(index, start_s, end_s)`` of each step marker on ``tid``; whole trace if none."""
    wins = []
    for e in trace.events:
        if e.tid == tid:
            m = STEP_RE.match(e.name)
            if m:
                wins.append((int(m.group(1)), e.start_s, e.end_s))
    if wins:
        return sorted(wins)
    lane = [e for e in trace.events if e.tid == tid]
    if not lane:
        return []
    return [(0, lane[0].start_s, max(e.end_s for e in lane))]


def cpu_timelines(
    trace: KinetoTrace, rank: int, world: int, summary: ImportSummary, et: ETIndex | None = None
) -> list[StepTimeline]:
    """One :class:`StepTimeline` per step marker of a gloo/CPU trace of ``rank``.

    ``et``: the rank's execution trace, when recorded: communication ops are linked to it by
    record-function id (sizes of TensorList inputs come from it).
    """
    tid = main_thread(trace)
    group = tuple(range(world))
    windows = step_windows(trace, tid)
    spans = [_Span(e) for e in trace.events if e.name.startswith("gloo:")]
    coll_tids: list[str] = []
    for s in spans:
        if s.ev.tid != tid and s.ev.tid not in coll_tids:
            coll_tids.append(s.ev.tid)
    win_starts = [w[1] for w in windows]
    per_step: list[list[Event]] = [[] for _ in windows]
    for e in trace.events:
        if e.name.startswith("gloo:"):
            continue  # counted when matched
        k = bisect_right(win_starts, e.start_s) - 1
        if e.tid != tid and e.name in C10D_OPS and k >= 0 and e.start_s <= windows[k][2]:
            per_step[k].append(e)  # launched from a future callback (comm hooks)
        elif e.tid != tid:
            summary.skipped["other-thread" if e.cat != "kernel" else "gpu-kernel"] += 1
        elif k < 0 or e.start_s > windows[k][2]:
            summary.skipped["outside-measured-steps"] += 1
        elif STEP_RE.match(e.name):
            summary.used["step-marker"] += 1
        else:
            per_step[k].append(e)
    rt = _RankTrace(spans, coll_tids, tid, group, summary, et)
    out = [
        _one_step(StepTimeline(rank=rank, step=idx, start_s=s0, end_s=s1), per_step[k], rt)
        for k, (idx, s0, s1) in enumerate(windows)
    ]
    for s in spans:
        summary.used["comm-span"] += int(s.used)
        summary.skipped["unmatched-gloo-span"] += int(not s.used)
    return out


@dataclass
class _StepEvents:
    """A step's main-thread events sorted by what they are (:func:`_classify`)."""

    layers: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, layer
    optim: list[tuple[float, float]] = field(default_factory=list)
    waits: list[Event] = field(default_factory=list)  # explicit wait_tensor ops
    cpu_ops: list[Event] = field(default_factory=list)
    scopes: list[Event] = field(default_factory=list)  # blocking annotations (FSDP::)


@dataclass(frozen=True)
class _RankTrace:
    """What every step of one rank's import shares: the gloo spans and the threads that run
    collectives, the main thread, the process group, the tallies and the execution trace."""

    spans: list[_Span]
    coll_tids: list[str]
    tid: str
    group: tuple[int, ...]
    summary: ImportSummary
    et: ETIndex | None


def _one_step(tl: StepTimeline, evs: list[Event], rt: _RankTrace) -> StepTimeline:
    """Fill ``tl`` (an empty step window) as a pipeline of passes: sort the events
    (communication ops become the timeline's comms), find the top-level compute units and label
    them, attach explicit, inner and gap waits to comms, and cut the compute into pieces around
    the waits. The thresholds of the passes are the module's constants above."""
    summary = rt.summary
    ev = _classify(evs, tl, rt)
    _fill_node_seq(ev.cpu_ops)
    top, nested = _top_level(ev.cpu_ops)
    summary.used["compute-op"] += len(top)
    summary.used["nested-op"] += nested
    label = _Labeler(ev, _seq_layers(ev.cpu_ops, ev.layers), top)
    _span_only_comms(tl, rt.spans, rt.tid, rt.group, summary)
    units = [(u.start_s, u.end_s, label(u)) for u in top]
    holes = _explicit_waits(tl, ev.waits)
    done: set[int] = set()  # comms a gap has waited for (explicit waits may repeat)
    inner = _inner_waits(tl, top, ev, done)
    summary.roles["inner-wait"] += len(inner)
    _gap_waits_and_pieces(tl, _subtract(units, holes + inner), inner, done)
    tl.waits.sort(key=lambda w: w.start_s)
    return tl


def _classify(evs: list[Event], tl: StepTimeline, rt: _RankTrace) -> _StepEvents:
    """Sort a step's events by kind; communication ops are added to ``tl.comms`` as found."""
    out, summary, tid = _StepEvents(), rt.summary, rt.tid
    for e in evs:
        m = LAYER_RE.match(e.name)
        if m:
            out.layers.append((e.start_s, e.end_s, int(m.group(1))))
            summary.used["layer-marker"] += 1
        elif e.name.startswith("Optimizer.step"):
            out.optim.append((e.start_s, e.end_s))
            summary.used["annotation"] += 1
        elif e.name in WAIT_OPS:
            out.waits.append(e)
            summary.used["wait"] += 1
        elif e.name in C10D_OPS:
            if e.tid == tid:
                out.cpu_ops.append(e)
            _add_comm(tl, e, rt.spans, rt.coll_tids, tid, rt.group, summary, rt.et)
        elif e.name.startswith(WRAPPERS):
            summary.roles["comm-wrapper"] += 1
            out.cpu_ops.append(e)
        elif e.name.startswith("c10d::") or e.name == "record_param_comms":
            summary.unknown[e.name] += 1
            out.cpu_ops.append(e)
        elif e.cat == "cpu_op":
            out.cpu_ops.append(e)
        elif e.name.startswith(DEVICE_PREFIX):
            summary.used["device-work"] += 1
            out.cpu_ops.append(e)  # busy: the host waits for its own layer's device time
        elif e.cat == "user_annotation":
            summary.used["annotation"] += 1
            if e.name.startswith(BLOCKING_SCOPES) and e.tid == tid:
                out.scopes.append(e)
        elif e.cat == "python_function":
            # a Python frame (``with_stack=True``): the ops it calls are read, it adds no time
            summary.skipped["python-frame"] += 1
        else:
            summary.unknown[f"{e.cat}:{e.name}"] += 1
    return out


def _seq_layers(
    cpu_ops: Sequence[Event], layers: Sequence[tuple[float, float, int]]
) -> dict[int, int]:
    """Autograd sequence number -> layer, from the forward ops inside layer annotations."""
    seq_layer: dict[int, int] = {}
    for e in cpu_ops:
        seq = e.args.get("Sequence number")
        if seq is not None and not e.name.startswith("autograd::"):
            for ls, le, lay in layers:
                if ls <= e.start_s < le:
                    seq_layer[int(seq)] = lay
                    break
    return seq_layer


class _Labeler:
    """Labels top-level units in time order (call it in that order: backward ops without a
    forward twin inherit the layer of the backward that ran just before them)."""

    def __init__(self, ev: _StepEvents, seq_layer: dict[int, int], top: Sequence[Event]) -> None:
        self.optim, self.layers, self.seq_layer = ev.optim, ev.layers, seq_layer
        self.bwd_start = min(
            (u.start_s for u in top if u.name.startswith("autograd::engine")),
            default=float("inf"),
        )
        self.last_bwd_layer = -1

    def __call__(self, u: Event) -> Label:
        if any(a <= u.start_s < b for a, b in self.optim):
            return Label("optim")
        if u.name.startswith("autograd::engine"):
            # Ops without a forward twin (AccumulateGrad, DDP hooks) belong to the layer
            # whose backward ran just before them.
            seq = u.args.get("Sequence number")
            if seq is not None and int(seq) in self.seq_layer:
                self.last_bwd_layer = self.seq_layer[int(seq)]
            elif seq is not None and not u.name.endswith("AccumulateGrad"):
                self.last_bwd_layer = -1  # backward of an op outside the layers (head, embedding)
            return Label("bwd", self.last_bwd_layer)
        lay = next((ly for a, b, ly in self.layers if a <= u.start_s < b), -1)
        if lay >= 0 or u.start_s < self.bwd_start:
            # A layer's forward runs after the first backward began too (the later
            # micro-batches of a 1F1B pipeline stage). Unannotated ops there (a later
            # micro-batch's embedding or head) stay "other": they cannot be told from a
            # schedule's own work.
            return Label("fwd", lay)
        return Label("other")


def _explicit_waits(tl: StepTimeline, waits: Sequence[Event]) -> list[tuple[float, float]]:
    """Each explicit wait waits on the latest launched, not yet waited comm with the same dims;
    the intervals they block."""
    holes: list[tuple[float, float]] = []
    waited: set[int] = set()
    for w in waits:
        dims = (w.args.get("Input Dims") or [[]])[0]
        cands = [
            i
            for i, c in enumerate(tl.comms)
            if c.launch_s <= w.start_s and i not in waited and _dims_match(c, dims)
        ]
        if cands:
            ci = cands[-1]
            waited.add(ci)
            tl.waits.append(Wait(w.start_s, w.end_s, ci))
            holes.append((w.start_s, w.end_s))
    return holes


def _inner_waits(
    tl: StepTimeline, top: Sequence[Event], ev: _StepEvents, done: set[int]
) -> list[tuple[float, float]]:
    """Waits inside an op (FSDP2's hooks launch a collective and block on it): a gap between
    the op's nested ops during which a collective the op launched finishes. The intervals."""
    inner: list[tuple[float, float]] = []
    gaps = _inner_gaps(top, ev.cpu_ops, INNER_WAIT_MIN_S)
    for gs, ge, op_start in gaps + _inner_gaps(ev.scopes, ev.cpu_ops, INNER_WAIT_MIN_S):
        inner_ci = _inner_wait(gs, ge, op_start, tl.comms, done)
        if inner_ci is not None:
            wake_s = max(gs, min(ge, tl.comms[inner_ci].end_s))
            tl.waits.append(Wait(gs, wake_s, inner_ci))
            done.add(inner_ci)
            inner.append((gs, wake_s))
    return inner


def _gap_waits_and_pieces(
    tl: StepTimeline,
    units: Sequence[tuple[float, float, Label]],
    inner: Sequence[tuple[float, float]],
    done: set[int],
) -> None:
    """Walk the units in order: a gap before a unit longer than :data:`MIN_WAIT_GAP_S` that no
    inner wait covers waits for the comm that ended in it (if any); the units become pieces."""
    ends = sorted((c.end_s, i) for i, c in enumerate(tl.comms))
    prev = tl.start_s
    for us, ue, lab in [*units, (tl.end_s, tl.end_s, Label("other"))]:
        gap = us - prev
        wait_ci = None
        covered = [he for hs, he in inner if prev - 1e-9 <= hs and he <= us + 1e-9]
        if covered:
            prev = max(covered)  # an inner wait already accounts for this gap (or its start)
        elif gap > MIN_WAIT_GAP_S:
            wait_ci = _gap_wait(prev, us, ends, tl.comms, done)
        if wait_ci is not None:
            wake_s = max(prev, min(us, tl.comms[wait_ci].end_s))
            tl.waits.append(Wait(prev, wake_s, wait_ci))
            done.add(wait_ci)
            piece_start = wake_s
        else:
            piece_start = prev
        if ue > piece_start:
            tl.pieces.append(Piece(piece_start, ue, lab))
        prev = max(prev, ue)


def _fill_node_seq(ops: Sequence[Event]) -> None:
    """Give an ``autograd::engine::evaluate_function: F`` op without a ``Sequence number``
    the one of its nested node ``F``.

    Seen in accelerator-mode FSDP2 recordings (torch 2.13): when a pre-backward hook runs inside
    the evaluate_function op of a Python ``autograd.Function``, only the nested node op
    (``DeviceOpBackward``) carries the number that ties it to its forward, and so to its layer.
    """
    prefix = "autograd::engine::evaluate_function: "
    for i, u in enumerate(ops):
        if not u.name.startswith(prefix) or u.args.get("Sequence number") is not None:
            continue
        node = u.name[len(prefix) :]
        for e in ops[i + 1 :]:
            if e.start_s >= u.end_s:
                break
            if e.name == node and e.args.get("Sequence number") is not None:
                u.args["Sequence number"] = e.args["Sequence number"]
                break


def _gap_wait(
    gs: float,
    ge: float,
    ends: Sequence[tuple[float, int]],
    comms: Sequence[CommEvent],
    done: set[int],
) -> int | None:
    """The comm a lane gap ``[gs, ge]`` waited for, or None.

    The latest one that ended at most :data:`RESUME_SLACK_S` before the lane resumed (and not
    before the gap began, less that slack); failing that, the first *collective* that closes at
    most :data:`EARLY_RESUME_S` after it resumed (a collective's span closes on gloo's worker
    after it woke the waiter; send/recv spans are asynchronous on the lane itself and close
    whenever the peer is done, so a lane that resumed before one closed did not wait for it).
    An op waited for once (``done``) wakes no one again.
    """
    for end_s, i in reversed(ends):
        if i not in done and gs - RESUME_SLACK_S <= end_s <= ge and ge - end_s <= RESUME_SLACK_S:
            return i
    for end_s, i in ends:  # no span ended before the lane resumed: one that closes just after
        if ge < end_s <= ge + EARLY_RESUME_S and i not in done and _is_collective(comms[i]):
            return i
    return None


def _is_collective(c: CommEvent) -> bool:
    return isinstance(c.op, CollectiveOp)


def _dims_match(c: CommEvent, dims: object) -> bool:
    return c.elems == _elems(dims) if dims else True


def _match_span(
    spans: list[_Span],
    e: Event,
    gloo_names: Collection[str],
    tid: str,
    *,
    is_p2p: bool,
    want: int,
) -> _Span | None:
    """The first unused gloo span of launch ``e`` (same thread for P2P, another for
    collectives, starting no earlier than the launch) whose input holds ``want`` elements;
    else the first such span of any size; ``None`` if there is none."""
    fallback = None
    for s in spans:
        if (
            not s.used
            and s.ev.name in gloo_names
            and (s.ev.tid == tid) == is_p2p
            and s.ev.start_s >= e.start_s - 1e-6
        ):
            if fallback is None:
                fallback = s
            if not want or _elems((s.ev.args.get("Input Dims") or [[]])[0]) == want:
                return s
    return fallback


def _add_comm(
    tl: StepTimeline,
    e: Event,
    spans: list[_Span],
    coll_tids: list[str],
    tid: str,
    group: tuple[int, ...],
    summary: ImportSummary,
    et: ETIndex | None,
) -> None:
    op, gloo_names, size_fn = C10D_OPS[e.name]
    if et is not None:
        linked = et.node(e.args.get("Record function id")) is not None
        summary.roles["et-linked-comm"] += int(linked)
        summary.roles["et-unlinked-comm"] += int(not linked)
    is_p2p = op in ("send", "recv")
    # The span runs the launch's input (arg 1 for ops whose arg 0 is the output buffer).
    arg = 1 if op in _OUTPUT_FIRST else 0
    in_dims = e.args.get("Input Dims") or []
    want = _elems(in_dims[arg]) if arg < len(in_dims) else 0
    span = _match_span(spans, e, gloo_names, tid, is_p2p=is_p2p, want=want)
    size = size_fn(e, len(group), et)
    if span is not None:
        span.used = True
        gsize = _gloo_size_B(span.ev)
        if size is None and gsize is not None:
            # TensorList inputs: the span's typed dims give the size (per-rank for all_gather)
            size = gsize * (len(group) if op is CollectiveOp.ALL_GATHER else 1)
        start, end = span.ev.start_s, span.ev.end_s
        stream = f"comm.{coll_tids.index(span.ev.tid)}" if span.ev.tid in coll_tids else "comm"
    else:
        summary.roles["comm-without-gloo-span"] += 1
        start, end, stream = e.start_s, e.end_s, "comm"
    if size is None:
        summary.unknown[f"size-of:{e.name}"] += 1
        size = 0.0
    summary.roles["comm-op"] += 1
    ci = e.args.get("Concrete Inputs") or []
    peer, tag = -1, 0
    if is_p2p and e.name != "c10d::recv_any_source_":
        try:
            peer = group[int(ci[2])]
            tag = int(ci[3])
        except (IndexError, ValueError):
            summary.unknown[f"peer-of:{e.name}"] += 1
    dims = (e.args.get("Input Dims") or [[]])[0]
    after = -1
    if e.tid != tid:
        # launched from a callback of an earlier communication op: chain on the latest one
        # that had finished by then
        summary.roles["comm-from-callback"] += 1
        done = [i for i, c in enumerate(tl.comms) if c.end_s <= e.start_s + 1e-6]
        after = max(done, key=lambda i: tl.comms[i].end_s) if done else -1
    tl.comms.append(
        CommEvent(
            op=op,
            size_B=size,
            launch_s=e.start_s,
            start_s=start,
            end_s=end,
            stream=stream,
            name=f"{op}.{len(tl.comms)}",
            group=() if is_p2p else group,
            peer=peer,
            tag=tag,
            elems=_elems(dims),
            after=after,
        )
    )


def _span_only_comms(
    tl: StepTimeline,
    spans: list[_Span],
    tid: str,
    group: tuple[int, ...],
    summary: ImportSummary,
) -> None:
    """Collective spans of the step without a launch become comm ops; keep launch order."""
    added = False
    for s in spans:
        ev = s.ev
        if s.used or ev.tid == tid or not (tl.start_s <= ev.start_s <= tl.end_s):
            continue
        op = SPAN_OPS.get(ev.name)
        if op is None:
            continue
        s.used = True
        size = _gloo_size_B(ev) or 0.0
        if op is CollectiveOp.ALL_GATHER:
            size *= len(group)
        done = [i for i, c in enumerate(tl.comms) if c.end_s <= ev.start_s + 1e-6]
        after = max(done, key=lambda i: tl.comms[i].end_s) if done else -1
        summary.roles["comm-from-callback"] += 1
        tl.comms.append(
            CommEvent(
                op=op,
                size_B=size,
                launch_s=ev.start_s,
                start_s=ev.start_s,
                end_s=ev.end_s,
                stream="comm",
                name=f"{op}.cb",
                group=group,
                elems=_elems((ev.args.get("Input Dims") or [[]])[0]),
                after=after,
            )
        )
        added = True
    if added:
        order = sorted(range(len(tl.comms)), key=lambda i: (tl.comms[i].launch_s, i))
        new_index = {old: new for new, old in enumerate(order)}
        comms = [tl.comms[i] for i in order]
        for c in comms:
            if c.after >= 0:
                c.after = new_index[c.after]
        tl.comms[:] = comms
        for w in tl.waits:
            w.comm = new_index[w.comm]
