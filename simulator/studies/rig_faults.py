"""Fault cases on the rig (``commsim validate --faults``): a host made slow, measured and predicted.

Each case records a strategy on the rig with one host perturbed, and predicts that recording by
replaying the *unperturbed* recording of the same strategy on the same topology under the
matching ``faults:`` (:func:`simulator.faults.trace.apply_to_replay`):

* ``slow-nic``: the host's veth pair is re-shaped (``tc qdisc replace ... tbf``, both
  directions) at ``factor`` x its rate. Prediction: the host's link degraded by
  ``bandwidth_factor = factor`` in both directions (``h1-sw0``).
* ``cpu-throttle``: the host's worker runs in a CPU cgroup capped at ``factor`` of one CPU
  (CFS bandwidth control: cgroup v2 ``cpu.max = "quota period"``, or, where only cgroup v1
  has the cpu controller, ``cpu.cfs_quota_us``/``cpu.cfs_period_us``; the kernel's same
  mechanism); the launcher moves the host's processes in from the root namespace as they
  start. Prediction: ``slow_ranks`` with ``compute_factor = 1 / factor``. The factor
  comes from the quota, not from a run: a worker of one busy thread (``OMP_NUM_THREADS=1``)
  that held a whole core gets ``quota / period`` of it, so its compute lasts
  ``period / quota`` times as long; communication waits are not CPU-bound and keep their time.

* ``link-mid``: the same re-shaping as ``slow-nic``, but with ``tc qdisc change`` half-way
  through the measured steps (the launcher aims at it from the healthy recording's timing and
  writes the wall-clock time it changed to :data:`MARKS_FILE`). Prediction: the link
  degraded ``at`` the recorded time after the first replayed step started (the traces' ``ts`` +
  ``baseTimeNanoseconds`` is wall-clock time).

Definitions follow :mod:`simulator.studies.rig_validation` (measured step: median over the
measured steps of the slowest rank's step; predicted: median of the replay's per-step
predictions; ``error_pct = 100 * (predicted - measured) / measured``), except that
``link-mid`` compares the *mean* step on both sides (its steps are bimodal). Cases are tier
``faults`` in ``validate.json``; their statistics are ``RigValidation.summary.faults``
(``"faults"`` in the JSON summary).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.suggest import hint
from simulator.faults.schema import FaultsConfig
from simulator.report import progress
from simulator.rig import netns
from simulator.rig.cluster import QUEUE_S, Rig, burst_B
from simulator.studies.rig_cases import FAULT_TIER
from simulator.studies.rig_validation import (
    CaseResult,
    ErrorStats,
    RigValidation,
    Validator,
    _measured_steps,
    summarize,
    topology_dir_name,
)
from simulator.studies.trace_replay import replay
from simulator.topology import load_topology
from simulator.traces.kineto import import_trace_dir
from simulator.traces.record import record

#: The strategies every fault case runs: synchronous DDP and the asynchronous parameter server.
FAULT_STRATEGIES: tuple[str, ...] = ("ddp", "ps-async")

#: CFS period of the throttled host's cgroup. Not the kernel's default 100 ms: a rank's compute
#: comes in bursts of tens of ms between communication waits, and with a 100 ms period most
#: bursts run on quota left unspent while the rank waited (measured 2026-12-05 on rig-2host,
#: quota 50 %: DDP rank 1's compute per step 64.5 -> 72.2 ms, x1.12, not x2). With 10 ms the
#: cap holds within each burst.
CFS_PERIOD_US = 10_000


class FaultKind(StrEnum):
    """What a rig fault case does to one host."""

    SLOW_NIC = "slow-nic"
    CPU_THROTTLE = "cpu-throttle"
    LINK_MID = "link-mid"


@dataclass(frozen=True)
class FaultCase:
    """One host of the rig made slow.

    Attributes:
        kind: slow NIC or CPU-throttled host.
        rank: the rank (= host) perturbed.
        factor: ``slow-nic``, ``link-mid``: the NIC's new rate / its topology rate;
            ``cpu-throttle``: the cgroup's quota / period (share of one CPU), in (0, 1].
    """

    kind: FaultKind
    rank: int = 1
    factor: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.factor <= 1:
            raise InputError(f"factor must be in (0, 1], got {self.factor}", field="--faults")

    @property
    def name(self) -> str:
        """``slow-nic-r1-x0.4``."""
        return f"{self.kind.value}-r{self.rank}-x{self.factor:g}"

    def faults(
        self, topology: Any, at_s: float = 0.0, compute_factor: float | None = None
    ) -> FaultsConfig:
        """The ``faults:`` that predict this case on ``topology`` (a Topology); ``at_s``: when
        a ``link-mid`` change happens, seconds after the first replayed step starts;
        ``compute_factor``: a ``cpu-throttle`` host's slowdown (default ``1 / factor``)."""
        if not 0 <= self.rank < topology.num_ranks:
            raise InputError(
                f"no rank {self.rank} on {topology.name} ({topology.num_ranks} ranks)",
                field="--faults",
            )
        if self.kind in (FaultKind.SLOW_NIC, FaultKind.LINK_MID):
            node = topology.ranks[self.rank]
            peers = sorted({lk.dst for lk in topology.links if lk.src == node})
            at = max(0.0, at_s) if self.kind is FaultKind.LINK_MID else 0.0
            return FaultsConfig.model_validate(
                {
                    "links": [
                        {
                            "link": f"{node}-{p}",
                            "state": "degraded",
                            "bandwidth_factor": self.factor,
                            "at": at,
                        }
                        for p in peers
                    ]
                }
            )
        return FaultsConfig.model_validate(
            {
                "slow_ranks": [
                    {"ranks": [self.rank], "compute_factor": compute_factor or 1.0 / self.factor}
                ]
            }
        )


#: The cases ``--faults all`` runs (rank 1: not the master/parameter server of rank 0).
DEFAULT_CASES: tuple[FaultCase, ...] = (
    FaultCase(FaultKind.SLOW_NIC, rank=1, factor=0.4),
    FaultCase(FaultKind.CPU_THROTTLE, rank=1, factor=0.5),
    FaultCase(FaultKind.LINK_MID, rank=1, factor=0.4),
)


def parse_fault_cases(text: str) -> list[FaultCase]:
    """``slow-nic,cpu-throttle`` (defaults), ``slow-nic:0.25``, ``cpu-throttle:0.5@2`` (rank 2)
    or ``all`` -> cases."""
    out: list[FaultCase] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part == "all":
            out.extend(DEFAULT_CASES)
            continue
        head, _, rank_s = part.partition("@")
        kind_s, _, factor_s = head.partition(":")
        try:
            kind = FaultKind(kind_s)
        except ValueError:
            choices = ", ".join(k.value for k in FaultKind)
            raise InputError(
                f"unknown fault case {kind_s!r}{hint(kind_s, [*FaultKind, 'all'])}"
                f" (choose from {choices}, all)",
                field="--faults",
            ) from None
        default = next(c for c in DEFAULT_CASES if c.kind is kind)
        try:
            factor = float(factor_s) if factor_s else default.factor
            rank = int(rank_s) if rank_s else default.rank
        except ValueError:
            raise InputError(
                f"expected KIND[:FACTOR][@RANK], got {part!r}", field="--faults"
            ) from None
        out.append(FaultCase(kind, rank=rank, factor=factor))
    if not out:
        raise InputError("no fault case given", field="--faults")
    return out


# -- tc and cgroup commands (pure builders, then the few lines that run them) --------------


@dataclass(frozen=True)
class Shaping:
    """One egress shaper to re-install: ``tc qdisc replace dev DEV root tbf rate R``."""

    ns: str
    dev: str
    rate_Bps: float


def nic_shapings(plan: Any, rank: int, factor: float) -> list[Shaping]:
    """Both directions of ``rank``'s link in a rig plan (host egress, switch-port egress),
    each at ``factor`` x its planned rate."""
    node = plan.hosts[rank].node
    out: list[Shaping] = []
    for ln in plan.links:
        if node in (ln.a, ln.b):
            out.append(Shaping(ln.a_ns, ln.a_dev, ln.rate_ab_Bps * factor))
            out.append(Shaping(ln.b_ns, ln.b_dev, ln.rate_ba_Bps * factor))
    return out


@dataclass(frozen=True)
class CpuCgroup:
    """A CPU cgroup capping its processes at ``quota_us`` per ``period_us`` (CFS bandwidth).

    ``version`` 2 writes ``cpu.max``; 1 writes ``cpu.cfs_period_us`` then ``cpu.cfs_quota_us``.
    """

    path: Path
    version: int
    quota_us: int
    period_us: int = CFS_PERIOD_US

    def writes(self) -> list[tuple[Path, str]]:
        """``(file, content)`` in the order to write them."""
        if self.version == 2:
            return [(self.path / "cpu.max", f"{self.quota_us} {self.period_us}")]
        return [
            (self.path / "cpu.cfs_period_us", str(self.period_us)),
            (self.path / "cpu.cfs_quota_us", str(self.quota_us)),
        ]

    def adopt(self, pids: Sequence[int]) -> None:
        """Move processes (with all their threads) into the cgroup."""
        procs = self.path / "cgroup.procs"
        for pid in pids:
            with contextlib.suppress(OSError):  # it ended meanwhile
                procs.write_text(str(pid))


def cpu_cgroup_root(sys_fs: Path = Path("/sys/fs/cgroup")) -> tuple[int, Path]:
    """``(version, directory)`` under which a CPU-bandwidth cgroup can be made.

    cgroup v2 where its root lists the ``cpu`` controller (the unified mount or a hybrid's
    ``unified/``); else the v1 ``cpu`` hierarchy. Raises InputError naming what is missing.
    """
    for root in (sys_fs, sys_fs / "unified"):
        ctl = root / "cgroup.controllers"
        if ctl.is_file() and "cpu" in ctl.read_text().split():
            return 2, root
    v1 = sys_fs / "cpu"
    if (v1 / "cpu.cfs_quota_us").is_file():
        return 1, v1
    raise InputError(
        "no CPU cgroup controller (cgroup v2 `cpu` or v1 `cpu.cfs_quota_us`)", file=str(sys_fs)
    )


def make_cgroup(name: str, share: float, sys_fs: Path = Path("/sys/fs/cgroup")) -> CpuCgroup:
    """Create cgroup ``name`` capped at ``share`` of one CPU (needs root)."""
    version, root = cpu_cgroup_root(sys_fs)
    if version == 2:
        with contextlib.suppress(OSError):  # let children use the cpu controller
            (root / "cgroup.subtree_control").write_text("+cpu")
    cg = CpuCgroup(root / name, version, max(1000, round(share * CFS_PERIOD_US)))
    cg.path.mkdir(exist_ok=True)
    for f, text in cg.writes():
        f.write_text(text)
    return cg


def remove_cgroup(cg: CpuCgroup) -> None:
    """Remove the cgroup (its processes have ended: the rig kills every rank's group)."""
    with contextlib.suppress(OSError):
        cg.path.rmdir()


def tbf_change_args(shaping: Shaping, mtu_B: int, queue_s: float) -> list[str]:
    """``tc`` arguments that change a running tbf shaper's rate in place (``qdisc change``:
    the qdisc and its queue stay, as a link renegotiating its speed)."""

    return [
        "qdisc", "change", "dev", shaping.dev, "root", "tbf",
        "rate", f"{round(shaping.rate_Bps * 8)}bit",
        "burst", str(burst_B(shaping.rate_Bps, mtu_B)), "latency", f"{queue_s * 1e3:.3f}ms",
    ]  # fmt: skip


#: File a fault recording keeps beside its traces: when the ranks were launched and when a
#: ``link-mid`` change was made, on ``time.time()`` (the wall clock: a torch CPU trace's ``ts``
#: plus its ``baseTimeNanoseconds`` is wall-clock time; checked on this machine 2026-12-05
#: against a trace file's modification time).
MARKS_FILE = "fault_marks.json"


def fault_launcher(
    case: FaultCase, marks: Path, delay_s: float = 0.0
) -> Callable[
    [Any, Callable[[int], list[str]], Mapping[str, str], float],
    list[subprocess.CompletedProcess[str]],
]:
    """A rig launcher (:data:`simulator.traces.record.RigLauncher`) that builds the rig, applies
    ``case`` and runs the ranks; ``link-mid`` changes the shapers ``delay_s`` after the launch.
    Writes :data:`MARKS_FILE` to ``marks``. The rig is torn down and the cgroup removed, also
    on failure."""

    def launch(
        topology: Any,
        argv_for_rank: Callable[[int], list[str]],
        env: Mapping[str, str],
        timeout_s: float,
    ) -> list[subprocess.CompletedProcess[str]]:
        out: dict[str, Any] = {"case": case.name, "clock": "time.time"}
        with Rig(topology) as rig:
            cg: CpuCgroup | None = None
            timer: threading.Thread | None = None
            shapes = nic_shapings(rig.plan, case.rank, case.factor)
            if case.kind is FaultKind.SLOW_NIC:
                for s in shapes:
                    netns.shape_egress(
                        s.ns, s.dev, rate_Bps=s.rate_Bps,
                        burst_B=burst_B(s.rate_Bps, rig.plan.mtu_B), queue_s=QUEUE_S,
                    )  # fmt: skip
            elif case.kind is FaultKind.LINK_MID:

                def change() -> None:
                    with contextlib.suppress(netns.NetnsCommandError):
                        for s in shapes:
                            netns.tc(tbf_change_args(s, rig.plan.mtu_B, QUEUE_S), ns=s.ns)
                        out["changed_at_s"] = time.time()

                timer = threading.Timer(delay_s, change)
            else:
                cg = make_cgroup(f"{rig.plan.prefix}throttle{os.getpid()}", case.factor)
                out["cfs"] = {"quota_us": cg.quota_us, "period_us": cg.period_us}
                out["busy_free_s"], out["busy_capped_s"] = busy_loop_s(None), busy_loop_s(cg)
                timer = _Adopter(cg, rig.plan.hosts[case.rank].ns)
            try:
                out["launched_at_s"] = time.time()
                if timer is not None:
                    timer.start()
                return rig.launch(argv_for_rank, env, timeout_s)
            finally:
                if isinstance(timer, threading.Timer | _Adopter):
                    timer.cancel()
                if timer is not None:
                    timer.join()
                if cg is not None:
                    remove_cgroup(cg)
                marks.parent.mkdir(parents=True, exist_ok=True)
                marks.write_text(json.dumps(out, indent=2))

    return launch


#: A fixed CPU-bound loop (one thread, about 1 s on this machine: 100 CFS periods, so the
#: 4 ms scheduler tick's overrun averages out; a 0.15 s loop gave x1.52 and x2.08 in two runs
#: of 2026-12-05) that starts when told on stdin.
_BUSY = (
    "import sys, time; sys.stdin.readline(); t = time.perf_counter(); "
    "sum(i * i for i in range(20_000_000)); print(time.perf_counter() - t)"
)


def busy_loop_s(cgroup: CpuCgroup | None) -> float:
    """Seconds a fixed single-threaded CPU loop takes, inside ``cgroup`` (None: outside)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    if cgroup is not None:
        cgroup.adopt([proc.pid])
    out, _ = proc.communicate("go\n", timeout=120)
    return float(out.strip())


def measured_compute_factor(trace_dir: Path) -> float | None:
    """A ``cpu-throttle`` recording's slowdown of a CPU-bound loop in its cgroup (measured
    alone, just before the ranks started), or None when it has none."""
    f = trace_dir / MARKS_FILE
    marks = json.loads(f.read_text()) if f.is_file() else {}
    if "busy_capped_s" not in marks:
        return None
    return float(marks["busy_capped_s"]) / float(marks["busy_free_s"])


class _Adopter(threading.Thread):
    """Moves every process of namespace ``ns`` into ``cgroup`` as it appears, every 0.1 s.

    From the root namespace: ``ip netns exec`` remounts ``/sys`` for the namespace, so a rank
    cannot join a cgroup itself. The worker appears within 0.1 s of its start, long before its
    warm-up steps (torch's import alone takes seconds).
    """

    def __init__(self, cgroup: CpuCgroup, ns: str) -> None:
        super().__init__(daemon=True)
        self.cgroup, self.ns = cgroup, ns
        self._stop_event = threading.Event()
        self.adopted: set[int] = set()

    def run(self) -> None:

        while not self._stop_event.wait(0.1):
            out = netns.ip(["netns", "pids", self.ns], check=False)
            new = [int(t) for t in out.split() if t.isdigit() and int(t) not in self.adopted]
            self.cgroup.adopt(new)
            self.adopted.update(new)

    def cancel(self) -> None:
        """Stop polling."""
        self._stop_event.set()


# -- the cases -----------------------------------------------------------------------------


def trace_base_s(trace_file: Path) -> float:
    """A torch CPU trace's ``baseTimeNanoseconds`` in seconds (``ts`` + base = wall clock)."""
    opener = gzip.open if trace_file.suffix == ".gz" else open
    with opener(trace_file, "rt") as fh:
        hits = re.findall(r'"baseTimeNanoseconds"\s*:\s*(\d+)', fh.read())
    if not hits:
        raise InputError("no baseTimeNanoseconds", file=str(trace_file))
    return int(hits[-1]) / 1e9


def first_step_start_s(trace_dir: Path) -> float:
    """Wall-clock time (s since the epoch) at which the first replayed (good) measured step
    started, earliest rank."""

    imp = import_trace_dir(str(trace_dir))
    k = imp.good_steps[0]
    starts = []
    for r in range(imp.world):
        f = next(iter(sorted(trace_dir.glob(f"rank{r}.trace.json*"))))
        starts.append(trace_base_s(f) + imp.timelines[r][k].start_s)
    return min(starts)


#: Seconds a healthy recording spends after its last measured step (trace export, exit), on
#: rig-2host 2026-12-05: DDP 1.0 s, ps-async 1.7 s (record_wall_s - measured steps - the
#: link-mid runs' start offsets); only aims the change, whose real time is recorded.
TAIL_S = 1.0


def _change_delay_s(healthy: Path) -> float:
    """Seconds after launch at which to change a ``link-mid`` link: half-way through the
    measured steps, as timed by the healthy recording (its wall time less its measured steps
    and :data:`TAIL_S` is when they started)."""
    manifest = json.loads((healthy / "manifest.json").read_text())
    total = sum(manifest["step_times_s"][0])
    wall = float(manifest.get("record_wall_s") or 0.0)
    return max(0.0, wall - total - TAIL_S) + total / 2


def fault_recording(validator: Validator, case: FaultCase, strategy: str) -> Path:
    """The trace directory of ``strategy`` on the validator's topology under ``case``,
    recorded now if missing (``work_dir/<topology>+<case>/<strategy>``)."""

    out = validator.work_dir / f"{topology_dir_name(validator.topology)}+{case.name}" / strategy
    if (out / "manifest.json").is_file():
        return out
    delay = 0.0
    if case.kind is FaultKind.LINK_MID:
        delay = _change_delay_s(validator.recording(validator.topology, strategy))
    cfg = validator.record_config(validator.topology, strategy, out)
    validator.log(f"recording {strategy} on {validator.topology} with {case.name}")
    record(
        cfg, topology=validator.topology, timeout_s=validator.timeout_s,
        launcher=fault_launcher(case, out / MARKS_FILE, delay),
    )  # fmt: skip
    return out


def change_at_s(trace_dir: Path) -> float:
    """When a ``link-mid`` recording's link changed, seconds after its first replayed step
    started (negative: before it)."""
    marks = json.loads((trace_dir / MARKS_FILE).read_text())
    if "changed_at_s" not in marks:
        raise InputError("the link was never changed (the run ended first)", file=str(trace_dir))
    return float(marks["changed_at_s"]) - first_step_start_s(trace_dir)


def fault_case(validator: Validator, case: FaultCase, strategy: str) -> CaseResult:
    """Measure ``strategy`` under ``case``; predict it by replaying the healthy recording under
    ``case.faults`` (for ``link-mid``, at the recorded change time)."""

    topo = load_topology(validator.topology)
    base = validator.recording(validator.topology, strategy)
    meas_dir = fault_recording(validator, case, strategy)
    at = change_at_s(meas_dir) if case.kind is FaultKind.LINK_MID else 0.0
    factor = measured_compute_factor(meas_dir)
    faults = case.faults(topo, at, factor)
    out = replay(str(base), topology=topo, backend=validator.backend, faults=faults)
    # A mid-run change makes the steps bimodal (before / after): compare the mean step (the
    # measured steps' total / their number), where a median would pick one side.
    centre = statistics.fmean if case.kind is FaultKind.LINK_MID else statistics.median
    predicted = float(centre([p.predicted_s for p in out.per_step]))
    measured = _measured_steps(meas_dir)
    med = float(centre(measured))
    on = f"{validator.topology} + faults {case.name}" + (f" at {at:.3f} s" if at else "")
    on += f" compute x{factor:.3f} (measured alone)" if factor else ""
    return CaseResult(
        tier=FAULT_TIER,
        case=f"{strategy}@{validator.topology}+{case.name}",
        measured_s=med,
        predicted_s=predicted,
        error_pct=100.0 * (predicted - med) / med,
        spread_pct=100.0 * (max(measured) - min(measured)) / med,
        steps=len(measured),
        topology=validator.topology,
        strategy=strategy,
        predicted_on=on,
        recorded=str(base),
        measured_from=str(meas_dir),
    )


def fault_summary(cases: Sequence[CaseResult]) -> ErrorStats:
    """Number of fault cases and their median and max |error| (percent)."""
    return ErrorStats.of([c.error_pct for c in cases if c.tier == FAULT_TIER])


def run_fault_cases(
    validator: Validator, cases: Sequence[FaultCase], strategies: Sequence[str] = FAULT_STRATEGIES
) -> list[CaseResult]:
    """Every case for every strategy (healthy recordings are shared with the other tiers)."""

    todo = [(c, s) for c in cases for s in strategies]
    progress.set_total(len(todo), "fault cases on the rig")
    results = []
    for c, s in todo:
        progress.advance(0, description=f"{s} with {c.name}")
        results.append(fault_case(validator, c, s))
        progress.advance()
    return results


def fault_scatter_png(cases: Sequence[CaseResult], path: Path) -> Path:
    """Predicted against measured step time of the fault cases, one marker per fault kind and
    one colour per strategy, with the y = x line and +-8 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [c for c in cases if c.tier == FAULT_TIER]
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    markers = {
        FaultKind.SLOW_NIC.value: "o",
        FaultKind.CPU_THROTTLE.value: "s",
        FaultKind.LINK_MID.value: "^",
    }
    for kind, marker in markers.items():
        for strat in sorted({c.strategy for c in sel}):
            pts = [c for c in sel if c.strategy == strat and f"+{kind}-" in c.case]
            if pts:
                ax.scatter(
                    [c.measured_s for c in pts], [c.predicted_s for c in pts],
                    marker=marker, label=f"{strat}, {kind}",
                )  # fmt: skip
    values = [v for c in sel for v in (c.measured_s, c.predicted_s)] or [0.1, 1.0]
    lo, hi = min(values) * 0.8, max(values) * 1.2
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=0.8, label="predicted = measured")
    ax.fill_between([lo, hi], [lo * 0.92, hi * 0.92], [lo * 1.08, hi * 1.08], alpha=0.15,
                    color="grey", label="±8 %")  # fmt: skip
    ax.set_xlabel("measured step time (s)")
    ax.set_ylabel("predicted step time (s)")
    ax.set_title("commsim validate --faults: rig fault cases")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def with_fault_cases(
    res: RigValidation, validator: Validator, cases: Sequence[FaultCase]
) -> RigValidation:
    """``res`` with the fault cases run by ``validator`` appended, their statistics in
    ``summary.faults`` and ``all`` updated."""
    extra = run_fault_cases(validator, cases)
    all_cases = (*res.cases, *extra)
    tiers = {**res.summary.tiers, "all": summarize(all_cases)["all"]}
    summary = replace(res.summary, tiers=tiers, faults=fault_summary(extra))
    return replace(res, cases=all_cases, summary=summary)
