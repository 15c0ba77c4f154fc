"""What an NCCL kernel of a Kineto trace is: its collective, size, dtype and group.

Where each fact can be found (first hit wins, in this order):

1. the kernel's own ``args`` (PyTorch >= ~2.1, "new format"): ``Collective name``,
   ``In msg nelems``, ``Out msg nelems``, ``dtype``, ``Group size``, ``Process Group Name``,
   ``Process Group Ranks``;
2. the host ops around the kernel's launch (found through ``correlation``, else
   ``External id``), innermost first: ``record_param_comms`` with the same arguments;
   ``nccl:<op>`` annotations (``Input Dims``/``Input type`` of the input tensor, when the
   profiler recorded shapes); ``c10d::<op>`` ops (``Input Dims``; for the ``_base`` and
   ``_into_tensor`` ops argument 0 is the output and argument 1 the input);
3. the kernel's name (``ncclKernel_AllReduce_...``, ``ncclDevKernel_AllGather_...``) for the
   kind only. ``SendRecv`` kernels carry no kind: NCCL runs all_to_all, send/recv, and on
   some versions even all-reduce or all-gather as SendRecv kernels, so the host op decides.

Groups: the ranks listed in the kernel or ``record_param_comms``; else the process group of
that name in ``distributedInfo.pg_config``; else the evenly spaced group that a cut list's head
(torch writes ``"[0, 8, ..., 232, ...]"`` for groups of more than 30 ranks) or ``Global rank
start``/``Global rank stride`` give with ``Group size``; else a group size (``Group size``, or the
output/input element ratio of an all-gather / reduce-scatter) smaller than the world means
the contiguous block of that size holding the rank (counted in the summary as an
assumption); else the world.

A collective whose size appears nowhere is refused (:class:`~simulator.core.errors.InputError`):
simulating it as 0 bytes would silently remove its communication.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass
from typing import Any

from simulator.core.errors import InputError
from simulator.core.vocab import CollectiveOp
from simulator.traces.events import US, Event, ImportSummary, dtype_size_B
from simulator.traces.hostops import Launch

NCCL_KERNEL_RE = re.compile(r"^nccl(?:Dev)?Kernel_([A-Za-z]+)")
#: Normalised collective names (lower case, no underscores, no ``base``/``coalesced``/
#: ``intotensor``) -> IR op, or ``"send"``/``"recv"``.
KINDS: dict[str, CollectiveOp | str] = {
    "allreduce": CollectiveOp.ALL_REDUCE,
    "alltoall": CollectiveOp.ALL_TO_ALL,
    "alltoallv": CollectiveOp.ALL_TO_ALL,
    "allgather": CollectiveOp.ALL_GATHER,
    "reducescatter": CollectiveOp.REDUCE_SCATTER,
    "broadcast": CollectiveOp.BROADCAST,
    "reduce": CollectiveOp.REDUCE,
    "barrier": CollectiveOp.BARRIER,
    "send": "send",
    "recv": "recv",
    "recvanysource": "recv",
}
HOST_RE = re.compile(r"^(?:nccl:|c10d::)(\w+)$")


def normalise(name: str) -> str:
    """``_allgather_base`` -> ``allgather``; ``all_to_all`` -> ``alltoall``."""
    n = name.lower().replace("_", "")
    for junk in ("coalesced", "intotensor", "base", "single"):
        n = n.replace(junk, "")
    return n


def kind_of(name: str) -> CollectiveOp | str | None:
    """IR op of a collective name (c10d, nccl: annotation, or kernel part), or None."""
    return KINDS.get(normalise(name))


@dataclass
class Facts:
    """What is known of one collective; fields are None until some source gives them."""

    kind: CollectiveOp | str | None = None
    n_in: int | None = None
    n_out: int | None = None
    itemsize: int | None = None
    ranks: tuple[int, ...] | None = None
    #: the first ranks of a list torch cut short (``"[0, 8, ..., 232, ...]"``: > 30 ranks)
    ranks_head: tuple[int, ...] | None = None
    #: ``Global rank start`` / ``Global rank stride`` (torch ~2.1-2.3; stride -1: uneven)
    rank_start: int | None = None
    rank_stride: int | None = None
    pg_name: str | None = None
    group_size: int | None = None
    src: int | None = None
    dst: int | None = None
    source: str | None = None  # the host op (or kernel) the size came from

    def take(self, **kw: Any) -> None:
        """Set every field given (not None) that is still unknown."""
        for k, v in kw.items():
            if v is not None and getattr(self, k) is None:
                setattr(self, k, v)


def _int(v: object) -> int | None:
    try:
        return None if v is None or isinstance(v, bool) else int(str(v))
    except ValueError:
        return None


def _rank_list(v: object) -> tuple[int, ...] | None:
    """A complete list of ranks (a JSON list or its text), else None."""
    vals = _rank_items(v)
    if vals is None or Ellipsis in vals:
        return None
    try:
        out = tuple(int(x) for x in vals)
    except (TypeError, ValueError):
        return None
    return out or None


def _rank_head(v: object) -> tuple[int, ...] | None:
    """The ranks before the ``...`` of a list torch's profiler cut short (it writes the first
    30 ranks of a larger group, then ``...``), else None."""
    vals = _rank_items(v)
    if not vals or vals[-1] is not Ellipsis:
        return None
    try:
        return tuple(int(x) for x in vals[:-1]) or None
    except (TypeError, ValueError):
        return None


def _rank_items(v: object) -> list[Any] | None:
    if isinstance(v, list):
        vals = v
    elif isinstance(v, str) and v.strip().startswith("["):
        try:
            vals = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            return None
    else:
        return None
    return list(vals) if isinstance(vals, (list, tuple)) else None


def _elems(dims: object) -> int | None:
    """Elements of one ``Input Dims`` entry (a shape); None for an empty/untyped entry."""
    if not isinstance(dims, list) or not dims or not all(isinstance(d, int) for d in dims):
        return None
    n = 1
    for d in dims:
        n *= d
    return n


def _from_metadata(f: Facts, a: dict[str, Any], where: str) -> None:
    """Read ``record_param_comms``-style arguments (kernel or host op)."""
    name = a.get("Collective name")
    f.take(kind=kind_of(str(name)) if name else None)
    n_in, n_out = _int(a.get("In msg nelems")), _int(a.get("Out msg nelems"))
    item = dtype_size_B(str(a.get("dtype", ""))) if "dtype" in a else None
    if (n_in or n_out) and item and f.n_in is None and f.n_out is None:
        f.take(n_in=n_in, n_out=n_out, itemsize=item, source=where)
    f.take(
        ranks=_rank_list(a.get("Process Group Ranks")),
        ranks_head=_rank_head(a.get("Process Group Ranks")),
        rank_start=_int(a.get("Global rank start")),
        rank_stride=_int(a.get("Global rank stride")),
        pg_name=str(a["Process Group Name"]) if "Process Group Name" in a else None,
        group_size=_int(a.get("Group size")),
        src=_int(a.get("Src Rank")),
        dst=_int(a.get("Dst Rank")),
    )


def _from_shapes(f: Facts, e: Event, op: str) -> None:
    """Sizes from an op's ``Input Dims`` / ``Input type`` (recorded with shapes)."""
    dims = e.args.get("Input Dims")
    types = e.args.get("Input type") or []
    if not isinstance(dims, list):
        return

    def at(i: int) -> tuple[int | None, int | None]:
        if i >= len(dims):
            return None, None
        t = types[i] if i < len(types) else ""
        return _elems(dims[i]), dtype_size_B(str(t))

    if e.name.startswith("c10d::") and ("base" in op or "into_tensor" in op):
        (n_out, item_o), (n_in, item_i) = at(0), at(1)
        item = item_i or item_o
        if item and (n_in or n_out):
            f.take(n_in=n_in, n_out=n_out, itemsize=item, source=e.name)
        return
    n0, item0 = at(0)
    if n0 and item0:
        f.take(n_in=n0, itemsize=item0, source=e.name)


def gather_facts(kernel: Event, launch: Launch | None, host: Event | None) -> Facts:
    """Everything the kernel, its launch's host stack (or ``host``) say of the collective."""
    f = Facts()
    _from_metadata(f, kernel.args, "kernel")
    stack: list[Event] = list(reversed(launch.stack)) if launch is not None else []
    if host is not None and not stack:
        stack = [host]
    for e in stack:  # innermost first
        if e.name == "record_param_comms" or "Collective name" in e.args:
            _from_metadata(f, e.args, e.name)
            continue
        m = HOST_RE.match(e.name)
        if m is None:
            continue
        op = m.group(1)
        f.take(kind=kind_of(op))
        _from_shapes(f, e, op)
    m = NCCL_KERNEL_RE.match(kernel.name)
    if m and f.kind is None:
        f.take(kind=kind_of(m.group(1)))
    return f


def group_of(
    f: Facts, rank: int, world: int, pg_config: dict[str, tuple[int, ...]], summary: ImportSummary
) -> tuple[int, ...]:
    """The collective's global ranks (see the module docstring for the order of sources)."""
    if f.ranks:
        return f.ranks
    if f.pg_name is not None and f.pg_name in pg_config:
        return pg_config[f.pg_name]
    strided = _strided(f, rank, world)
    if strided is not None:
        # until 2026-12-06 a cut list was unread and a strided group (the data-parallel group
        # of a TP x DP job: 0, 8, 16, ...) taken for the contiguous block holding the rank
        summary.roles["group-from-rank-stride"] += 1
        return strided
    g = f.group_size
    if g is None and f.n_in and f.n_out and f.n_in != f.n_out:
        big, small = max(f.n_in, f.n_out), min(f.n_in, f.n_out)
        if f.kind in (CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER) and big % small == 0:
            g = big // small
    if g is None or g >= world or g <= 0:
        return tuple(range(world))
    summary.roles["group-assumed-contiguous"] += 1
    first = rank // g * g
    return tuple(range(first, first + g))


def _strided(f: Facts, rank: int, world: int) -> tuple[int, ...] | None:
    """The group of ``Group size`` ranks that the trace gives by its first rank and stride: a
    cut ``Process Group Ranks`` whose head is evenly spaced, else ``Global rank start`` /
    ``Global rank stride`` (a stride below 1 means torch found the ranks unevenly spaced).
    None when neither gives a group within the world that holds ``rank``."""
    g = f.group_size
    if g is None or g <= 1 or (f.rank_stride is not None and f.rank_stride < 1):
        return None
    head = f.ranks_head
    if head is not None:
        if len(head) >= g:
            group = head[:g]
            return group if rank in group and max(group) < world else None
        if len(head) < 2:
            return None
        step = head[1] - head[0]
        if any(b - a != step for a, b in itertools.pairwise(head)):
            return None
        start = head[0]
    elif f.rank_start is not None and f.rank_stride is not None:
        start, step = f.rank_start, f.rank_stride
    else:
        return None
    if step < 1 or start < 0:
        return None
    group = tuple(start + step * i for i in range(g))
    return group if rank in group and group[-1] < world else None


def size_of(f: Facts, group: tuple[int, ...]) -> float | None:
    """Bytes in the IR's (nccl-tests') convention, or None when the trace holds no size."""
    if f.kind is CollectiveOp.BARRIER:
        return 0.0
    if f.itemsize is None or (f.n_in is None and f.n_out is None):
        return None
    n = len(group)
    if f.kind is CollectiveOp.ALL_GATHER:
        elems = f.n_out if f.n_out else (f.n_in or 0) * n
    elif f.kind is CollectiveOp.REDUCE_SCATTER:
        elems = f.n_in if f.n_in else (f.n_out or 0) * n
    elif f.kind in ("recv", CollectiveOp.ALL_TO_ALL):
        # all_to_allv: a rank may send nothing and still receive; the larger side bounds it
        elems = max(f.n_in or 0, f.n_out or 0)
    else:
        elems = f.n_in if f.n_in else (f.n_out or 0)
    return float(elems * f.itemsize)


def checked_size(path: str, kernel: Event, f: Facts, size: float) -> float:
    """``size`` (bytes) of the kernel's collective, refused when no GPU could hold it: below 0
    (``In msg nelems: -5``) or above the largest catalogue GPU's memory (``10**30`` elements
    predicted a step of 10^25 ms), the bound ``commsim collective --size`` keeps too."""
    from simulator.hardware import largest_gpu_hbm_B

    largest = largest_gpu_hbm_B()
    if 0 <= size <= largest:
        return size
    where = "the kernel's args" if f.source == "kernel" else (f.source or "the host op")
    raise InputError(
        f"NCCL kernel {kernel.name.split('(')[0]} at ts {kernel.start_s / US:.0f} us: a message "
        f"of {size:g} bytes (from {where}: In/Out msg nelems x dtype) is not between 0 and "
        f"{largest:g} (the largest catalogue GPU's memory)",
        file=path,
        field="In msg nelems",
    )


def refuse(path: str, kernel: Event, f: Facts, what: str) -> InputError:
    """The error for a collective the trace does not describe enough to simulate."""
    host = f.source or "no host op with shapes"
    return InputError(
        f"{what} for NCCL kernel {kernel.name.split('(')[0]} at ts {kernel.start_s / US:.0f} us "
        f"(kind {f.kind}; looked in the kernel args, record_param_comms, nccl:/c10d:: host ops: "
        f"{host}); re-record with torch.profiler(record_shapes=True) or PyTorch >= 2.1",
        file=path,
    )
