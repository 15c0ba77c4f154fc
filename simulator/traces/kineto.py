"""Import a recorded trace directory (Kineto JSON per rank) into per-rank Programs.

Entry point: :func:`import_trace_dir`. The directory holds ``rank{r}.trace.json`` (or
``.json.gz``) files and, when written by ``commsim record``, a ``manifest.json`` (world,
strategy, backend, measured step times). CPU (gloo) traces go through
:mod:`simulator.traces.cpu`, GPU (NCCL) traces through :mod:`simulator.traces.gpu`; both
yield :class:`StepTimeline` s that :func:`~simulator.traces.timeline.build_program` turns
into Programs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.ir import Workload
from simulator.traces.cpu import cpu_timelines
from simulator.traces.et import ETIndex, load_et
from simulator.traces.events import ImportSummary, KinetoTrace, load_kineto
from simulator.traces.timeline import StepTimeline, build_program

RANK_FILE_RE = re.compile(r"^rank(\d+)\.trace\.json(?:\.gz)?$")


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
    try:
        data = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", file=str(mf)) from exc
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", file=str(mf))
    return data


def rank_files(path: Path) -> list[Path]:
    """The ``rank{r}.trace.json`` files of a directory, in rank order (0..N-1, no holes)."""
    found: dict[int, Path] = {}
    for p in path.iterdir():
        m = RANK_FILE_RE.match(p.name)
        if m:
            found[int(m.group(1))] = p
    if not found:
        raise InputError(
            "no rank{r}.trace.json files (is this a `commsim record` output?)", file=str(path)
        )
    missing = [r for r in range(max(found) + 1) if r not in found]
    if missing:
        raise InputError(f"missing trace files for ranks {missing}", file=str(path))
    return [found[r] for r in sorted(found)]


def import_trace_dir(path: str | Path, *, link_et: bool = False) -> ImportedTrace:
    """Import every rank's Kineto trace of a directory.

    ``link_et``: also read each rank's execution trace (``rank{r}.et.json``) and link
    communication ops to it by record-function id (typed sizes of TensorList inputs). Off by
    default: the ET is several times larger than the Kineto trace and gloo spans already
    carry the types; the summary says whether it was linked.

    Raises:
        InputError: not a directory, no rank files, unreadable JSON.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError("not a directory", file=str(p))
    manifest = read_manifest(p)
    files = rank_files(p)
    world = len(files)
    if manifest.get("world") not in (None, world):
        raise InputError(
            f"manifest says world={manifest['world']}, found {world} rank files",
            file=str(p / "manifest.json"),
            field="world",
        )
    total = ImportSummary()
    timelines: list[list[StepTimeline]] = []
    per_rank: list[dict[str, Any]] = []
    kind = "cpu"
    for r, f in enumerate(files):
        trace = load_kineto(f)
        summ = trace.summary
        if _is_gpu(trace):
            from simulator.traces.gpu import gpu_timelines

            kind = "gpu"
            tls = gpu_timelines(trace, r, world, summ)
        else:
            et = _load_et(p, r, summ) if link_et else None
            tls = cpu_timelines(trace, r, world, summ, et)
        timelines.append(tls)
        per_rank.append({"rank": r, "file": f.name, **summ.to_dict()})
        total.merge(summ)
    _resolve_any_source(timelines)
    bad = _reconcile(timelines, total)
    total.roles["inconsistent-steps"] += len(bad)
    return ImportedTrace(str(p), manifest, timelines, total, kind, per_rank, bad)


def _load_et(path: Path, rank: int, summary: ImportSummary) -> ETIndex | None:
    """The rank's execution trace when the recording has one (else None)."""
    for name in (f"rank{rank}.et.json", f"rank{rank}.et.json.gz"):
        if (path / name).is_file():
            et = load_et(path / name)
            summary.roles["et-nodes"] += len(et.by_rf)
            return et
    return None


def _coll_sequence(tl: StepTimeline) -> list[tuple[str, float]]:
    return [(str(c.op), c.size_B) for c in tl.comms if c.op not in ("send", "recv")]


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
    return bad


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
