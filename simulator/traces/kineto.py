"""Import a recorded trace directory (Kineto JSON per rank) into per-rank Programs.

Entry point: :func:`import_trace_dir`. The directory holds one Kineto trace per rank (any
file names; ``commsim record`` writes ``rank{r}.trace.json``) and, when written by
``commsim record``, a ``manifest.json`` (world, strategy, backend, measured step times).
CPU (gloo) traces go through
:mod:`simulator.traces.cpu`, GPU (NCCL) traces through :mod:`simulator.traces.gpu`; both
yield :class:`StepTimeline` s that :func:`~simulator.traces.timeline.build_program` turns
into Programs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.ir import Workload
from simulator.core.vocab import CollectiveOp
from simulator.limits import MAX_RANKS, check_limit
from simulator.traces.cpu import STEP_RE, cpu_timelines
from simulator.traces.et import ETIndex, load_et
from simulator.traces.events import ImportSummary, KinetoTrace, load_kineto
from simulator.traces.gpu import gpu_timelines, pg_config
from simulator.traces.jsonfile import read_json_file
from simulator.traces.mirror import mirror_timelines
from simulator.traces.sniff import et_has_times, et_pid, json_kind
from simulator.traces.timeline import StepTimeline, build_program


@dataclass
class ImportedTrace:
    """A trace directory imported: ``timelines[rank][k]`` is rank's k-th measured step."""

    path: str
    manifest: dict[str, Any]
    timelines: list[list[StepTimeline]]
    summary: ImportSummary
    kind: str  # "cpu" (gloo) or "gpu" (nccl)
    per_rank_summary: list[dict[str, Any]] = field(default_factory=list)
    #: steps whose ranks' collective sequences disagree (left out of replay and profiles)
    bad_steps: list[int] = field(default_factory=list)
    #: ranks absent from the directory, assumed to mirror given ones (``mirror_missing``)
    mirrored: list[int] = field(default_factory=list)

    @property
    def good_steps(self) -> list[int]:
        """Measured steps whose Programs are consistent across ranks."""
        return [k for k in range(self.num_steps) if k not in self.bad_steps]

    @property
    def world(self) -> int:
        """Number of ranks in the recording."""
        return len(self.timelines)

    @property
    def num_steps(self) -> int:
        """Measured steps present on every rank."""
        return min((len(t) for t in self.timelines), default=0)

    def workload(self, k: int) -> Workload:
        """The Programs of step ``k`` (0-based among measured steps) for every rank."""
        progs = [build_program(self.timelines[r][k])[0] for r in range(self.world)]
        return Workload(
            programs=progs,
            world=self.world,
            metadata={
                "source": "trace",
                "trace": self.path,
                "step": k,
                "strategy": self.manifest.get("strategy", "unknown"),
                "backend": self.manifest.get("backend", "unknown"),
            },
        )

    def measured_step_times_s(self) -> list[float]:
        """Per measured step: the slowest rank's wall time (manifest, else the markers)."""
        per_rank = self.manifest.get("step_times_s")
        if per_rank:
            return [max(r[k] for r in per_rank) for k in range(min(len(r) for r in per_rank))]
        return [max(t[k].duration_s for t in self.timelines) for k in range(self.num_steps)]


def _is_gpu(trace: KinetoTrace) -> bool:
    return any(e.cat == "kernel" for e in trace.events)


def read_manifest(path: Path) -> dict[str, Any]:
    """``manifest.json`` of a trace directory, or ``{}`` when there is none."""
    mf = path / "manifest.json"
    if not mf.is_file():
        return {}
    data = read_json_file(mf, "manifest")  # bounded: a 2 GB manifest was read for 11 s
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", file=str(mf))
    from simulator.traces.manifest_check import check_manifest

    check_manifest(data, str(mf))
    return {k: v for k, v in data.items() if v is not None}  # null: not given


#: Files of a trace directory that are not Kineto traces (commsim's own side files).
NOT_TRACES_RE = re.compile(
    r"(^manifest\.json$|^record_config\.json$|^fault_marks\.json$|\.steps\.json$"
    r"|\.et\.json(\.gz)?$)"
)
TRACE_FILE_RE = re.compile(r"\.json(\.gz)?$")
#: A rank in a file name: ``rank3``, ``rank-3``, ``rank_3``, ``trace_8_rank_1`` (last match).
NAME_RANK_RE = re.compile(r"rank[-_]?(\d+)", re.IGNORECASE)


def trace_kinds(path: Path) -> dict[Path, str]:
    """Each JSON file of a directory that is not one of commsim's side files, sorted by name,
    with its format told by its first bytes (:func:`simulator.traces.sniff.json_kind`)."""
    named = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and TRACE_FILE_RE.search(p.name) and not NOT_TRACES_RE.search(p.name)
    )
    return {p: json_kind(p) for p in named}


def rank_files(path: Path, kinds: dict[Path, str] | None = None) -> list[Path]:
    """The Kineto trace files of a directory (any names), sorted by name; ``kinds``: its
    :func:`trace_kinds` where the caller has them.

    Raises:
        InputError: no trace file.
    """
    kinds = trace_kinds(path) if kinds is None else kinds
    found = [p for p, kind in kinds.items() if kind == "kineto"]
    if not found:
        raise InputError(_no_kineto_reason(list(kinds), kinds) or _elsewhere(path), file=str(path))
    return found


#: archives people share traces in (param's ``dlrm_kineto.tar.gz``, Chakra's test data)
ARCHIVE_RE = re.compile(r"\.(tar\.gz|tgz|tar|zip|tar\.xz|tar\.bz2)$", re.IGNORECASE)
#: subdirectories looked into for a hint when a directory holds no trace
MAX_SUBDIRS = 64


def _holds_traces(d: Path) -> bool:
    try:
        return any(TRACE_FILE_RE.search(f.name) or f.suffix == ".et" for f in d.iterdir())
    except OSError:  # unreadable: not a hint worth a traceback
        return False


def _elsewhere(path: Path) -> str:
    """Why a directory without any JSON trace has none, naming where traces are: a
    subdirectory holding them (a TensorBoard log directory has one per run) or an archive
    (until 2026-12-06 only "no Kineto trace files" was said)."""
    base = "no Kineto trace files (*.json, *.json.gz)"
    subs = sorted(p for p in path.iterdir() if p.is_dir())[:MAX_SUBDIRS]
    holding = [d for d in subs if _holds_traces(d)]
    if holding:
        more = f" (and {len(holding) - 1} more)" if len(holding) > 1 else ""
        return f"{base}; the subdirectory {holding[0].name}{more} holds traces: give it instead"
    packed = sorted(p.name for p in path.iterdir() if p.is_file() and ARCHIVE_RE.search(p.name))
    if packed:
        return f"{base}; {packed[0]} is an archive: extract it and give the directory it makes"
    return base


def _no_kineto_reason(named: list[Path], kinds: dict[Path, str]) -> str:
    """Why a directory has no Kineto trace, naming what it holds instead ("" when it holds
    no JSON at all)."""
    ets = [p.name for p in named if kinds[p] == "torch-et"]
    cj = [p.name for p in named if kinds[p] == "chakra-json"]
    linked = [p.name for p in named if kinds[p] == "torch-et" and et_has_times(p)]
    if linked:
        # until 2026-12-06 these were said to hold no times, which they do
        return (
            f"no Kineto trace, only PyTorch execution traces with Kineto times linked in "
            f"(Chakra's chakra_trace_link output, 'ET+': {', '.join(linked[:3])}"
            f"{', ...' if len(linked) > 3 else ''}): commsim does not replay that form; "
            "convert each with `chakra_converter PyTorch` into .et files and replay their "
            "directory, or replay the Kineto traces it was linked from"
        )
    if ets:
        return (
            f"no Kineto trace, only PyTorch execution traces ({', '.join(ets[:3])}"
            f"{', ...' if len(ets) > 3 else ''}): an execution trace holds no times; replay "
            "needs the Kineto trace (torch.profiler) recorded with it, or Chakra .et files "
            "made from both by Chakra's converter"
        )
    if cj:
        return (
            f"no Kineto trace, only Chakra JSON ({', '.join(cj[:3])}): a Chakra workload, "
            "which `commsim replay DIR --topology T` imports as such"
        )
    return ""


def trace_rank(trace: KinetoTrace, alone: bool = False) -> int:
    """The trace's global rank: ``distributedInfo.rank``, else a ``rank<N>`` in the file name,
    else, for the only trace of its directory (``alone``: a single-process profile, as
    ``torch.profiler`` writes without ``torch.distributed``), rank 0 (said in the notes).

    Raises:
        InputError: none of these gives one.
    """
    r = trace.distributed_info.get("rank")
    if isinstance(r, int) and not isinstance(r, bool) and r >= 0:
        return r
    if r is not None:  # "zero", -1, 1.0: a wrong rank, not a missing one
        raise InputError(
            f"expected a rank (an integer >= 0), got {r!r}",
            file=trace.path,
            field="distributedInfo.rank",
        )
    hits = NAME_RANK_RE.findall(Path(trace.path).name)
    if hits:
        return int(hits[-1])
    if alone:
        trace.summary.notes.append(
            f"{Path(trace.path).name}: no distributedInfo.rank and no rank<N> in the name; "
            "the only trace of its directory is taken as rank 0"
        )
        return 0
    raise InputError(
        "cannot tell the rank: no distributedInfo.rank and no rank<N> in the file name "
        "(name the files rank<N>.json when the traces have no distributedInfo)",
        file=trace.path,
        field="distributedInfo.rank",
    )


def _world_of(traces: dict[int, KinetoTrace], manifest: dict[str, Any], path: Path) -> int:
    for t in traces.values():
        w = t.distributed_info.get("world_size")
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or w < 1):
            raise InputError(
                f"expected a world size (an integer >= 1), got {w!r}",
                file=t.path,
                field="distributedInfo.world_size",
            )
    sizes = {
        int(w)
        for t in traces.values()
        if isinstance(w := t.distributed_info.get("world_size"), int) and w > 0
    }
    if len(sizes) > 1:
        raise InputError(
            f"trace files disagree on distributedInfo.world_size: {sorted(sizes)}", file=str(path)
        )
    world = sizes.pop() if sizes else int(manifest.get("world") or max(traces) + 1)
    if sizes_given := [t for t in traces.values() if t.distributed_info.get("world_size") == world]:
        where, fld = sizes_given[0].path, "distributedInfo.world_size"
    elif manifest.get("world"):
        where, fld = str(path / "manifest.json"), "world"
    else:
        where, fld = traces[max(traces)].path, "distributedInfo.rank"
    check_limit(world, MAX_RANKS, "ranks", field=fld, file=where)
    if manifest.get("world") not in (None, world):
        raise InputError(
            f"manifest says world={manifest['world']}, the traces say {world}",
            file=str(path / "manifest.json"),
            field="world",
        )
    if max(traces) >= world:
        raise InputError(
            f"rank {max(traces)} is outside the world of {world}", file=traces[max(traces)].path
        )
    return world


def import_trace_dir(
    path: str | Path, *, link_et: bool = False, mirror_missing: bool = False
) -> ImportedTrace:
    """Import every rank's Kineto trace of a directory.

    Files may have any names (``rank-3.json.gz``, ``*_rank3*``...); the rank is the trace's
    ``distributedInfo.rank``, else the ``rank<N>`` of its name. The world is
    ``distributedInfo.world_size`` (else the manifest's, else the highest rank + 1).

    ``mirror_missing``: when the directory holds only some ranks of the world (people often
    share rank 0 only), assume every missing rank did what a given rank did (missing rank
    ``r`` takes given rank ``given[r % len(given)]``'s timelines, see
    :func:`~simulator.traces.mirror.mirror_timelines`); the result lists them in
    ``mirrored``. Without it, a partial rank set is refused with one line saying so.

    ``link_et``: also read each rank's execution trace (``rank{r}.et.json``) and link
    communication ops to it by record-function id (typed sizes of TensorList inputs). Off by
    default: the ET is several times larger than the Kineto trace and gloo spans already
    carry the types; the summary says whether it was linked.

    Raises:
        InputError: not a directory, no trace files, unreadable trace, unknown rank, a rank
            given twice, a partial rank set without ``mirror_missing``, a collective with no
            size anywhere in the trace.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError("not a directory", file=str(p))
    manifest = read_manifest(p)
    kinds = trace_kinds(p)
    files = rank_files(p, kinds)
    traces = _load_traces(files)
    world = _world_of(traces, manifest, p)
    given = sorted(traces)
    missing = [r for r in range(world) if r not in traces]
    if missing and not mirror_missing:
        shown = ", ".join(str(r) for r in missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise InputError(
            f"the traces hold ranks {given} of a world of {world} (missing {shown}); pass "
            "--mirror-ranks to assume the missing ranks did what the given ones did",
            file=str(p),
        )
    total = ImportSummary()
    by_rank: dict[int, list[StepTimeline]] = {}
    per_rank: list[dict[str, Any]] = []
    kind = "cpu"
    for r in given:
        trace = traces[r]
        summ = trace.summary
        gpu = _is_gpu(trace)
        if gpu:
            kind = "gpu"
        by_rank[r] = _rank_timelines(p, trace, r, world, gpu=gpu, link_et=link_et)
        per_rank.append({"rank": r, "file": Path(trace.path).name, **summ.to_dict()})
        total.merge(summ)
    for r in missing:
        by_rank[r] = mirror_timelines(by_rank[given[r % len(given)]], r, world, str(p))
    timelines = [by_rank[r] for r in range(world)]
    _resolve_any_source(timelines)
    bad = _reconcile(timelines, total)
    total.roles["inconsistent-steps"] += len(bad)
    total.notes[:] = _compact_notes([*total.notes, *_left_out_notes(kinds, files, total, kind)])
    return ImportedTrace(str(p), manifest, timelines, total, kind, per_rank, bad, missing)


#: event categories of a CPU (gloo) trace that the CPU importer reads or knowingly skips
CPU_TRACE_CATS = frozenset({"cpu_op", "user_annotation", "python_function", "Trace", ""})


def _compact_notes(notes: list[str]) -> list[str]:
    """One line per statement: ``"<file>: <text>"`` notes of several files with the same
    text become ``"<first file> and N other file(s): <text>"``."""
    by_text: dict[str, list[str]] = {}
    order: list[str] = []
    for n in notes:
        head, sep, text = n.partition(": ")
        key = text if sep and TRACE_FILE_RE.search(head) else n
        if key not in by_text:
            by_text[key] = []
            order.append(key)
        by_text[key].append(head if key != n else "")
    out = []
    for key in order:
        heads = [h for h in by_text[key] if h]
        if not heads:
            out.append(key)
        elif len(heads) == 1:
            out.append(f"{heads[0]}: {key}")
        else:
            out.append(f"{heads[0]} and {len(heads) - 1} other file(s): {key}")
    return out


def _load_traces(files: list[Path]) -> dict[int, KinetoTrace]:
    """Each file's trace by rank (a rank given twice is refused)."""
    traces: dict[int, KinetoTrace] = {}
    for f in files:
        trace = load_kineto(f)
        r = trace_rank(trace, alone=len(files) == 1)
        if r in traces:
            raise InputError(
                f"rank {r} is also in {Path(traces[r].path).name}", file=str(f), field="rank"
            )
        traces[r] = trace
    return traces


def _rank_timelines(
    path: Path, trace: KinetoTrace, r: int, world: int, *, gpu: bool, link_et: bool
) -> list[StepTimeline]:
    """One rank's step timelines, GPU (``gpu``: the trace has kernels, :func:`_is_gpu`, as the
    caller found) or CPU, with the notes on what was not read."""
    summ = trace.summary
    if not any(STEP_RE.match(e.name) for e in trace.events):
        summ.notes.append(
            f"{Path(trace.path).name}: no ProfilerStep#N; the main thread's whole span is "
            "taken as one step"
        )
    if gpu:
        if link_et:
            summ.notes.append(
                "--link-et is used for CPU (gloo) traces only: a GPU trace's sizes come "
                "from its kernels and host ops"
            )
        return gpu_timelines(trace, r, world, summ)
    if nccl_host := sum(e.name.startswith("nccl:") for e in trace.events):
        summ.roles["nccl-host-op-without-kernels"] += nccl_host
    summ.notes.extend(_foreign_device_note(trace))
    summ.notes.extend(_subgroup_note(trace, world))
    et = _load_et(path, trace, r, summ) if link_et else None
    return cpu_timelines(trace, r, world, summ, et)


def _foreign_device_note(trace: KinetoTrace) -> list[str]:
    """A CPU-only trace with events of other categories holds device activity (an MTIA or
    other accelerator's runtime and kernels, GPU runtime calls without kernels) that the
    CPU importer does not read: say which, once."""
    cats = Counter(e.cat for e in trace.events if e.cat not in CPU_TRACE_CATS)
    if not cats:
        return []
    shown = ", ".join(f"{c} x{n}" for c, n in cats.most_common(4))
    return [
        f"{Path(trace.path).name}: no GPU kernel, so it is read as a CPU trace; its events "
        f"of other categories ({shown}) are not simulated as device work"
    ]


def _subgroup_note(trace: KinetoTrace, world: int) -> list[str]:
    """A CPU trace's collectives do not say their process group (torch's gloo ``c10d::``
    ops carry none, up to torch 2.13 at least); when ``distributedInfo.pg_config`` lists
    groups smaller than the world, say that they run on the whole world here."""
    subs = sorted({len(r) for r in pg_config(trace).values() if 0 < len(r) < world})
    if not subs:
        return []
    return [
        f"{Path(trace.path).name}: distributedInfo.pg_config lists process groups of "
        f"{', '.join(map(str, subs))} of the {world} ranks; a CPU trace does not say which "
        "group a collective ran on, so every collective is simulated on the whole world"
    ]


def _left_out_notes(
    kinds: dict[Path, str], files: list[Path], summary: ImportSummary, kind: str
) -> list[str]:
    """One line for each thing of the directory the replay does not use (none is silent);
    ``kinds``: the directory's :func:`trace_kinds`, ``files``: the Kineto traces read."""
    notes: list[str] = []
    others = [q for q in kinds if q not in files]
    if others:
        notes.append(
            f"{len(others)} file(s) are not Kineto traces and were left out "
            f"({', '.join(f'{q.name}: {kinds[q]}' for q in others[:3])})"
        )
    sizeless = sum(n for k, n in summary.unknown.items() if k.startswith("size-of:"))
    if sizeless:
        notes.append(
            f"{sizeless} collective(s) have no size in the trace (untyped TensorList, or "
            "recorded without record_shapes) and are simulated as 0 bytes "
            "(import_summary.unknown 'size-of:*')"
        )
    nccl_host = summary.roles.get("nccl-host-op-without-kernels", 0)
    if kind == "cpu" and nccl_host:
        notes.append(
            f"{nccl_host} NCCL host op(s) (nccl:*) but no GPU kernel in the trace (recorded "
            "without CUDA activities?): their collectives are not simulated"
        )
    return notes


def _load_et(path: Path, trace: KinetoTrace, rank: int, summary: ImportSummary) -> ETIndex | None:
    """The rank's execution trace: ``rank{r}.et.json``, else the directory's execution trace
    (told by content, any name) whose ``pid`` is the process of the trace's events; None (and
    a note) when there is none."""
    found = [path / n for n in (f"rank{rank}.et.json", f"rank{rank}.et.json.gz")]
    pids = {int(e.pid) for e in trace.events if e.pid.isdigit() and e.pid != "0"}
    found += [
        q
        for q in sorted(path.iterdir())
        if q.is_file()
        and TRACE_FILE_RE.search(q.name)
        and json_kind(q) == "torch-et"
        and et_pid(q) in pids
    ]
    for q in found:
        if q.is_file():
            et = load_et(q)
            summary.roles["et-nodes"] += len(et.by_rf)
            return et
    summary.notes.append(
        f"--link-et: no execution trace for rank {rank} (rank{rank}.et.json, or one whose "
        "pid is the trace's process)"
    )
    return None


def _coll_sequence(tl: StepTimeline) -> list[tuple[str, float]]:
    # all_to_all(v) send buffers legitimately differ between ranks (uneven splits)
    return [
        (str(c.op), -1.0 if c.op == CollectiveOp.ALL_TO_ALL else c.size_B)
        for c in tl.comms
        if c.op not in ("send", "recv")
    ]


def _reconcile(timelines: list[list[StepTimeline]], summary: ImportSummary) -> list[int]:
    """Make every rank's collectives of a step agree, or say why they cannot.

    Collectives seen only as gloo spans (issued from completion callbacks) are recorded by the
    profiler on some ranks and not on others; where the ranks' sequences differ, those are
    dropped on every rank of that step (counted in ``roles['dropped-callback-comm']``).

    Returns the steps whose sequences still differ (their Programs would not rendezvous: a
    collective the profiler did not see on some rank, e.g. one launched from a callback on an
    unprofiled gloo thread); replay leaves those steps out.
    """
    bad: list[int] = []
    world = len(timelines)
    steps = min((len(t) for t in timelines), default=0)
    for k in range(steps):
        seqs = [_coll_sequence(timelines[r][k]) for r in range(world)]
        if all(sq == seqs[0] for sq in seqs):
            _equalise_all_to_all([timelines[r][k] for r in range(world)], summary)
            continue
        for r in range(world):
            tl = timelines[r][k]
            keep = [i for i, c in enumerate(tl.comms) if not c.name.endswith(".cb")]
            summary.roles["dropped-callback-comm"] += len(tl.comms) - len(keep)
            new_index = {old: new for new, old in enumerate(keep)}
            tl.comms[:] = [tl.comms[i] for i in keep]
            for c in tl.comms:
                c.after = new_index.get(c.after, -1)
            tl.waits[:] = [w for w in tl.waits if w.comm in new_index]
            for w in tl.waits:
                w.comm = new_index[w.comm]
        seqs = [_coll_sequence(timelines[r][k]) for r in range(world)]
        if not all(sq == seqs[0] for sq in seqs):
            bad.append(k)
        else:
            _equalise_all_to_all([timelines[r][k] for r in range(world)], summary)
    return bad


def _equalise_all_to_all(tls: list[StepTimeline], summary: ImportSummary) -> None:
    """Give the i-th all_to_all of every rank the largest send buffer of its members.

    Ranks of an all_to_allv send different amounts; the engine simulates one collective with
    one per-rank buffer, so the largest (the one that bounds the exchange) is used and the
    change is counted in ``roles['all_to_all-size-equalised']``.
    """
    colls = [[c for c in tl.comms if c.op not in ("send", "recv")] for tl in tls]
    for i, c0 in enumerate(colls[0] if colls else []):
        if c0.op != CollectiveOp.ALL_TO_ALL:
            continue
        big = max(cs[i].size_B for cs in colls)
        for cs in colls:
            if cs[i].size_B != big:
                cs[i].size_B = big
                summary.roles["all_to_all-size-equalised"] += 1


def _resolve_any_source(timelines: list[list[StepTimeline]]) -> None:
    """Give receives from any source (peer -1) the peer whose send they matched, in order."""
    world = len(timelines)
    steps = min((len(t) for t in timelines), default=0)
    for k in range(steps):
        for r in range(world):
            open_recvs = [c for c in timelines[r][k].comms if c.op == "recv" and c.peer < 0]
            if not open_recvs:
                continue
            sends = sorted(
                (c.start_s, src)
                for src in range(world)
                if src != r
                for c in timelines[src][k].comms
                if c.op == "send" and c.peer == r
            )
            taken: dict[int, int] = {}
            known = [c for c in timelines[r][k].comms if c.op == "recv" and c.peer >= 0]
            for c in known:
                taken[c.peer] = taken.get(c.peer, 0) + 1
            pool: list[int] = []
            for _, src in sends:
                if taken.get(src, 0) > 0:
                    taken[src] -= 1
                else:
                    pool.append(src)
            for c, src in zip(open_recvs, pool, strict=False):
                c.peer = src
