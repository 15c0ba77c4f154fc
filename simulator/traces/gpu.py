"""Step timelines from a GPU (NCCL) Kineto trace.

What a CUDA + NCCL Kineto trace holds (field names as torch's profiler writes them):

* host ``cpu_op`` / ``user_annotation`` events on the training thread and on autograd's own
  threads (``pt_autograd_0``...: backward runs there on CUDA), ``ProfilerStep#i`` markers;
* ``cuda_runtime`` / ``cuda_driver`` calls (``cudaLaunchKernel``, ``cudaStreamWaitEvent``,
  ``cudaDeviceSynchronize``...) whose ``args.correlation`` names the kernel they launched;
* ``kernel`` events on the device (``tid`` = stream) with ``args.correlation``. NCCL kernels
  are ``ncclKernel_<Op>_...`` / ``ncclDevKernel_<Op>_...``; what they are is resolved by
  :mod:`simulator.traces.nccl` (kernel args, else the host ops around their launch).

Model (see docs/traces.md, "GPU"):

* The compute lane is the union of non-NCCL kernels (any stream), in device time. Each step is
  the ``ProfilerStep`` window of the host; a kernel belongs to the step its launch lies in.
* An NCCL kernel depends on the compute launched before it: ProcessGroupNCCL makes the NCCL
  stream wait for the current stream at launch (the ``cudaStreamWaitEvent`` inside the
  collective's host op), so its cut point on the lane is the end of the last compute kernel
  launched before it.
* Compute waits for communication only where the trace shows it: a ``cudaStreamWaitEvent``
  issued outside any collective's host op (``Work.wait()``: DDP's reducer at the end of
  backward, FSDP, explicit waits) waits for the earliest collective launched before it *from
  the same host thread* and not yet waited for (work handles are waited in launch order by the
  thread that launched them; the ``wait_on_cuda_event_record_corr_id`` argument, when the trace
  has it, names the collective exactly). Waits inside a collective's host op are
  ProcessGroupNCCL's own stream syncs around the launch, whose direction the trace does not
  say; they are not used. A host synchronisation (``cudaDeviceSynchronize``,
  ``cudaStreamSynchronize``, ``cudaEventSynchronize``) waits for every collective launched
  before it. The first compute kernel launched after the wait is the one that waits.
* Labels come from the launch's host stack: under ``Optimizer.step`` -> optim; under
  ``autograd::engine`` or launched from a thread other than the step thread (autograd's) ->
  bwd; under ``commsim.fwd.layerL`` -> fwd of layer L; else fwd before the step's first
  backward launch, other after it.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from simulator.core.errors import InputError
from simulator.core.vocab import CollectiveOp
from simulator.traces.cpu import LAYER_RE, main_thread, step_windows
from simulator.traces.events import Event, ImportSummary, KinetoTrace
from simulator.traces.hostops import HostIndex, Launch, index_host
from simulator.traces.nccl import checked_size, gather_facts, group_of, refuse, size_of
from simulator.traces.timeline import CommEvent, Label, Piece, StepTimeline, Wait

#: stream waits and host synchronisations, CUDA and ROCm (HIP names, as ROCm's Kineto writes
#: them under ``cuda_runtime``: HTA's ``amd_trace`` MI250 trace has ``hipDeviceSynchronize``)
WAIT_CALLS = ("cudaStreamWaitEvent", "cuStreamWaitEvent", "hipStreamWaitEvent")
SYNC_CALLS = (
    "cudaDeviceSynchronize",
    "cudaStreamSynchronize",
    "cudaEventSynchronize",
    "hipDeviceSynchronize",
    "hipStreamSynchronize",
    "hipEventSynchronize",
)


#: Kernel name prefixes of NCCL and RCCL collectives: RCCL's MSCCL kernels are
#: ``mscclKernel_<redop>_<type>_<proto>[_<fullOps>]`` (``MSCCL_KERNEL_ENTRY_NAME`` in RCCL's
#: ``msccl_kernel.h``); like SendRecv kernels, their kind comes from the host op.
NCCL_KERNEL_PREFIXES = ("ncclDevKernel_", "ncclKernel_", "mscclKernel_")


def _is_nccl(e: Event) -> bool:
    return e.name.startswith(NCCL_KERNEL_PREFIXES) or "Collective name" in e.args


def _in_collective(launch: Launch) -> bool:
    return any(
        e.name == "record_param_comms" or e.name.startswith(("nccl:", "c10d::"))
        for e in launch.stack
    )


@dataclass(slots=True)
class _Kernel:
    ev: Event
    launch_s: float  # host time of the launch (kernel start when the launch is missing)
    launch: Launch | None


def pg_config(trace: KinetoTrace) -> dict[str, tuple[int, ...]]:
    """Process groups by name from ``distributedInfo.pg_config`` (empty when absent)."""
    out: dict[str, tuple[int, ...]] = {}
    cfg = trace.distributed_info.get("pg_config")
    if isinstance(cfg, dict):
        cfg = list(cfg.values())
    for pg in cfg if isinstance(cfg, list) else []:
        if isinstance(pg, dict) and isinstance(pg.get("ranks"), list):
            try:
                out[str(pg.get("pg_name"))] = tuple(int(r) for r in pg["ranks"])
            except (TypeError, ValueError):
                continue
    return out


def gpu_timelines(
    trace: KinetoTrace, rank: int, world: int, summary: ImportSummary
) -> list[StepTimeline]:
    """One :class:`StepTimeline` per ``ProfilerStep`` of a CUDA/NCCL trace of ``rank``.

    Raises:
        InputError: a collective whose size is nowhere in the trace.
    """
    tid = main_thread(trace)
    windows = step_windows(trace, tid)
    host = index_host(trace)
    pgs = pg_config(trace)
    kernels = _device_work(trace, host, summary)
    _note_comm_like(trace, kernels, summary)
    win_starts = [w[1] for w in windows]
    per_step: list[list[_Kernel]] = [[] for _ in windows]
    for k in kernels:
        i = bisect_right(win_starts, k.launch_s) - 1
        if i < 0 or k.launch_s > windows[i][2]:
            before = k.launch_s == -math.inf
            summary.skipped["kernel-launched-before-trace" if before else
                            "kernel-outside-measured-steps"] += 1  # fmt: skip
            continue
        per_step[i].append(k)
    out: list[StepTimeline] = []
    ctx = _Ctx(trace, host, tid, rank, world, pgs, summary)
    for i, (idx, s0, s1) in enumerate(windows):
        ks = per_step[i]
        # the GPU runs behind the host: the step's lane starts when the GPU is done with
        # the previous step's kernels (that tail is the previous step's time, not this one's)
        gpu_free = out[-1].end_s if out else _earlier_work_end(kernels, ks, s0, summary)
        tl = StepTimeline(
            rank=rank,
            step=idx,
            start_s=max(s0, gpu_free),
            end_s=max([s1, *(k.ev.end_s for k in ks)]),
            wall_s=s1 - s0,
        )
        _fill(tl, ks, ctx, (s0, s1))
        out.append(tl)
    if out:
        _note_last_tail(trace, out[-1], windows[-1][2], summary)
    _note_left_out(trace, ctx.left_out, summary)
    return out


def _device_work(trace: KinetoTrace, host: HostIndex, summary: ImportSummary) -> list[_Kernel]:
    """The trace's kernels, copies and memsets with their launches; other events counted.

    A kernel whose launch is not in the trace but whose ``correlation`` is below every runtime
    call's of the trace was launched before the profiler started (CUPTI numbers correlations
    in launch order): it is earlier work, like a kernel launched before the first step
    (``launch_s`` = -inf). HTA's ``trace_diff/test.json.gz`` starts with 4 such NCCL kernels
    (10.7 ms of all_to_all and all-reduce launched in the unrecorded step before): until
    2026-12-06 they were put in the first step, where nothing gives their size, and the whole
    6-step file was refused. A kernel without launch whose correlation is not below is left in
    the step its start time falls in, as before (its launch may just be missing).
    """
    first_corr = min(
        (c for c in host.by_corr if isinstance(c, int) and not isinstance(c, bool)), default=None
    )
    kernels: list[_Kernel] = []
    for e in trace.events:
        if e.cat in ("kernel", "gpu_memcpy", "gpu_memset"):
            corr = e.args.get("correlation")
            launch = host.by_corr.get(corr)
            at = launch.call.start_s if launch else e.start_s
            if launch is None and isinstance(corr, int) and first_corr is not None:
                at = -math.inf if corr < first_corr else at
            kernels.append(_Kernel(e, at, launch))
        elif e.cat in ("cuda_runtime", "cuda_driver"):
            summary.used["runtime-call"] += 1
        elif e.cat == "gpu_user_annotation":
            summary.skipped["gpu-annotation"] += 1
        elif e.cat in ("cpu_op", "user_annotation", "python_function"):
            summary.used["host-op"] += 1
        else:
            summary.skipped[f"host:{e.cat or 'uncategorised'}"] += 1
    return kernels


def _note_last_tail(
    trace: KinetoTrace, last: StepTimeline, host_end_s: float, summary: ImportSummary
) -> None:
    """Say when the last step's GPU work outlasts its ProfilerStep by over 1 % of its wall
    time (a reporting threshold): its kernels end after the step, and that tail is simulated
    as the step's while the measured step is the host's; a later step would absorb it, the
    last one cannot (HTA's ``hta-a2a-2``: 157.4 ms of GPU work for a 100.3 ms step)."""
    span, wall = last.end_s - last.start_s, last.wall_s
    if wall is None or span - wall <= 0.01 * wall or last.end_s <= host_end_s:
        return
    summary.roles["gpu-tail-after-last-step"] += 1
    summary.notes.append(
        f"{Path(trace.path).name}: the last step's kernels end "
        f"{(last.end_s - host_end_s) * 1e3:.1f} ms after its ProfilerStep: the GPU runs behind "
        f"the host, and the step's GPU work ({span * 1e3:.1f} ms) is what is simulated, "
        f"against {wall * 1e3:.1f} ms measured on the host; replay more steps to see "
        "the steady state"
    )


#: kernel names of communication libraries other than NCCL/RCCL/MSCCL: DeepEP (DeepSeek's
#: ``dpsk::ep::internode::dispatch``), NVSHMEM, TransformerEngine's userbuffers, MSCCL++, and
#: custom all-reduces (vLLM's ``cross_device_reduce_1stage``, TensorRT-LLM's ``allReduce``...)
COMM_LIKE_RE = re.compile(
    r"nvshmem|deep_?ep|::ep::(?:internode|intranode)|userbuffers|mscclpp|cross_device_reduce"
    r"|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all",
    re.IGNORECASE,
)


def _note_left_out(trace: KinetoTrace, left: list[_Kernel], summary: ImportSummary) -> None:
    """Say that NCCL kernels whose kind nothing gives are left out, with their device time
    and the host op they were launched under. A batched send/recv or coalesced collective is
    launched by ``ncclGroupEnd`` under ``nccl:coalesced``, after the ops' own
    ``record_param_comms`` have closed, and its kernel carries no metadata (pytorch/pytorch
    issue 194693, mlcommons/chakra issue 178); until 2026-12-06 only ``unknown`` counted them
    and the text output said nothing."""
    if not left:
        return
    names = Counter(k.ev.name.split("(")[0][:50] for k in left)
    hosts = Counter(k.launch.stack[-1].name for k in left if k.launch and k.launch.stack)
    under = f" under {', '.join(h for h, _ in hosts.most_common(2))}" if hosts else ""
    busy_ms = sum(k.ev.dur_s for k in left) * 1e3
    summary.notes.append(
        f"{Path(trace.path).name}: {len(left)} NCCL kernel(s) of a kind nothing in the trace "
        f"gives ({', '.join(n for n, _ in names.most_common(2))}{under}; {busy_ms:.3f} ms on "
        "the GPU) are left out of the simulation"
    )


def _note_comm_like(trace: KinetoTrace, kernels: list[_Kernel], summary: ImportSummary) -> None:
    """Say once that kernels which look like communication outside NCCL are compute here:
    nothing in the trace gives their size or group (DeepSeek's ``train.json``: 32 DeepEP
    kernels; before 2026-12-06 nothing said so)."""
    names = Counter(
        k.ev.name for k in kernels if not _is_nccl(k.ev) and COMM_LIKE_RE.search(k.ev.name)
    )
    if not names:
        return
    summary.roles["comm-like-kernel-as-compute"] += sum(names.values())
    short = Counter(n.removeprefix("void ").split("(")[0].split("<")[0][:60] for n in names)
    shown = ", ".join(n for n, _ in short.most_common(3))
    summary.notes.append(
        f"{Path(trace.path).name}: {sum(names.values())} kernels look like communication "
        f"outside NCCL ({shown}); nothing gives their size or group, so they are simulated "
        "as compute at their measured time"
    )


def _earlier_work_end(
    kernels: list[_Kernel], ks: list[_Kernel], s0: float, summary: ImportSummary
) -> float:
    """When the GPU was done with work launched before the first measured step (s).

    That work is an unmeasured step's (a profiler schedule's warm-up, or a step trimmed
    away), so the first step's lane starts after it: after the kernels in the trace launched
    before ``s0``, and, since such work need not be in the trace, after what held the step's
    first kernel. A kernel waits after its launch for the GPU's earlier work or for the
    launch itself; the longest wait of a kernel launched onto an idle GPU in this trace
    (:func:`_idle_launch_wait`) is the launch's, the rest of the first kernel's wait is
    earlier work (HTA's ``ns_resolution_trace`` step 103: 88.687 ms, no launch onto an idle
    GPU in the step). Unless the host waited for it: a launch call that returned only once
    its copy or kernel had started (a pageable ``cudaMemcpyAsync``: Kineto's 2021 ResNet-50
    sample with 4 loader workers, 36.4 ms) kept the earlier work inside the measured step,
    and it stays there. Before 2026-12-06 the lane started at ``s0`` and a one-step replay
    counted the earlier work as the step's (``hta-autograd-1``: +93.5 %).
    """
    first = min((k for k in ks if k.launch is not None), key=lambda k: k.launch_s, default=None)
    if first is None or first.launch is None:
        return s0
    if first.launch.call.end_s >= first.ev.start_s:
        return s0  # the host waited in the launch call: the wait is the measured step's
    free = max((k.ev.end_s for k in kernels if k.launch_s < s0), default=s0)
    held = first.ev.start_s - first.launch.call.end_s - _idle_launch_wait(kernels)
    free = max(free, s0 + held)
    if free > s0:
        summary.roles["gpu-busy-before-first-step"] += 1
    return free


def _idle_launch_wait(kernels: list[_Kernel]) -> float:
    """Longest time (s) from launch to start of a kernel launched when every kernel that
    started before it had ended (the GPU was idle); 0 when the GPU was never seen idle. The
    trace's first kernel is not counted: what ran before it is unknown. On the real fixtures
    10-160 us on idle GPUs (``tests/fixtures/real``), up to 6.5 ms where the launch waited
    for something else (a copy's host buffer, an event)."""
    busy_until: float | None = None
    longest = 0.0
    for k in sorted((k for k in kernels if k.launch is not None), key=lambda k: k.ev.start_s):
        if busy_until is not None and busy_until < k.launch_s:
            longest = max(longest, k.ev.start_s - k.launch_s)
        busy_until = k.ev.end_s if busy_until is None else max(busy_until, k.ev.end_s)
    return longest


def _label(k: _Kernel, main_tid: str, bwd_from: float) -> Label:
    names = k.launch.names() if k.launch is not None else []
    if any(n.startswith("Optimizer.step") for n in names):
        return Label("optim")
    if k.launch is not None and (
        k.launch.tid != main_tid or any(n.startswith("autograd::engine") for n in names)
    ):
        return Label("bwd")
    for n in reversed(names):
        m = LAYER_RE.match(n)
        if m:
            return Label("fwd", int(m.group(1)))
    return Label("fwd") if k.launch_s < bwd_from else Label("other")


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What every step of one rank's trace shares."""

    trace: KinetoTrace
    host: HostIndex
    main_tid: str
    rank: int
    world: int
    pgs: dict[str, tuple[int, ...]]
    summary: ImportSummary
    left_out: list[_Kernel] = field(default_factory=list)  # NCCL kernels of unknown kind


def _fill(tl: StepTimeline, ks: list[_Kernel], ctx: _Ctx, window: tuple[float, float]) -> None:
    """Comms, labelled compute pieces and proven waits of one step."""
    trace, host, main_tid, summary = ctx.trace, ctx.host, ctx.main_tid, ctx.summary
    rank, world, pgs = ctx.rank, ctx.world, ctx.pgs
    compute = sorted((k for k in ks if not _is_nccl(k.ev)), key=lambda k: k.launch_s)
    comm_ks = sorted((k for k in ks if _is_nccl(k.ev)), key=lambda k: k.launch_s)
    bwd_from = min(
        (
            k.launch_s
            for k in compute
            if k.launch is not None
            and (
                k.launch.tid != main_tid
                or any(n.startswith("autograd::engine") for n in k.launch.names())
            )
        ),
        default=float("inf"),
    )
    # cut point of a launch on the lane: end of the compute launched before it
    c_launch = [k.launch_s for k in compute]
    run_end: list[float] = []
    m = tl.start_s
    for k in compute:
        m = max(m, k.ev.end_s)
        run_end.append(m)

    def cut(host_s: float) -> float:
        j = bisect_left(c_launch, host_s)
        return run_end[j - 1] if j > 0 else tl.start_s

    comm_launch: list[float] = []
    comm_tid: list[str | None] = []
    known: list[_Kernel] = []
    for k in comm_ks:
        c = _comm(k, trace, host, rank, world, pgs, summary, len(tl.comms))
        if c is None:
            ctx.left_out.append(k)
            continue
        known.append(k)
        c.launch_s = cut(k.launch_s)
        tl.comms.append(c)
        comm_launch.append(k.launch_s)
        comm_tid.append(k.launch.tid if k.launch is not None else None)
        summary.used["comm-kernel"] += 1
    # proven waits: (host time, comm index, end of the host synchronisation, else None)
    waits: list[tuple[float, int, float | None]] = []
    waited: set[int] = set()
    launches_by_corr = {
        k.launch.call.args.get("correlation"): j for j, k in enumerate(known) if k.launch
    }
    for call in host.calls:
        t = call.call.start_s
        if not window[0] <= t <= window[1] or not tl.comms:
            continue
        name = call.call.name
        if name in WAIT_CALLS and not _in_collective(call):
            target = _wait_target(call, host, launches_by_corr)
            if target is None:
                open_ = [
                    j
                    for j, lt in enumerate(comm_launch)
                    if lt < t and j not in waited and comm_tid[j] == call.tid
                ]
                target = open_[0] if open_ else None
            if target is None:
                summary.skipped["stream-wait-not-on-comm"] += 1
                continue
            waited.add(target)
            waits.append((t, target, None))
            summary.roles["wait-stream"] += 1
        elif name in SYNC_CALLS:
            for j, lt in enumerate(comm_launch):
                if lt < t and j not in waited:
                    waited.add(j)
                    waits.append((t, j, call.call.end_s))
                    summary.roles["wait-host-sync"] += 1
    _lane(tl, compute, waits, main_tid, bwd_from, summary)


def _block_host(
    first_at: dict[int, Wait], blocking: dict[int, tuple[list[int], float, float]]
) -> None:
    """Split the host region of each wait that a host synchronisation opened: host work
    until the sync call (``host_pre_s``), the blocked time (left to the simulation: the
    comms and GPU work it waits for), then host work from the sync's return to the region's
    end (``host_region_s``). Before 2026-12-05 the host ran on through a sync."""
    for kid, (cis, t0, t1) in blocking.items():
        w = first_at.get(kid)
        if w is None or w.host_region_s is None:
            continue
        end = w.start_s + w.host_region_s
        w.host_blocked_on = list(cis)
        w.host_pre_s = min(max(0.0, t0 - w.start_s), w.host_region_s)
        w.host_region_s = max(0.0, end - max(t1, w.start_s))


def _wait_target(call: Launch, host: HostIndex, by_corr: dict[object, int]) -> int | None:
    """The collective a stream wait names (newer Kineto), or None when it names none."""
    rec = call.call.args.get("wait_on_cuda_event_record_corr_id")
    if rec is None:
        return None
    record = host.by_corr.get(rec)
    if record is None:
        return None
    # the event was recorded inside the collective's host op, after its kernel's launch
    best: int | None = None
    for corr, j in by_corr.items():
        launch = host.by_corr.get(corr)
        if (
            launch is not None
            and launch.call.start_s <= record.call.start_s
            and (best is None or j > best)
        ):
            best = j
    return best


def _comm(
    k: _Kernel,
    trace: KinetoTrace,
    host: HostIndex,
    rank: int,
    world: int,
    pgs: dict[str, tuple[int, ...]],
    summary: ImportSummary,
    n: int,
) -> CommEvent | None:
    """The kernel's communication op; None (reported) for an NCCL kernel of unknown kind."""
    ext = host.by_ext.get(k.ev.args.get("External id")) if k.launch is None else None
    f = gather_facts(k.ev, k.launch, ext)
    if f.kind is None:
        summary.unknown[f"nccl:{k.ev.name[:60]}"] += 1
        summary.skipped["unknown-nccl-kernel"] += 1
        return None
    summary.roles[f"size-from:{'kernel' if f.source == 'kernel' else 'host-op'}"] += 1
    op: CollectiveOp | str = f.kind
    if op in ("send", "recv"):
        peer = f.dst if op == "send" else f.src
        size = size_of(f, ())
        if size is None:
            raise refuse(trace.path, k.ev, f, f"no size for {op}")
        size = checked_size(trace.path, k.ev, f, size)
        if peer is None:
            summary.unknown["p2p-peer-missing"] += 1
        return CommEvent(
            op=op,
            size_B=size,
            launch_s=k.ev.start_s,
            start_s=k.ev.start_s,
            end_s=k.ev.end_s,
            stream=f"comm.{k.ev.tid}",
            name=f"{op}.{n}",
            peer=-1 if peer is None else peer,
        )
    group = group_of(f, rank, world, pgs, summary)
    if rank not in group:
        raise InputError(
            f"collective at ts {k.ev.start_s * 1e6:.0f} us lists ranks {list(group)} "
            f"without this rank ({rank})",
            file=trace.path,
        )
    size = size_of(f, group)
    if size is None:
        raise refuse(trace.path, k.ev, f, f"no size for {op}")
    size = checked_size(trace.path, k.ev, f, size)
    return CommEvent(
        op=op,
        size_B=size,
        launch_s=k.ev.start_s,
        start_s=k.ev.start_s,
        end_s=k.ev.end_s,
        stream=f"comm.{k.ev.tid}",
        name=f"{op}.{n}",
        group=group,
        elems=f.n_in or 0,
    )


def _lane(
    tl: StepTimeline,
    compute: list[_Kernel],
    waits: list[tuple[float, int, float | None]],
    main_tid: str,
    bwd_from: float,
    summary: ImportSummary,
) -> None:
    """Union the compute kernels into pieces; place each proven wait before its kernel.

    Before the first wait, a piece is a kernel plus the lane gap before it (host time the GPU
    sat idle). From the first wait on, a piece is the kernel alone and the lane's wall time
    between consecutive waits (to the step's end for the last) is the host's region
    (``Wait.host_region_s``): the host keeps launching while the GPU waits, so on a slower
    network its launch gaps overlap the wait instead of adding to it. A host
    synchronisation blocks the host itself: the region opened at it starts only once the
    comms it waits for have ended (``Wait.host_blocked_on``).
    """
    launches = [k.launch_s for k in compute]
    at_kernel: dict[int, list[int]] = {}
    # per kernel: comms a host sync before it waits for, and the sync's (start, end)
    blocking: dict[int, tuple[list[int], float, float]] = {}
    trailing: list[int] = []
    for t, ci, sync_end in sorted(waits, key=lambda w: (w[0], w[1])):
        j = bisect_right(launches, t)
        if j < len(compute):
            at_kernel.setdefault(id(compute[j]), []).append(ci)
            if sync_end is not None:
                cis, t0, t1 = blocking.get(id(compute[j]), ([], t, sync_end))
                blocking[id(compute[j])] = ([*cis, ci], min(t0, t), max(t1, sync_end))
        else:
            trailing.append(ci)
    prev = tl.start_s
    opened: list[Wait] = []  # first wait of each host region, in lane order
    first_at: dict[int, Wait] = {}  # the same, by kernel
    for k in sorted(compute, key=lambda k: (k.ev.start_s, k.ev.index)):
        s, e = max(k.ev.start_s, tl.start_s), k.ev.end_s
        summary.used["compute-kernel"] += 1
        start = prev
        for j, ci in enumerate(at_kernel.get(id(k), [])):
            w = Wait(prev, prev, ci)
            tl.waits.append(w)
            if j == 0:
                opened.append(w)
                first_at[id(k)] = w
        if opened:
            start = max(prev, s)  # the gap is host time, held by the host region
        if e <= start:
            continue  # fully under an earlier kernel (concurrent streams)
        tl.pieces.append(Piece(start, e, _label(k, main_tid, bwd_from)))
        prev = max(prev, e)
    # host regions: wall time of the lane from each region's wait to the next one's
    # (the last to the step's end), so the host chain ends where the measured step ends
    ends = [w.start_s for w in opened[1:]] + [max(prev, tl.end_s)]
    for w, end in zip(opened, ends[: len(opened)], strict=True):
        w.host_region_s = max(0.0, end - w.start_s)
    _block_host(first_at, blocking)
    for ci in trailing:
        tl.waits.append(Wait(prev, max(prev, tl.comms[ci].end_s), ci))
    if not tl.waits and tl.end_s > prev:
        # no wait: nothing else holds the host's work after the last kernel (data loading,
        # zero_grad...) until the step's end; like the gaps before kernels, it stays on the
        # lane, labelled other (it is no layer's compute)
        tl.pieces.append(Piece(prev, tl.end_s, Label("other")))
        summary.roles["host-tail-after-last-kernel"] += 1
