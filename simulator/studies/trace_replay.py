"""Replay a recorded trace on a topology and compare predicted with measured times.

Each measured step of the recording is imported as per-rank Programs (measured compute
durations, recorded collectives and send/recv) and simulated on the topology with the
backend profile; predictions and measurements are compared per step and per collective.

Definitions (seconds):

* measured step: the slowest rank's wall time of that step (``manifest.json``), averaged over
  the measured steps. Predicted step: likewise, from one simulation of all measured steps in
  a row (:func:`chained_workload`): a rank's step k lasts from the end of its step k-1 (0 for
  the first) to the end of its own step k, as the recorder times it. Ranks do not end a step
  together: a parameter server's workers compute their next step while the server still sends
  to the others, and only a chained replay sees that (a step simulated alone from a common
  start charged it: ps-sync on rig-4host-2rack replayed 8 % slow).
* error_pct = 100 * (predicted - measured) / measured.
* a collective's time, measured or predicted: from the moment its last member reached it to
  the moment its last member finished (``max(end) - max(start)`` over members), so waiting for
  a late rank is not counted as communication. Measured spans are the ``gloo:<op>`` spans (CPU)
  or the NCCL kernels (GPU). Cross-rank comparison of timestamps needs one clock, which holds
  for ranks on one host (local and rig recordings); otherwise each member's own span is used.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.collectives.backend import BackendProfile
from simulator.core.errors import InputError
from simulator.core.ir import Compute, Program, Workload
from simulator.engine import SimulationError, simulate
from simulator.engine.result import StepResult
from simulator.faults.trace import apply_to_replay
from simulator.report import progress
from simulator.topology import Topology, load_topology
from simulator.traces.kineto import ImportedTrace, import_trace_dir
from simulator.traces.manifest_check import named_in_manifest
from simulator.traces.outputs import write_replay_outputs
from simulator.traces.timeline import CommEvent, build_program


@dataclass(frozen=True, slots=True)
class CommMatch:
    """One communication op matched across its members in one step."""

    step: int
    kind: str
    size_B: float
    members: tuple[tuple[int, int], ...]  # (rank, comm index on that rank)


def match_comms(imp: ImportedTrace, k: int) -> list[CommMatch]:
    """Match step ``k``'s collectives (by per-group ordinal) and send/recv pairs (in order)."""
    out: list[CommMatch] = []
    coll: dict[tuple[int, ...], list[list[int]]] = defaultdict(list)
    sends: dict[tuple[int, int], list[int]] = defaultdict(list)
    recvs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r in range(imp.world):
        per_group: dict[tuple[int, ...], int] = defaultdict(int)
        for i, c in enumerate(imp.timelines[r][k].comms):
            if c.op == "send":
                sends[(r, c.peer)].append(i)
            elif c.op == "recv":
                recvs[(c.peer, r)].append(i)
            else:
                n = per_group[c.group]
                per_group[c.group] += 1
                lst = coll[c.group]
                while len(lst) <= n:
                    lst.append([-1] * imp.world)
                lst[n][r] = i
    for group, rows in coll.items():
        for row in rows:
            members = tuple((r, row[r]) for r in group if 0 <= r < imp.world and row[r] >= 0)
            if members:
                c0 = imp.timelines[members[0][0]][k].comms[members[0][1]]
                out.append(CommMatch(k, str(c0.op), c0.size_B, members))
    for (src, dst), s_idx in sends.items():
        r_idx = recvs.get((src, dst), [])
        for a, b in zip(s_idx, r_idx, strict=False):
            c0 = imp.timelines[src][k].comms[a]
            out.append(CommMatch(k, "send_recv", c0.size_B, ((src, a), (dst, b))))
    return out


def _span(spans: list[tuple[float, float]], same_clock: bool) -> float:
    if same_clock:
        return max(e for _, e in spans) - max(s for s, _ in spans)
    return min(e - s for s, e in spans)


@dataclass(frozen=True)
class StepComparison:
    """One measured step: measured and predicted seconds."""

    step: int
    measured_s: float
    predicted_s: float

    def to_json(self) -> dict[str, Any]:
        """``{"step", "measured_s", "predicted_s"}``."""
        return {"step": self.step, "measured_s": self.measured_s, "predicted_s": self.predicted_s}


@dataclass(frozen=True)
class CollectiveComparison:
    """Per (kind, size): count, mean measured and predicted seconds, error in percent
    (None when nothing was measured)."""

    kind: str
    size_B: float
    count: int
    measured_s: float
    measured_min_s: float
    predicted_s: float
    error_pct: float | None

    def to_json(self) -> dict[str, Any]:
        """The row, keys in declaration order."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ReplayResult:
    """A recording replayed on a topology: measured against predicted (``commsim replay``).

    ``*_s`` are seconds per step; ``error_pct = 100 * (predicted - measured) / measured``.
    ``chakra_out`` is set when the imported Programs were also written as Chakra ETs.
    """

    trace: str
    strategy: str
    world: int
    topology: str
    backend: str
    fidelity: str
    steps: int
    measured_step_s: float
    predicted_step_s: float
    error_pct: float
    per_step: tuple[StepComparison, ...]
    steps_left_out: list[int]
    mirrored_ranks: list[int]
    collectives: tuple[CollectiveComparison, ...]
    import_summary: dict[str, Any]
    out: str | None = None
    chakra_out: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object (``chakra_out`` only when set)."""
        d: dict[str, Any] = {
            "trace": self.trace,
            "strategy": self.strategy,
            "world": self.world,
            "topology": self.topology,
            "backend": self.backend,
            "fidelity": self.fidelity,
            "steps": self.steps,
            "measured_step_s": self.measured_step_s,
            "predicted_step_s": self.predicted_step_s,
            "error_pct": self.error_pct,
            "per_step": [p.to_json() for p in self.per_step],
            "steps_left_out": self.steps_left_out,
            "mirrored_ranks": self.mirrored_ranks,
            "collectives": [c.to_json() for c in self.collectives],
            "import_summary": self.import_summary,
        }
        if self.out is not None:
            d["out"] = self.out
        if self.chakra_out is not None:
            d["chakra_out"] = self.chakra_out
        return d


def check_fits(world: int, topo: Topology, trace_dir: str | Path, given: bool) -> None:
    """Refuse a job of more ranks than the topology has, naming ``--topology`` (until
    2026-12-06 the engine's "the imported workload cannot run: workload has 300 ranks but the
    topology only 16" named no option).

    ``given``: the topology came from ``--topology`` (else from the recording's manifest)."""
    if world <= topo.num_ranks:
        return
    which = f"topology {topo.name}" if given else f"the recording's topology {topo.name}"
    raise InputError(
        f"a job of {world} ranks does not fit {which} ({topo.num_ranks} ranks); give a "
        f"--topology with at least {world} ranks",
        file=str(trace_dir),
        field="--topology",
    )


def replay(
    trace_dir: str,
    *,
    topology: Topology | str | None = None,
    backend: BackendProfile | str | None = None,
    fidelity: str = "flow",
    link_et: bool = False,
    mirror_missing: bool = False,
    out_dir: Path | None = None,
    faults: Any = None,
) -> ReplayResult:
    """Replay every measured step of ``trace_dir``; return the comparison.

    ``topology``: a Topology, a name/path, or None for the manifest's (``loopback-N`` for
    local CPU recordings; a GPU trace without one must be given a topology). ``backend``:
    profile name/path/object, or None for the manifest's (``nccl`` for a GPU trace).
    ``mirror_missing``: see :func:`~simulator.traces.kineto.import_trace_dir`. ``out_dir``:
    also write the timeline, tables and plots there (:mod:`simulator.traces.outputs`).
    ``faults``: replay under these (:func:`simulator.faults.trace.apply_to_replay`).

    Raises:
        InputError: bad trace, GPU trace without a topology, or a workload the engine refuses
            (deadlock, unmatched ops), with the engine's explanation.
    """
    progress.set_total(3, f"importing {trace_dir}")
    imp = import_trace_dir(trace_dir, link_et=link_et, mirror_missing=mirror_missing)
    progress.advance(description=f"simulating {len(imp.good_steps)} measured steps")
    topo_name, topo, be = _topology_and_backend(imp, topology, backend, trace_dir)
    check_fits(imp.world, topo, trace_dir, topology is not None)
    hosts = imp.manifest.get("hostnames") or []
    same_clock = len(set(hosts)) <= 1
    measured = imp.measured_step_times_s()
    steps = imp.good_steps
    if imp.num_steps == 0:
        raise InputError(
            "no step in the traces: no ProfilerStep#N and no host op (cpu_op, "
            "user_annotation) to take the step from",
            file=str(trace_dir),
        )
    if not steps:
        raise InputError(
            "no measured step has the same collectives on every rank (see docs/traces.md)",
            file=str(trace_dir),
        )
    chain = chained_workload(imp, steps)
    workload, network = _with_faults(chain.workload, topo, faults)
    try:
        with named_in_manifest(trace_dir, "backend", be, backend):
            res = simulate(workload, topo, backend=be, fidelity=fidelity, network=network)
    except SimulationError as exc:
        raise InputError(f"the imported workload cannot run: {exc}", file=str(trace_dir)) from exc
    progress.advance(description="comparing measured and predicted")
    preds, rows = _compare(imp, steps, chain, res.ops, same_clock)
    meas_steps = [measured[k] for k in steps]
    n = len(steps)
    meas_s = statistics.fmean(meas_steps)
    pred_s = statistics.fmean(preds)
    result = ReplayResult(
        trace=str(trace_dir),
        strategy=imp.manifest.get("strategy", "unknown"),
        world=imp.world,
        topology=getattr(topo, "name", str(topo_name)),
        backend=str(getattr(be, "name", be)),
        fidelity=fidelity,
        steps=n,
        measured_step_s=meas_s,
        predicted_step_s=pred_s,
        error_pct=100.0 * (pred_s - meas_s) / meas_s,
        per_step=tuple(
            StepComparison(k, measured[k], p) for k, p in zip(steps, preds, strict=True)
        ),
        steps_left_out=imp.bad_steps,
        mirrored_ranks=imp.mirrored,
        collectives=collective_table(rows),
        import_summary=imp.summary.to_dict(),
    )
    if out_dir is not None:
        write_replay_outputs(out_dir, res, result.to_json(), steps=n)
        result = replace(result, out=str(out_dir))
    return result


def _with_faults(workload: Workload, topo: Any, faults: Any) -> tuple[Workload, Any]:
    """The workload and network faults to simulate (``faults``: a FaultsConfig or None)."""
    if faults is None:
        return workload, None

    return apply_to_replay(workload, topo, faults)


def _compare(
    imp: ImportedTrace, steps: Sequence[int], chain: Chain, ops: pd.DataFrame, same_clock: bool
) -> tuple[list[float], list[_CommRow]]:
    """Predicted time of each step (slowest rank, from its previous step's end) and one row
    per matched communication op (measured and predicted span)."""
    times = {
        (int(r), int(i)): (float(s), float(e))
        for r, i, s, e in zip(ops["rank"], ops["id"], ops["start_s"], ops["end_s"], strict=True)
    }
    preds: list[float] = []
    rows: list[_CommRow] = []
    prev_end = [0.0] * imp.world
    for j, k in enumerate(steps):
        ends = [times[(r, chain.step_end[r][j])][1] for r in range(imp.world)]
        preds.append(max(e - p for e, p in zip(ends, prev_end, strict=True)))
        prev_end = ends
        for m in match_comms(imp, k):
            meas = [(_c(imp, k, r, i).start_s, _c(imp, k, r, i).end_s) for r, i in m.members]
            pred = [times[(r, chain.comm_op[r][j][i])] for r, i in m.members]
            rows.append(_CommRow(m.kind, m.size_B, _span(meas, same_clock), _span(pred, True)))
    return preds, rows


def _topology_and_backend(
    imp: ImportedTrace,
    topology: Topology | str | None,
    backend: BackendProfile | str | None,
    trace_dir: str,
) -> tuple[Topology | str, Topology, BackendProfile | str]:
    """The topology's name, the topology loaded (a manifest's unknown name refused naming the
    manifest) and the backend (:func:`_defaults`)."""
    topo_name, be = _defaults(imp, topology, backend, trace_dir)
    with named_in_manifest(trace_dir, "topology", topo_name, topology):
        topo = load_topology(topo_name) if isinstance(topo_name, str) else topo_name
    return topo_name, topo, be


def _defaults(
    imp: ImportedTrace,
    topology: Topology | str | None,
    backend: BackendProfile | str | None,
    trace_dir: str,
) -> tuple[Topology | str, BackendProfile | str]:
    """Topology and backend: the caller's, else the manifest's, else ``loopback-N`` with gloo
    for CPU traces; a GPU trace without either needs a topology (``nccl`` by default)."""
    topo_name = topology if topology is not None else imp.manifest.get("topology")
    if topo_name is None and imp.kind == "gpu":
        raise InputError(
            "a GPU (NCCL) trace without a manifest topology needs --topology (a topology "
            "matching the cluster it ran on; the backend defaults to nccl)",
            file=str(trace_dir),
            field="--topology",
        )
    if topo_name is None:
        topo_name = f"loopback-{imp.world}"
    default_be = "nccl" if imp.kind == "gpu" else "gloo"
    be = backend if backend is not None else imp.manifest.get("backend", default_be)
    return topo_name, be


@dataclass(frozen=True)
class Chain:
    """Measured steps run back to back on every rank (see :func:`chained_workload`).

    Attributes:
        workload: one Program per rank holding every step.
        step_end: per rank, per step (in order), the id of the op that ends the step.
        comm_op: per rank, per step, the step's comm index -> op id in the chained Program.
    """

    workload: Workload
    step_end: list[list[int]]
    comm_op: list[list[dict[int, int]]]


def chained_workload(imp: ImportedTrace, steps: Sequence[int]) -> Chain:
    """The measured ``steps`` of every rank as one Program per rank, in order.

    Each step's ops are appended with their ids shifted; a zero-length ``step{k}.end`` op
    after the step's last compute op marks where the rank's training loop returns from the
    step (its waits are deps of that compute). The next step's ops that depend on nothing
    start after it; everything else follows the step's own dependencies and the streams'
    order, so a rank starts its next step as soon as *it* is done, not when all ranks are.
    """
    progs: list[Program] = []
    step_end: list[list[int]] = []
    comm_op: list[list[dict[int, int]]] = []
    for r in range(imp.world):
        prog = Program(rank=r)
        ends: list[int] = []
        maps: list[dict[int, int]] = []
        boundary: int | None = None
        for k in steps:
            one, cmap = build_program(imp.timelines[r][k])
            base = len(prog.ops)
            last_compute = None
            for op in one.ops:
                deps = tuple(d + base for d in op.deps)
                if not deps and boundary is not None:
                    deps = (boundary,)
                prog.add(replace(op, id=op.id + base, deps=deps))
                if isinstance(op, Compute):
                    last_compute = op.id + base
            after = [last_compute] if last_compute is not None else []
            if boundary is not None and last_compute is None:
                after = [boundary]
            boundary = prog.compute(f"step{k}.end", duration_s=0.0, deps=after, category="other")
            ends.append(boundary)
            maps.append({i: o + base for i, o in cmap.items()})
        progs.append(prog)
        step_end.append(ends)
        comm_op.append(maps)
    wl = Workload(
        programs=progs,
        world=imp.world,
        metadata={
            "source": "trace",
            "trace": imp.path,
            "steps": list(steps),
            "strategy": imp.manifest.get("strategy", "unknown"),
            "backend": imp.manifest.get("backend", "unknown"),
        },
    )
    return Chain(wl, step_end, comm_op)


def _c(imp: ImportedTrace, k: int, r: int, i: int) -> CommEvent:
    return imp.timelines[r][k].comms[i]


@dataclass(frozen=True, slots=True)
class _CommRow:
    """One matched communication op of one step: its measured and predicted seconds."""

    kind: str
    size_B: float
    measured_s: float
    predicted_s: float


def collective_table(rows: Sequence[_CommRow]) -> tuple[CollectiveComparison, ...]:
    """Per (kind, size): count, mean measured and predicted seconds, error in percent."""
    groups: dict[tuple[str, float], list[_CommRow]] = defaultdict(list)
    for row in rows:
        groups[(row.kind, row.size_B)].append(row)
    table = []
    for (kind, size), rs in sorted(groups.items()):
        m = statistics.fmean(r.measured_s for r in rs)
        p = statistics.fmean(r.predicted_s for r in rs)
        table.append(
            CollectiveComparison(
                kind=kind,
                size_B=size,
                count=len(rs),
                measured_s=m,
                measured_min_s=min(r.measured_s for r in rs),
                predicted_s=p,
                error_pct=100.0 * (p - m) / m if m > 0 else None,
            )
        )
    return tuple(table)


@dataclass(frozen=True)
class ChakraReplayResult:
    """A directory of Chakra execution traces simulated on a topology (no measurement).

    ``predicted_step_s`` in seconds; ``warnings`` what the importer could not map;
    ``result`` the engine's step result (its JSON summary is the ``result`` key).
    """

    trace: str
    warnings: list[str]
    world: int
    topology: str
    predicted_step_s: float
    result: StepResult = field(repr=False, compare=False)
    out: str | None = None
    chakra_out: str | None = None
    format: str = "chakra"  # or "astra-text" (an ASTRA-sim 1.0 text workload)

    def to_json(self) -> dict[str, Any]:
        """``{"trace", "format": "chakra"|"astra-text", "warnings", "world", "topology",
        "predicted_step_s", "result"}``."""
        d: dict[str, Any] = {
            "trace": self.trace,
            "format": self.format,
            "warnings": self.warnings,
            "world": self.world,
            "topology": self.topology,
            "predicted_step_s": self.predicted_step_s,
            "result": self.result.to_dict(),
        }
        if self.out is not None:
            d["out"] = self.out
        if self.chakra_out is not None:
            d["chakra_out"] = self.chakra_out
        return d


def replay_chakra(
    trace_dir: str | Path,
    *,
    topology: str,
    backend: str | None = None,
    fidelity: str = "flow",
    world: int | None = None,
) -> ChakraReplayResult:
    """Import a directory of ``*.et`` Chakra files (``world`` ranks, default: the files') and
    simulate it on ``topology``.

    Raises:
        InputError: a bad Chakra file, or a workload that cannot run on the topology.
    """
    # protobuf is optional: Chakra support is imported only when it is used
    from simulator.traces.chakra import import_chakra_dir

    src = Path(trace_dir)
    wl = import_chakra_dir(src, world=world)
    topo = load_topology(topology)
    check_fits(wl.world_size, topo, src, True)
    return _simulate_imported(wl, topo, src, backend, fidelity, "chakra")


def replay_astra_text(
    path: str | Path,
    *,
    topology: str,
    backend: str | None = None,
    fidelity: str = "flow",
    world: int | None = None,
) -> ChakraReplayResult:
    """Import an ASTRA-sim 1.0 text workload (``world`` ranks, default: all of the topology's)
    and simulate one step of it on ``topology``.

    Raises:
        InputError: a bad line of the file, or groups that do not fit the topology.
    """
    from simulator.traces.astra_text import parse_text_workload, text_workload

    src = Path(path)
    tw = parse_text_workload(src)
    topo = load_topology(topology)
    n = world if world is not None else len(topo.ranks)
    check_fits(n, topo, src, True)
    dim0 = len(next(iter(topo.ranks_by_host().values())))
    wl = text_workload(tw, n, dim0)
    return _simulate_imported(wl, topo, src, backend, fidelity, "astra-text")


def _simulate_imported(
    wl: Any, topo: Any, src: Path, backend: str | None, fidelity: str, fmt: str
) -> ChakraReplayResult:
    """One step of an imported workload ``wl`` (its ``world_size`` ranks) on ``topo``, with the
    importer's warnings; ``fmt`` names the input format (``chakra``, ``astra-text``)."""
    try:
        res = simulate(wl, topo, backend=backend or "nccl", fidelity=fidelity)
    except SimulationError as exc:
        raise InputError(f"the imported workload cannot run: {exc}", file=str(src)) from exc
    raw = wl.metadata.get("warnings")
    return ChakraReplayResult(
        trace=str(src),
        warnings=[str(w) for w in raw] if isinstance(raw, list) else [],
        world=wl.world_size,
        topology=topo.name,
        predicted_step_s=res.step_time_s,
        result=res,
        format=fmt,
    )
