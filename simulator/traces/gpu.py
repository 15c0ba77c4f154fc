"""Step timelines from a GPU (NCCL) Kineto trace.

What a CUDA + NCCL Kineto trace holds (field names as torch's profiler writes them):

* host ``cpu_op`` events, among them ``record_param_comms`` with the collective's metadata in
  ``args``: ``Collective name``, ``dtype``, ``In msg nelems``, ``Out msg nelems``,
  ``Group size``, ``Process Group Name``, ``Process Group Ranks`` (and ``Src Rank`` /
  ``Dst Rank`` for point-to-point);
* ``cuda_runtime`` / ``cuda_driver`` launch events (``cudaLaunchKernel``...) whose
  ``args.correlation`` names the kernel they launched;
* ``kernel`` events on the device (``pid`` = device, ``tid`` = stream) with
  ``args.correlation``; NCCL kernels are named ``ncclDevKernel_<Op>_...`` (older NCCL:
  ``ncclKernel_...``) and carry the same collective metadata as their ``record_param_comms``.

The compute lane is the union of non-NCCL kernels (any stream); each NCCL kernel is a
communication op whose measured span is the kernel's. Launch order on the lane is the kernel's
start; the compute before it is its dependency; a lane gap that ends after an NCCL kernel ended
is a wait on it (stream wait / event). Compute kernels are labelled by the host op that
launched them (``autograd::engine`` -> bwd, ``Optimizer.step`` -> optim, ``commsim.fwd.layerL``
-> fwd layer L).
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right

from simulator.core.vocab import CollectiveOp
from simulator.traces.cpu import LAYER_RE, MIN_WAIT_GAP_S, RESUME_SLACK_S, main_thread, step_windows
from simulator.traces.events import Event, ImportSummary, KinetoTrace, dtype_size_B
from simulator.traces.timeline import CommEvent, Label, Piece, StepTimeline, Wait

NCCL_KERNEL_RE = re.compile(r"^nccl(?:Dev)?Kernel_(\w+?)(?:_|\(|$)")
#: ``Collective name`` values (c10d's names) -> IR op.
COLL_NAMES: dict[str, CollectiveOp | str] = {
    "allreduce": CollectiveOp.ALL_REDUCE,
    "allreduce_coalesced": CollectiveOp.ALL_REDUCE,
    "_allgather_base": CollectiveOp.ALL_GATHER,
    "allgather": CollectiveOp.ALL_GATHER,
    "all_gather": CollectiveOp.ALL_GATHER,
    "allgather_into_tensor_coalesced": CollectiveOp.ALL_GATHER,
    "_reduce_scatter_base": CollectiveOp.REDUCE_SCATTER,
    "reduce_scatter": CollectiveOp.REDUCE_SCATTER,
    "reduce_scatter_tensor_coalesced": CollectiveOp.REDUCE_SCATTER,
    "broadcast": CollectiveOp.BROADCAST,
    "reduce": CollectiveOp.REDUCE,
    "all_to_all": CollectiveOp.ALL_TO_ALL,
    "alltoall": CollectiveOp.ALL_TO_ALL,
    "alltoall_base": CollectiveOp.ALL_TO_ALL,
    "barrier": CollectiveOp.BARRIER,
    "send": "send",
    "recv": "recv",
}
#: NCCL kernel name part -> IR op (when the kernel carries no ``Collective name``).
KERNEL_OPS: dict[str, CollectiveOp | str] = {
    "AllReduce": CollectiveOp.ALL_REDUCE,
    "AllGather": CollectiveOp.ALL_GATHER,
    "ReduceScatter": CollectiveOp.REDUCE_SCATTER,
    "Broadcast": CollectiveOp.BROADCAST,
    "Reduce": CollectiveOp.REDUCE,
    "SendRecv": "send_recv",
}


def _is_nccl(e: Event) -> bool:
    return e.name.startswith(("ncclDevKernel_", "ncclKernel_")) or "Collective name" in e.args


def _ranks(v: object, world: int) -> tuple[int, ...]:
    if isinstance(v, list):
        return tuple(int(x) for x in v)
    if isinstance(v, str) and v.strip().startswith("["):
        try:
            return tuple(int(x) for x in ast.literal_eval(v))
        except (ValueError, SyntaxError):
            pass
    return tuple(range(world))


def _comm(e: Event, world: int, rank: int, summary: ImportSummary, n: int) -> CommEvent | None:
    a = e.args
    name = str(a.get("Collective name", ""))
    op = COLL_NAMES.get(name)
    if op is None:
        m = NCCL_KERNEL_RE.match(e.name)
        op = KERNEL_OPS.get(m.group(1)) if m else None
    if op is None:
        summary.unknown[f"nccl:{name or e.name[:40]}"] += 1
        return None
    item = dtype_size_B(str(a.get("dtype", ""))) or 0
    if not item:
        summary.unknown[f"dtype:{a.get('dtype')}"] += 1
    n_in = int(a.get("In msg nelems", 0) or 0)
    n_out = int(a.get("Out msg nelems", 0) or 0)
    group = _ranks(a.get("Process Group Ranks"), world)
    elems = n_out if op is CollectiveOp.ALL_GATHER else n_in
    peer = -1
    if op == "send_recv" or op in ("send", "recv"):
        src, dst = a.get("Src Rank"), a.get("Dst Rank")
        if op == "send_recv":
            op = "send" if src in (None, rank) else "recv"
        who = dst if op == "send" else src
        peer = int(who) if who is not None else -1
        if peer < 0:
            summary.unknown["p2p-peer-missing"] += 1
    stream = f"comm.{e.tid}"
    return CommEvent(
        op=op,
        size_B=float(elems * item),
        launch_s=e.start_s,
        start_s=e.start_s,
        end_s=e.end_s,
        stream=stream,
        name=f"{op}.{n}",
        group=() if op in ("send", "recv") else group,
        peer=peer,
        elems=elems,
    )


def gpu_timelines(
    trace: KinetoTrace, rank: int, world: int, summary: ImportSummary
) -> list[StepTimeline]:
    """One :class:`StepTimeline` per step of a CUDA/NCCL trace of ``rank``."""
    tid = main_thread(trace)
    windows = step_windows(trace, tid)
    launch_at: dict[object, float] = {}
    host_top: list[Event] = []
    layers: list[tuple[float, float, int]] = []
    optim: list[tuple[float, float]] = []
    kernels: list[Event] = []
    for e in trace.events:
        if e.cat == "kernel":
            kernels.append(e)
        elif e.cat in ("cuda_runtime", "cuda_driver"):
            if "correlation" in e.args:
                launch_at[e.args["correlation"]] = e.start_s
            summary.used["launch"] += 1
        elif e.tid == tid and LAYER_RE.match(e.name):
            m = LAYER_RE.match(e.name)
            assert m is not None
            layers.append((e.start_s, e.end_s, int(m.group(1))))
            summary.used["layer-marker"] += 1
        elif e.tid == tid and e.name.startswith("Optimizer.step"):
            optim.append((e.start_s, e.end_s))
            summary.used["annotation"] += 1
        elif e.tid == tid and e.cat == "cpu_op":
            host_top.append(e)
        elif e.cat in ("gpu_memcpy", "gpu_memset"):
            kernels.append(e)
        else:
            summary.skipped[f"host:{e.cat or 'uncategorised'}"] += 1
    # top-level host ops: label source for kernels
    tops: list[Event] = []
    end = float("-inf")
    for e in host_top:
        if e.start_s >= end:
            tops.append(e)
            end = e.end_s
    summary.used["host-op"] += len(host_top)
    top_starts = [e.start_s for e in tops]
    bwd_starts = sorted(e.start_s for e in tops if e.name.startswith("autograd::engine"))

    def label(launch_s: float, step_start_s: float) -> Label:
        j = bisect_right(bwd_starts, step_start_s)
        bwd_start = bwd_starts[j] if j < len(bwd_starts) else float("inf")
        if any(a <= launch_s < b for a, b in optim):
            return Label("optim")
        i = bisect_right(top_starts, launch_s) - 1
        host = tops[i] if i >= 0 and tops[i].end_s >= launch_s else None
        if host is not None and host.name.startswith("autograd::engine"):
            return Label("bwd")
        if launch_s < bwd_start:
            return Label("fwd", next((ly for a, b, ly in layers if a <= launch_s < b), -1))
        return Label("other")

    win_starts = [w[1] for w in windows]
    per_step: list[list[tuple[float, Event]]] = [[] for _ in windows]
    for k in kernels:
        la = launch_at.get(k.args.get("correlation"), k.start_s)
        i = bisect_right(win_starts, la) - 1
        if i < 0 or la > windows[i][2]:
            summary.skipped["kernel-outside-measured-steps"] += 1
            continue
        per_step[i].append((la, k))
    out = []
    for i, (idx, s0, _s1) in enumerate(windows):
        ks = sorted(per_step[i], key=lambda t: (t[1].start_s, t[1].index))
        if not ks:
            continue
        tl = StepTimeline(
            rank=rank,
            step=idx,
            start_s=min(k.start_s for _, k in ks),
            end_s=max(k.end_s for _, k in ks),
        )
        busy: list[tuple[float, float, Label]] = []
        for la, k in ks:
            if _is_nccl(k):
                c = _comm(k, world, rank, summary, len(tl.comms))
                if c is not None:
                    tl.comms.append(c)
                    summary.used["comm-kernel"] += 1
                else:
                    summary.skipped["unknown-nccl-kernel"] += 1
            else:
                busy.append((k.start_s, k.end_s, label(la, s0)))
                summary.used["compute-kernel"] += 1
        _lane(tl, busy)
        out.append(tl)
    return out


def _lane(tl: StepTimeline, busy: list[tuple[float, float, Label]]) -> None:
    """Union the compute kernels into pieces; detect waits on NCCL kernels in lane gaps."""
    busy.sort(key=lambda b: b[0])
    ends = sorted((c.end_s, i) for i, c in enumerate(tl.comms))
    prev = tl.start_s
    for s, e, lab in [*busy, (tl.end_s, tl.end_s, Label("other"))]:
        if e <= prev and s < prev:
            continue  # fully under an earlier kernel (concurrent streams)
        s = max(s, prev)
        wait_ci = None
        if s - prev > MIN_WAIT_GAP_S:
            for end_s, i in reversed(ends):
                if prev - RESUME_SLACK_S <= end_s <= s and s - end_s <= RESUME_SLACK_S:
                    wait_ci = i
                    break
        start = prev
        if wait_ci is not None:
            wake = max(prev, min(s, tl.comms[wait_ci].end_s))
            tl.waits.append(Wait(prev, wake, wait_ci))
            start = wake
        if e > start:
            tl.pieces.append(Piece(start, e, lab))
        prev = max(prev, e)
