"""Host-side context of every CUDA runtime call in a Kineto trace.

A kernel names the runtime call that launched it by ``args.correlation``; that call sits on a
host thread inside a stack of host ops (``cpu_op`` / ``user_annotation``: ``c10d::allreduce_``
> ``record_param_comms`` > ``nccl:all_reduce`` > ``cudaLaunchKernel``). :func:`index_host`
sweeps each thread once (events sorted by start, longest first; a stack of open ops) and keeps,
per runtime call, the ops enclosing it, innermost last. Kernels whose launch is missing from
the trace can still be tied to a host op by ``External id``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from simulator.traces.events import Event, KinetoTrace

RUNTIME_CATS = ("cuda_runtime", "cuda_driver")
DEVICE_CATS = ("kernel", "gpu_memcpy", "gpu_memset", "gpu_user_annotation")


@dataclass(frozen=True, slots=True)
class Launch:
    """A runtime call (``cudaLaunchKernel``, ``cudaStreamWaitEvent``...) and its host stack."""

    call: Event
    stack: tuple[Event, ...]  # enclosing host ops, outermost first

    @property
    def tid(self) -> str:
        """Host thread of the call."""
        return self.call.tid

    def names(self) -> list[str]:
        """Names of the enclosing host ops, outermost first."""
        return [e.name for e in self.stack]


@dataclass
class HostIndex:
    """Runtime calls by correlation id, in host-time order, and host ops by External id."""

    by_corr: dict[object, Launch] = field(default_factory=dict)
    calls: list[Launch] = field(default_factory=list)
    by_ext: dict[object, Event] = field(default_factory=dict)


def index_host(trace: KinetoTrace) -> HostIndex:
    """Index every runtime call of ``trace`` with the host ops that enclose it."""
    idx = HostIndex()
    per_tid: dict[str, list[Event]] = defaultdict(list)
    for e in trace.events:
        if e.cat in DEVICE_CATS:
            continue
        per_tid[e.tid].append(e)
        if e.cat not in RUNTIME_CATS:
            ext = e.args.get("External id")
            if ext is not None and ext not in idx.by_ext:
                idx.by_ext[ext] = e
    for evs in per_tid.values():
        stack: list[Event] = []
        for e in evs:  # trace.events is sorted by (start, -dur)
            if stack and stack[-1].end_s < e.start_s:
                stack = [s for s in stack if s.end_s >= e.start_s]
            if e.cat in RUNTIME_CATS:
                launch = Launch(e, tuple(stack))
                idx.calls.append(launch)
                corr = e.args.get("correlation")
                if corr is not None:
                    idx.by_corr[corr] = launch
            else:
                stack.append(e)
    idx.calls.sort(key=lambda c: (c.call.start_s, c.call.index))
    return idx
