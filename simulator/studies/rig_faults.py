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
  mechanism). Prediction: ``slow_ranks`` with ``compute_factor = 1 / factor``. The factor
  comes from the quota, not from a run: a worker of one busy thread (``OMP_NUM_THREADS=1``)
  that held a whole core gets ``quota / period`` of it, so its compute lasts
  ``period / quota`` times as long; communication waits are not CPU-bound and keep their time.

Definitions follow :mod:`simulator.studies.rig_validation` (measured step: median over the
measured steps of the slowest rank's step; predicted: median of the replay's per-step
predictions; ``error_pct = 100 * (predicted - measured) / measured``). Cases are tier
``faults`` in ``validate.json``; their own summary is ``summary["faults"]``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.faults.schema import FaultsConfig

#: The strategies every fault case runs: synchronous DDP and the asynchronous parameter server.
FAULT_STRATEGIES: tuple[str, ...] = ("ddp", "ps-async")

#: CFS period of the throttled host's cgroup (the kernel default, 100 ms).
CFS_PERIOD_US = 100_000

#: The tier name fault cases carry in ``validate.json``.
FAULT_TIER = "faults"


class FaultKind(StrEnum):
    """What a rig fault case does to one host."""

    SLOW_NIC = "slow-nic"
    CPU_THROTTLE = "cpu-throttle"


@dataclass(frozen=True)
class FaultCase:
    """One host of the rig made slow.

    Attributes:
        kind: slow NIC or CPU-throttled host.
        rank: the rank (= host) perturbed.
        factor: ``slow-nic``: the NIC's new rate / its topology rate; ``cpu-throttle``: the
            cgroup's quota / period (share of one CPU), in (0, 1].
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

    def faults(self, topology: Any) -> FaultsConfig:
        """The ``faults:`` that predict this case on ``topology`` (a Topology)."""
        if not 0 <= self.rank < topology.num_ranks:
            raise InputError(
                f"no rank {self.rank} on {topology.name} ({topology.num_ranks} ranks)",
                field="--faults",
            )
        if self.kind is FaultKind.SLOW_NIC:
            node = topology.ranks[self.rank]
            peers = sorted({lk.dst for lk in topology.links if lk.src == node})
            return FaultsConfig.model_validate(
                {
                    "links": [
                        {
                            "link": f"{node}-{p}",
                            "state": "degraded",
                            "bandwidth_factor": self.factor,
                        }
                        for p in peers
                    ]
                }
            )
        return FaultsConfig.model_validate(
            {"slow_ranks": [{"ranks": [self.rank], "compute_factor": 1.0 / self.factor}]}
        )


#: The cases ``--faults all`` runs (rank 1: not the master/parameter server of rank 0).
DEFAULT_CASES: tuple[FaultCase, ...] = (
    FaultCase(FaultKind.SLOW_NIC, rank=1, factor=0.4),
    FaultCase(FaultKind.CPU_THROTTLE, rank=1, factor=0.5),
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
                f"unknown fault case {kind_s!r} (choose from {choices}, all)", field="--faults"
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

    def join_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run by a shell that first moves itself into the cgroup, then ``exec``s it
        (children and threads inherit the cgroup)."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *argv]


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


def fault_launcher(
    case: FaultCase,
) -> Callable[
    [Any, Callable[[int], list[str]], Mapping[str, str], float],
    list[subprocess.CompletedProcess[str]],
]:
    """A rig launcher (:data:`simulator.traces.record.RigLauncher`) that builds the rig, applies
    ``case`` and runs the ranks; the rig is torn down and the cgroup removed, also on failure."""
    from simulator.rig import netns
    from simulator.rig.cluster import QUEUE_S, Rig, burst_B

    def launch(
        topology: Any,
        argv_for_rank: Callable[[int], list[str]],
        env: Mapping[str, str],
        timeout_s: float,
    ) -> list[subprocess.CompletedProcess[str]]:
        with Rig(topology) as rig:
            argv = argv_for_rank
            cg: CpuCgroup | None = None
            if case.kind is FaultKind.SLOW_NIC:
                for s in nic_shapings(rig.plan, case.rank, case.factor):
                    netns.shape_egress(
                        s.ns, s.dev, rate_Bps=s.rate_Bps,
                        burst_B=burst_B(s.rate_Bps, rig.plan.mtu_B), queue_s=QUEUE_S,
                    )  # fmt: skip
            else:
                cg = make_cgroup(f"{rig.plan.prefix}throttle{os.getpid()}", case.factor)
                joined = cg

                def argv(r: int) -> list[str]:
                    base = argv_for_rank(r)
                    return joined.join_argv(base) if r == case.rank else base

            try:
                return rig.launch(argv, env, timeout_s)
            finally:
                if cg is not None:
                    remove_cgroup(cg)

    return launch


# -- the cases -----------------------------------------------------------------------------


def fault_recording(validator: Any, case: FaultCase, strategy: str) -> Path:
    """The trace directory of ``strategy`` on the validator's topology under ``case``,
    recorded now if missing (``work_dir/<topology>+<case>/<strategy>``)."""
    from simulator.topology import load_topology
    from simulator.traces.models import GPTConfig
    from simulator.traces.recipe import RecordConfig, RecordStrategy
    from simulator.traces.record import record

    out = validator.work_dir / f"{validator.topology}+{case.name}" / strategy
    if (out / "manifest.json").is_file():
        return out
    s = validator.shape
    cfg = RecordConfig(
        world=load_topology(validator.topology).num_ranks,
        strategy=RecordStrategy(strategy),
        steps=validator.steps,
        out_dir=str(out),
        gpt=GPTConfig(
            d_model=s.d_model,
            n_head=s.n_head,
            n_layer=s.n_layer,
            seq_len=s.seq_len,
            batch=s.batch,
        ),
        warmup_steps=validator.warmup,
        execution_trace=False,
    )
    validator.log(f"recording {strategy} on {validator.topology} with {case.name}")
    record(
        cfg, topology=validator.topology, timeout_s=validator.timeout_s,
        launcher=fault_launcher(case),
    )  # fmt: skip
    return out


def fault_case(validator: Any, case: FaultCase, strategy: str) -> Any:
    """Replay the healthy ``strategy`` recording under ``case.faults``; measure under ``case``."""
    from simulator.studies.rig_validation import CaseResult, _measured_steps
    from simulator.studies.trace_replay import replay
    from simulator.topology import load_topology

    topo = load_topology(validator.topology)
    base = validator.recording(validator.topology, strategy)
    out = replay(str(base), topology=topo, backend=validator.backend, faults=case.faults(topo))
    predicted = float(statistics.median(p.predicted_s for p in out.per_step))
    meas_dir = fault_recording(validator, case, strategy)
    measured = _measured_steps(meas_dir)
    med = float(statistics.median(measured))
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
        predicted_on=f"{validator.topology} + faults {case.name}",
        recorded=str(base),
        measured_from=str(meas_dir),
    )


def fault_summary(cases: Sequence[Any]) -> dict[str, Any]:
    """Number of fault cases and their median and max |error| (percent)."""
    errs = [abs(c.error_pct) for c in cases if c.tier == FAULT_TIER]
    if not errs:
        return {"n": 0}
    return {
        "n": len(errs),
        "median_abs_error_pct": float(statistics.median(errs)),
        "max_abs_error_pct": float(max(errs)),
    }


def run_fault_cases(
    validator: Any, cases: Sequence[FaultCase], strategies: Sequence[str] = FAULT_STRATEGIES
) -> list[Any]:
    """Every case for every strategy (healthy recordings are shared with the other tiers)."""
    from simulator.report import progress

    todo = [(c, s) for c in cases for s in strategies]
    progress.set_total(len(todo), "fault cases on the rig")
    results = []
    for c, s in todo:
        progress.advance(0, description=f"{s} with {c.name}")
        results.append(fault_case(validator, c, s))
        progress.advance()
    return results


def fault_scatter_png(cases: Sequence[Any], path: Path) -> Path:
    """Predicted against measured step time of the fault cases, one marker per fault kind and
    one colour per strategy, with the y = x line and +-8 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [c for c in cases if c.tier == FAULT_TIER]
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    markers = {FaultKind.SLOW_NIC.value: "o", FaultKind.CPU_THROTTLE.value: "s"}
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


def with_fault_cases(res: Any, validator: Any, cases: Sequence[FaultCase]) -> Any:
    """``res`` (a :class:`~simulator.studies.rig_validation.RigValidation`) with the fault
    cases run by ``validator`` appended and ``summary["faults"]`` (and ``all``) updated."""
    from dataclasses import replace as dc_replace

    from simulator.studies.rig_validation import summarize

    extra = run_fault_cases(validator, cases)
    all_cases = (*res.cases, *extra)
    summary = {**res.summary, "all": summarize(all_cases)["all"], FAULT_TIER: fault_summary(extra)}
    return dc_replace(res, cases=all_cases, summary=summary)
