"""The validation ladder on the rig: measured training steps against the simulator's predictions.

Three tiers (DESIGN.md), all from real ``torch.distributed`` gloo runs recorded on the rig by
the traces recorder (:func:`simulator.traces.record.record`, which calls
:func:`simulator.rig.cluster.launch_on_rig`):

1. ``replay``: record strategy S on topology T, replay the trace on T.
2. ``topology``: record DDP (and FSDP, when validated) on T1, replay its trace on T2 (a NIC
   halved, an oversubscribed uplink: :data:`~simulator.studies.rig_cases.WHAT_IF`), and measure
   the same strategy on T2.
3. ``strategy``: record DDP on T, re-shard its measured per-layer profile to S
   (:func:`simulator.studies.trace_reshard.reshard`) and predict S, then measure S on T.

Definitions: a recording's *measured step* is the median over its measured steps of the slowest
rank's step time; its *spread* is ``(max - min) / median`` of those steps, in percent. A replay's
*predicted step* is the median of its per-step predictions; a re-sharded prediction is one
simulated step. ``error_pct = 100 * (predicted - measured) / measured``.

Tier 3 also attributes its error. ``own_compute_predicted_s`` re-shards the *measured*
strategy's own recording to itself: the same strategy model (schedule, communication, backend)
with that run's own compute. Its error (``own_compute_error_pct``) is what the strategy model
gets wrong; the rest of ``error_pct`` comes from carrying the DDP recording's compute over to
the other strategy (framework overhead, other GEMM shapes, other CPU contention). Both
predictions build the strategy as the recorder runs it (``blocking_host``: its host waits for
every device item, so FSDP prefetches nothing and waits for each collective in order, and the
ps-sync server serves one worker at a time;
:class:`~simulator.workload.strategies.context.JobContext`).

Predictions use the calibrated backend of the run's rank count
(:func:`simulator.rig.calibrate.rig_calibration`: ``gloo-rig.yaml`` fitted on rig-2host
microbenchmarks, ``gloo-rig-4rank.yaml`` on rig-4host-flat ones, the nearest rank count's
fit for a count without one), never constants fitted on
these runs. Each recording is made once and reused by every case that needs it.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.core.errors import InputError, InputNote
from simulator.report import progress
from simulator.rig.calibrate import rig_calibration
from simulator.rig.cluster import launch_on_rig
from simulator.studies.rig_cases import (
    BASE_STRATEGY,
    FAULT_TIER,
    TOPOLOGY_STRATEGIES,
    WHAT_IF,
    ModelShape,
    Tier,
)
from simulator.studies.trace_replay import replay
from simulator.studies.trace_reshard import check_degree, reshard
from simulator.topology import load_topology
from simulator.traces.models import GPTConfig
from simulator.traces.recipe import MICROBATCHES, RecordConfig, RecordStrategy
from simulator.traces.record import record
from simulator.traces.roofline import roofline_device_times, tp_degree

if TYPE_CHECKING:
    from simulator.traces.recipe import RecordConfig


def topology_dir_name(topology: str) -> str:
    """The directory a recording on ``topology`` (a shipped NAME or a YAML PATH) is kept in,
    below the validator's work directory: the name itself, or for a path its stem and a short
    hash of the absolute path (a path must not place recordings beside the user's file, and two
    files with the same stem must not share recordings)."""
    p = Path(topology)
    if p.suffix not in (".yaml", ".yml") and len(p.parts) == 1:
        return topology
    digest = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:8]
    return f"{p.stem}-{digest}"


@dataclass(frozen=True)
class CaseResult:
    """One validation case: what was measured, what was predicted, and the error."""

    tier: str
    case: str
    measured_s: float
    predicted_s: float
    error_pct: float
    spread_pct: float
    steps: int
    topology: str
    strategy: str
    predicted_on: str
    recorded: str
    measured_from: str
    own_compute_predicted_s: float | None = None
    own_compute_error_pct: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON record (contract keys first)."""
        return asdict(self)


def _microbatches(kind: RecordStrategy, world: int, batch: int) -> int:
    """The recorder's pipeline micro-batches for a rig of ``world`` ranks: its default
    (:data:`~simulator.traces.recipe.MICROBATCHES`), or one per stage where 1F1B has more
    stages than that (torch's Schedule1F1B needs at least one per stage); ``batch`` (sequences
    per step) must then divide into them."""
    if kind is not RecordStrategy.PP_1F1B or world <= MICROBATCHES:
        return MICROBATCHES
    if batch % world:
        raise InputError(
            f"{kind.value} on {world} ranks runs {world} micro-batches (one per stage), so "
            f"the batch must be a multiple of {world}, got {batch}",
            field="--batch",
        )
    return world


@dataclass
class Validator:
    """Runs the ladder for one rig topology and a list of (recorder) strategy names.

    Attributes:
        topology: the rig topology (its rank count is the world size).
        strategies: recorder strategy names (tier 1 runs each; tier 3 predicts each but DDP).
        work_dir: recordings go to ``work_dir/<topology>/<strategy>``; existing ones are reused.
        backend: the backend profile predictions use (name or YAML path); empty: the
            calibration of the topology's rank count (:func:`rig_calibration`).
        steps, warmup: measured and warm-up steps per recording.
        shape: the tiny GPT's shape.
        what_if: tier-2 target topologies (default: :data:`WHAT_IF` of ``topology``).
        tiers: which tiers to run.
        timeout_s: per recording.
        log: progress messages (stderr in the CLI).
        device: ``"cpu"`` or ``"accel"``: the recorder's device mode
            (:mod:`simulator.traces.accel`) for every recording.
        roofline: accel mode's durations from a roofline, ``(gpu, slowdown)``
            (:mod:`simulator.traces.roofline`); None: measured on the CPU alone.
    """

    topology: str
    strategies: Sequence[str]
    work_dir: Path
    backend: str = ""
    steps: int = 8
    warmup: int = 2
    shape: ModelShape = field(default_factory=ModelShape)
    what_if: Sequence[str] | None = None
    tiers: Sequence[Tier] = (Tier.REPLAY, Tier.TOPOLOGY, Tier.STRATEGY)
    timeout_s: float = 900.0
    log: Callable[[str], None] = lambda msg: None
    device: str = "cpu"
    roofline: tuple[str, float] | None = None

    def __post_init__(self) -> None:
        if not self.backend:
            self.backend = rig_calibration(load_topology(self.topology).num_ranks)

    # -- recordings ------------------------------------------------------------------------
    def record_config(self, topology: str, strategy: str, out: Path) -> RecordConfig:
        """How to record ``strategy`` on ``topology`` into ``out``: the validator's steps,
        warm-up, model shape and device mode (every rig recording is made from this)."""

        s = self.shape
        world = load_topology(topology).num_ranks
        kind = RecordStrategy(strategy)
        cfg = RecordConfig(
            world=world,
            strategy=kind,
            steps=self.steps,
            microbatches=_microbatches(kind, world, s.batch),
            out_dir=str(out),
            gpt=GPTConfig(
                d_model=s.d_model,
                n_head=s.n_head,
                n_layer=s.n_layer,
                seq_len=s.seq_len,
                batch=s.batch,
            ),
            warmup_steps=self.warmup,
            execution_trace=False,
            device=self.device,
        )
        if self.roofline is None:
            return cfg

        return replace(
            cfg, device_times=roofline_device_times(cfg.gpt, *self.roofline, tp=tp_degree(cfg))
        )

    def recording(self, topology: str, strategy: str) -> Path:
        """The trace directory of ``strategy`` on ``topology``, recorded now if missing."""

        out = self.work_dir / topology_dir_name(topology) / strategy
        if (out / "manifest.json").is_file():
            return out
        cfg = self.record_config(topology, strategy, out)
        self.log(f"recording {strategy} on {topology} ({cfg.world} ranks, {self.steps} steps)")
        record(cfg, topology=topology, timeout_s=self.timeout_s, launcher=launch_on_rig)
        return out

    def check(self) -> None:
        """Raise :class:`InputError` for a recording the ladder could not make (the model
        shape, each strategy's :meth:`RecordConfig.validate`), before any is made."""
        shape = self.shape
        if shape.d_model % shape.n_head:
            raise InputError(
                f"must be a multiple of the tiny GPT's {shape.n_head} heads, got {shape.d_model}",
                field="--d-model",
            )
        for s in dict.fromkeys([*self.strategies, BASE_STRATEGY]):
            cfg = self.record_config(self.topology, s, self.work_dir / "unused")
            cfg.validate()
            if Tier.STRATEGY in self.tiers and s != BASE_STRATEGY:
                # tier 3 re-shards the DDP recording to s: a pp/tp degree of 1 was refused
                # only after every recording had been made
                try:
                    check_degree({"model_config": asdict(cfg.gpt)}, s, cfg.world)
                except InputError as err:
                    pp = s.startswith("pp")
                    fix = "choose --layers sharing a factor with" if pp else "leave tp out on"
                    raise InputError(
                        f"{err.message.split('; ')[0]}; {fix} the topology's {cfg.world} hosts",
                        field="--layers" if pp else "--strategies",
                    ) from None

    # -- the tiers -------------------------------------------------------------------------
    def run(self) -> list[CaseResult]:
        """Run every selected tier; return the cases in tier order."""

        world = load_topology(self.topology).num_ranks
        self.check()
        cases: list[tuple[str, Callable[[], CaseResult]]] = []
        if Tier.REPLAY in self.tiers:
            for s in self.strategies:
                cases.append((f"replay {s}", partial(self.replay_case, s)))
        if Tier.TOPOLOGY in self.tiers:
            targets = self.what_if if self.what_if is not None else WHAT_IF.get(self.topology, ())
            if not targets:
                warnings.warn(
                    f"tier topology: no what-if topology is known for {self.topology} "
                    f"(shipped pairs: {', '.join(f'{a} -> {b[0]}' for a, b in WHAT_IF.items())}); "
                    "give one with --what-if T2 (same number of hosts)",
                    InputNote,
                    stacklevel=2,
                )
            for t2 in targets:
                if (hosts := load_topology(t2).num_ranks) != world:
                    raise InputError(
                        f"{t2} has {hosts} hosts but {self.topology} has {world}; a what-if "
                        "topology must have the same number of hosts",
                        field="what_if",
                    )
                for s in TOPOLOGY_STRATEGIES:
                    if s == BASE_STRATEGY or s in self.strategies:
                        cases.append((f"{s} on {t2}", partial(self.topology_case, t2, s)))
        if Tier.STRATEGY in self.tiers:
            for s in self.strategies:
                if s != BASE_STRATEGY:
                    cases.append((f"strategy {s}", partial(self.strategy_case, s)))
        progress.set_total(len(cases), "validate on the rig")
        results: list[CaseResult] = []
        for label, case in cases:
            progress.advance(0, description=label)
            results.append(case())
            progress.advance()
        return results

    def replay_case(self, strategy: str) -> CaseResult:
        """Tier 1: record ``strategy`` on the topology and replay it there."""

        rec = self.recording(self.topology, strategy)
        out = replay(str(rec), topology=self.topology, backend=self.backend)
        measured = [p.measured_s for p in out.per_step]
        predicted = statistics.median(p.predicted_s for p in out.per_step)
        return _case(
            Tier.REPLAY, f"{strategy}@{self.topology}", measured, predicted,
            topology=self.topology, strategy=strategy, predicted_on=self.topology,
            recorded=str(rec), measured_from=str(rec),
        )  # fmt: skip

    def topology_case(self, target: str, strategy: str = BASE_STRATEGY) -> CaseResult:
        """Tier 2: replay the ``strategy`` trace of the topology on ``target``; measure
        ``strategy`` there."""

        src = self.recording(self.topology, strategy)
        out = replay(str(src), topology=target, backend=self.backend)
        predicted = statistics.median(p.predicted_s for p in out.per_step)
        meas_dir = self.recording(target, strategy)
        return _case(
            Tier.TOPOLOGY, f"{strategy}@{self.topology}->{target}",
            _measured_steps(meas_dir), predicted, topology=target, strategy=strategy,
            predicted_on=target, recorded=str(src), measured_from=str(meas_dir),
        )  # fmt: skip

    def strategy_case(self, strategy: str) -> CaseResult:
        """Tier 3: re-shard the DDP trace to ``strategy`` and predict; measure ``strategy``."""

        src = self.recording(self.topology, BASE_STRATEGY)
        topo = load_topology(self.topology)

        def predict(rec: Path) -> float:
            res = reshard(
                rec, strategy=strategy, world=topo.num_ranks, topology=self.topology,
                backend=self.backend, blocking_host=True,
            )  # fmt: skip
            return float(res.predicted_step_s)

        meas_dir = self.recording(self.topology, strategy)
        return _case(
            Tier.STRATEGY, f"{BASE_STRATEGY}->{strategy}@{self.topology}",
            _measured_steps(meas_dir), predict(src), topology=self.topology, strategy=strategy,
            predicted_on=self.topology, recorded=str(src), measured_from=str(meas_dir),
            own_compute_s=predict(meas_dir),
        )  # fmt: skip


def _measured_steps(trace_dir: Path) -> list[float]:
    """Per measured step, the slowest rank's step time (from the manifest), seconds."""
    manifest = json.loads((trace_dir / "manifest.json").read_text())
    per_rank: list[list[float]] = manifest["step_times_s"]
    n = min(len(r) for r in per_rank)
    return [max(r[k] for r in per_rank) for k in range(n)]


def _case(
    tier: Tier,
    name: str,
    measured_steps: Sequence[float],
    predicted_s: float,
    *,
    topology: str,
    strategy: str,
    predicted_on: str,
    recorded: str,
    measured_from: str,
    own_compute_s: float | None = None,
) -> CaseResult:
    med = float(statistics.median(measured_steps))
    spread = 100.0 * (max(measured_steps) - min(measured_steps)) / med

    def err(pred: float) -> float:
        return 100.0 * (pred - med) / med

    return CaseResult(
        tier=tier.value,
        case=name,
        measured_s=med,
        predicted_s=float(predicted_s),
        error_pct=err(predicted_s),
        spread_pct=spread,
        steps=len(measured_steps),
        topology=topology,
        strategy=strategy,
        predicted_on=predicted_on,
        recorded=recorded,
        measured_from=measured_from,
        own_compute_predicted_s=own_compute_s,
        own_compute_error_pct=None if own_compute_s is None else err(own_compute_s),
    )


@dataclass(frozen=True)
class ErrorStats:
    """How far a set of cases' predictions are off: ``n`` cases and their absolute errors in
    percent (``None`` when ``n`` is 0). ``own_compute_median_abs_error_pct``: tier 3 only, the
    median with the measured strategy's own compute."""

    n: int
    median_abs_error_pct: float | None = None
    max_abs_error_pct: float | None = None
    own_compute_median_abs_error_pct: float | None = None

    @classmethod
    def of(cls, errors_pct: Sequence[float]) -> ErrorStats:
        """The statistics of ``errors_pct`` (signed percent; their absolute values count)."""
        errs = [abs(e) for e in errors_pct]
        if not errs:
            return cls(0)
        return cls(len(errs), float(statistics.median(errs)), float(max(errs)))

    def to_json(self) -> dict[str, int | float]:
        """``{"n": ...}`` plus the statistics that exist, in field order."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def summarize(cases: Sequence[CaseResult]) -> dict[str, ErrorStats]:
    """Per tier (in :class:`Tier` order) and ``all``: :class:`ErrorStats` of ``cases``."""
    out = {t.value: ErrorStats.of([c.error_pct for c in cases if c.tier == t.value]) for t in Tier}
    own = [abs(c.own_compute_error_pct) for c in cases if c.own_compute_error_pct is not None]
    if own:
        st = Tier.STRATEGY.value
        out[st] = replace(out[st], own_compute_median_abs_error_pct=float(statistics.median(own)))
    out["all"] = ErrorStats.of([c.error_pct for c in cases])
    return out


@dataclass(frozen=True)
class RigSummary:
    """What ``commsim validate`` reports about a rig run besides its cases.

    Attributes:
        tiers: :class:`ErrorStats` per tier and ``all`` (:func:`summarize`).
        backend: the backend profile the predictions used.
        topology: the rig topology.
        model: the tiny GPT's shape (:class:`ModelShape` fields).
        device: the recorder's device mode (``cpu`` or ``accel``).
        faults: the ``--faults`` cases' statistics, when there are some.
    """

    tiers: dict[str, ErrorStats]
    backend: str
    topology: str
    model: dict[str, int]
    device: str = "cpu"
    faults: ErrorStats | None = None

    def stats(self) -> dict[str, ErrorStats]:
        """Every tier's statistics, ``all`` and, if any, ``faults`` (report order)."""
        return {**self.tiers, **({FAULT_TIER: self.faults} if self.faults is not None else {})}

    def to_json(self) -> dict[str, object]:
        """The JSON ``summary``: the tiers, ``all``, then backend, topology, model, device
        (and ``faults``)."""
        out: dict[str, object] = {k: v.to_json() for k, v in self.tiers.items()}
        out.update(backend=self.backend, topology=self.topology, model=dict(self.model))
        out["device"] = self.device
        if self.faults is not None:
            out[FAULT_TIER] = self.faults.to_json()
        return out


def format_cases(cases: Sequence[CaseResult]) -> str:
    """A text table: tier, case, measured (median, spread), predicted, error, and for tier 3 the
    error with the measured strategy's own compute."""
    head = (
        f"{'tier':<9} {'case':<44} {'measured_s':>10} {'spread_%':>8} "
        f"{'predicted_s':>11} {'error_%':>8} {'own_compute_%':>13}"
    )
    lines = [head]
    for c in cases:
        own = f"{c.own_compute_error_pct:>13.1f}" if c.own_compute_error_pct is not None else ""
        lines.append(
            f"{c.tier:<9} {c.case:<44} {c.measured_s:>10.4f} {c.spread_pct:>8.1f} "
            f"{c.predicted_s:>11.4f} {c.error_pct:>8.1f} {own}".rstrip()
        )
    return "\n".join(lines)


def scatter_png(cases: Sequence[CaseResult], path: Path) -> Path:
    """Predicted against measured step time, one colour per tier, with the y = x line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    for tier, marker in zip(Tier, ("o", "s", "^"), strict=True):
        sel = [c for c in cases if c.tier == tier.value]
        if sel:
            ax.scatter(
                [c.measured_s for c in sel], [c.predicted_s for c in sel],
                marker=marker, label=tier.value,
            )  # fmt: skip
    values = [v for c in cases for v in (c.measured_s, c.predicted_s)] or [0.1, 1.0]
    lo, hi = min(values) * 0.8, max(values) * 1.2
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=0.8, label="predicted = measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured step time (s)")
    ax.set_ylabel("predicted step time (s)")
    ax.set_title("commsim validate: rig runs")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


@dataclass(frozen=True)
class RigValidation:
    """The validation ladder's cases on one rig topology (``commsim validate``).

    ``summary``: per tier and for ``all``, the number of cases and the median and max
    absolute error in percent, with the backend, topology, model shape and device
    (:class:`RigSummary`).
    """

    cases: tuple[CaseResult, ...]
    summary: RigSummary
    backend: str

    def to_json(self) -> dict[str, Any]:
        """``{"cases": [...], "summary": {...}}``."""
        return {"cases": [c.to_json() for c in self.cases], "summary": self.summary.to_json()}


def validate_rig(
    topology: str,
    strategies: Sequence[str],
    work_dir: Path,
    *,
    backend: str = "",
    steps: int = 8,
    warmup: int = 2,
    shape: ModelShape | None = None,
    what_if: Sequence[str] | None = None,
    tiers: Sequence[Tier] = (Tier.REPLAY, Tier.TOPOLOGY, Tier.STRATEGY),
    timeout_s: float = 900.0,
    log: Callable[[str], None] = lambda msg: None,
    device: str = "cpu",
    roofline: tuple[str, float] | None = None,
) -> RigValidation:
    """Record and predict every case of the ladder on ``topology`` (needs root; see
    :class:`Validator` for the arguments). Recordings in ``work_dir`` are reused."""
    shape = shape if shape is not None else ModelShape()
    validator = Validator(
        topology=topology,
        strategies=strategies,
        work_dir=work_dir,
        backend=backend,
        steps=steps,
        warmup=warmup,
        shape=shape,
        what_if=what_if,
        tiers=tiers,
        timeout_s=timeout_s,
        log=log,
        device=device,
        roofline=roofline,
    )
    cases = validator.run()
    summary = RigSummary(
        summarize(cases), validator.backend, topology, dict(shape.__dict__), device
    )
    return RigValidation(tuple(cases), summary, validator.backend)
