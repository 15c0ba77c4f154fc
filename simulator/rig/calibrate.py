"""Fit the gloo backend profile to microbenchmarks measured on the rig.

Fitted constants (fields of :class:`simulator.collectives.BackendProfile`):

* ``efficiency.ethernet``: the fraction of the configured link rate gloo turns into payload;
* ``protocols.tcp.base_latency``: per-collective overhead, seconds;
* ``protocols.tcp.step_latency.ethernet``: per-algorithm-step (per-message) overhead, seconds;
* ``concurrency``: collectives of one process group that run at once, from
  ``concurrent_all_reduce`` (K async all_reduces) against one, at latency-bound sizes;
* ``reduce_scatter_as_all_reduce``: whether gloo's reduce_scatter costs a full all_reduce
  (its time over all_reduce's at >= 1 MiB; a native one would take about half);
* ``send_buffer``: bytes a point-to-point send hands to the transport before the message is
  delivered, from ``send_sender`` (the sender's time) against ``send_recv`` (delivery) at
  >= 4 MiB: the sender returns ``T_recv - T_send`` early, at the message's rate
  ``size / T_recv`` (:func:`fit_send_buffer`);
* ``hop_floor[op]``, only with ``fit_profile(..., hop_floors=True)``: per op, the least time
  one dependent step of its algorithm takes (a floor under the step's transfer, not added to
  it), fitted per op on that op's own rows by :func:`simulator.rig.hop_floor.fit_hop_floor`,
  alternating with the two latencies (:func:`_fit_floors_and_latencies`); all_gather's after
  its throughput fraction. Not in the shipped profiles (docs/rig.md, "Per-op hop floors");
* ``op_efficiency.all_gather``: the further fraction of the throughput gloo's all_gather
  reaches, fitted last, from all_gather's own rows >= 1 MiB at the fitted efficiency and
  latencies (it replaced a fixed-rate local copy, which could not follow a change of link
  rate: see :func:`fit_all_gather_efficiency`).

The time of a lone collective in the simulator is, on a fixed topology and schedule, affine in
``(base_latency, step_latency, 1/efficiency)``; :func:`fit_profile` finds the Jacobian by
evaluating :func:`simulate_collective` at four settings, then fits in two stages on *relative*
errors (every size counts alike): the efficiency from messages >= 4 MiB (latency < 1 % of
their time), then the two overheads from the smaller ones at that efficiency. Negative
values are clipped (no constant is allowed to be unphysical), and the fit is checked by
simulating again.

Constants are fitted on one topology's microbenchmarks (``fit_topology``) and judged on
others (:mod:`simulator.studies.rig_validation`). One profile is fitted per rank count
(:func:`calibration_path`): on the rig, gloo's per-message cost and its all_gather overhead
depend on how many ranks share the machine's two cores, so 4-rank runs are predicted with a
profile fitted on 4-rank microbenchmarks of *another* 4-host topology (rig-4host-flat).
Which ops enter the fit is explicit (``fit_ops``); gloo's all_gather is left out by default
because with 2 ranks it reaches a lower fraction of the link rate than the other ops on the
rig, which a per-link-kind efficiency cannot hold (see docs/rig.md); its own fraction is
fitted instead.
"""

from __future__ import annotations

import datetime as _dt
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import yaml

from simulator.collectives import calibrated
from simulator.collectives.backend import BACKENDS_DIR, BackendProfile, profile_from_spec
from simulator.collectives.backend_schema import BackendFile, microseconds
from simulator.core.schema_messages import validate_input
from simulator.core.units import parse_time
from simulator.core.vocab import CollectiveOp
from simulator.resources import shipped_dir
from simulator.rig.hop_floor import fit_hop_floor, relative_sse
from simulator.rig.microbench import CONCURRENT_K, BenchRow, Microbench, predict_row
from simulator.safeyaml import load_yaml_file
from simulator.topology import LinkKind, Topology

#: Ops whose times fit efficiency and latencies (all_gather: see the module docstring).
DEFAULT_FIT_OPS = ("all_reduce", "reduce_scatter", "broadcast", "send_recv")
#: Link kind the rig's links have.
RIG_KIND = "ethernet"
#: Sizes at or below which ``concurrent_all_reduce`` measures concurrency (latency-bound).
CONCURRENCY_MAX_SIZE_B = 64 * 1024
#: Messages at least this large fit the efficiency (their latency share is below 1 %).
EFFICIENCY_MIN_SIZE_B = 4 << 20
#: all_gather rows at least this large fit its op efficiency (latencies are negligible there).
ALL_GATHER_MIN_SIZE_B = 1 << 20
#: Most rounds of (floors at the latencies, then latencies at the floors) in the fit.
HOP_FLOOR_ROUNDS = 8
#: The rounds stop when no fitted constant moves by more than this fraction (or 1 ns).
HOP_FLOOR_RTOL = 1e-3
#: Where calibrated profiles live.
CALIBRATION_DIR = shipped_dir("calibration")
#: The 2-rank profile (fitted on rig-2host); also the fallback for a world without its own.
DEFAULT_OUT = CALIBRATION_DIR / "gloo-rig.yaml"


def calibration_path(world: int) -> Path:
    """Where the profile fitted with ``world`` ranks is written (and read from).

    gloo's per-message cost on the rig depends on how many ranks share the machine's cores
    (docs/rig.md), so a profile is fitted per rank count: ``gloo-rig.yaml`` with 2 ranks,
    ``gloo-rig-<N>rank.yaml`` with N.
    """
    return DEFAULT_OUT if world == 2 else CALIBRATION_DIR / f"gloo-rig-{world}rank.yaml"


def calibration_name(world: int) -> str:
    """The profile name written into ``calibration_path(world)``."""
    return calibration_path(world).stem


def rig_calibration(world: int) -> str:
    """The profile to predict a ``world``-rank rig run with: its own rank count's fit when
    there is one, else the fit of the nearest rank count (warning
    :class:`~simulator.collectives.calibrated.CalibrationFallbackWarning`, as ``--backend
    gloo-rig`` does; :func:`simulator.collectives.calibrated.resolve`), else the uncalibrated
    ``gloo`` profile."""
    found = calibrated.resolve(DEFAULT_OUT.stem, world, DEFAULT_OUT.parent)
    if found is None:
        return "gloo"
    path, note = found
    if note is not None:
        warnings.warn(note, calibrated.CalibrationFallbackWarning, stacklevel=2)
    return str(path)


@dataclass(frozen=True)
class Fit:
    """A fitted profile (typed; :meth:`BackendFile.to_yaml` writes it) and how well it
    reproduces its fit set."""

    profile: BackendFile
    efficiency: float
    base_latency_s: float
    step_latency_s: float
    concurrency: int
    concurrency_measured: float | None
    rs_over_ar: float | None
    fit_rows: int
    fit_median_abs_error_pct: float
    fit_max_abs_error_pct: float
    hop_floor_s: dict[str, float] | None = None


def _base_profile() -> BackendFile:
    """The shipped ``gloo`` profile the fit starts from, validated."""

    path = BACKENDS_DIR / "gloo.yaml"
    return validate_input(BackendFile, load_yaml_file(path), file=str(path))


def make_profile(
    base: BackendFile,
    *,
    efficiency: float,
    base_latency_s: float,
    step_latency_s: float,
    concurrency: int,
    rs_as_ar: bool,
    name: str = "gloo-rig",
    hop_floor: dict[str, float] | None = None,
) -> BackendFile:
    """A copy of ``base`` (gloo.yaml's profile) with the fitted fields replaced; latencies
    (and ``hop_floor``'s seconds per op, left out when empty) are the values the written file
    reads back as (``"12.345us"``: to the nanosecond)."""
    kind = LinkKind(RIG_KIND)
    proto_name = next(iter(base.protocols))
    proto = base.protocols[proto_name]
    fitted = proto.model_copy(
        update={
            "base_latency": parse_time(microseconds(base_latency_s)),
            "step_latency": {**proto.step_latency, kind: parse_time(microseconds(step_latency_s))},
        }
    )
    floors = {op: parse_time(microseconds(t)) for op, t in (hop_floor or {}).items() if t > 0}
    return base.edited(
        name=name,
        efficiency={**base.efficiency, kind: float(efficiency)},
        protocols={**base.protocols, proto_name: fitted},
        concurrency=int(concurrency),
        reduce_scatter_as_all_reduce=bool(rs_as_ar),
        hop_floor=floors or None,
    )


def _as_backend(prof: BackendFile) -> BackendProfile:

    return profile_from_spec(prof, file="(calibration in memory)")


def _predict(topology: Topology, rows: Sequence[BenchRow], prof: BackendFile) -> np.ndarray:

    backend = _as_backend(prof)
    return np.array([predict_row(topology, r, backend) for r in rows], dtype=float)


def measured_concurrency(bench: Microbench) -> float | None:
    """Effective parallelism of K concurrent all_reduces at latency-bound sizes (median)."""
    single = {r.size_B: r.median_s for r in bench.rows if r.op == "all_reduce"}
    ratios = [
        CONCURRENT_K * single[r.size_B] / r.median_s
        for r in bench.rows
        if r.op == "concurrent_all_reduce"
        and r.size_B in single
        and r.size_B <= CONCURRENCY_MAX_SIZE_B
    ]
    return float(statistics.median(ratios)) if ratios else None


def rs_over_ar(bench: Microbench, min_size_B: int = 1 << 20) -> float | None:
    """Median of reduce_scatter time / all_reduce time at sizes >= ``min_size_B``."""
    ar = {r.size_B: r.median_s for r in bench.rows if r.op == "all_reduce"}
    ratios = [
        r.median_s / ar[r.size_B]
        for r in bench.rows
        if r.op == "reduce_scatter" and r.size_B in ar and r.size_B >= min_size_B
    ]
    return float(statistics.median(ratios)) if ratios else None


def fit_profile(
    topology: Topology,
    bench: Microbench,
    *,
    fit_ops: Sequence[str] = DEFAULT_FIT_OPS,
    hop_floors: bool = False,
) -> Fit:
    """Fit the gloo profile to ``bench`` (measured on ``topology``); see the module docstring.

    ``hop_floors``: also fit a hop floor per op (off by default: on the 4-rank rig the floors
    fit every microbenchmark better but replay the validation's training steps worse, see
    docs/decisions.md 2026-12-05 "Per-op hop floors"; the shipped profiles have none)."""
    base = _base_profile()
    rows = [r for r in bench.rows if r.op in fit_ops]
    if len(rows) < 3:
        raise ValueError(f"need at least 3 rows of {fit_ops} to fit, got {len(rows)}")
    ratio = rs_over_ar(bench)
    # A native reduce_scatter moves half an all_reduce's bytes; gloo's all-reduces: ratio ~1.
    rs_as_ar = True if ratio is None else ratio > 0.75
    conc_meas = measured_concurrency(bench)
    conc = base.concurrency if conc_meas is None else max(1, round(conc_meas))
    conc = min(conc, CONCURRENT_K)

    def prof(eff: float, a: float, b: float, floors: dict[str, float]) -> BackendFile:
        return make_profile(
            base, efficiency=eff, base_latency_s=a, step_latency_s=b,
            concurrency=conc, rs_as_ar=rs_as_ar, name=calibration_name(bench.n_ranks),
            hop_floor=floors,
        )  # fmt: skip

    if hop_floors:
        eff, a, b, floors = _fit_floors_and_latencies(topology, rows, prof)
    else:
        floors = {}
        eff, a, b = _fit_rate_and_latencies(topology, rows, _at_floors(prof, floors))
    final = prof(eff, a, b, floors)
    ag_eff = fit_all_gather_efficiency(topology, bench, final)
    if ag_eff is not None:
        final = final.edited(op_efficiency={CollectiveOp.ALL_GATHER: round(ag_eff, 4)})
    if ag_eff is not None and hop_floors:
        ag_rows = [r for r in bench.rows if r.op == CollectiveOp.ALL_GATHER.value]
        ag_floor = _fit_op_floor(topology, ag_rows, lambda fl: final.edited(hop_floor=fl), floors)
        floors = {**floors, **ag_floor}
        final = final.edited(hop_floor=prof(eff, a, b, floors).hop_floor)
    send_buf = fit_send_buffer(bench)
    if send_buf is not None:
        final = final.edited(send_buffer=float(round(send_buf)))  # whole bytes, as written
    m = np.array([r.median_s for r in rows])
    pred = _predict(topology, rows, final)
    errs = np.abs(100.0 * (pred - m) / m)
    description = _description(bench, fit_ops, rows, errs, conc_meas, ratio, ag_eff, send_buf)
    if hop_floors:
        description += _floors_text(final)
    return Fit(
        profile=final.edited(description=description),
        efficiency=eff,
        base_latency_s=a,
        step_latency_s=b,
        concurrency=conc,
        concurrency_measured=conc_meas,
        rs_over_ar=ratio,
        fit_rows=len(rows),
        fit_median_abs_error_pct=float(np.median(errs)),
        fit_max_abs_error_pct=float(errs.max()),
        hop_floor_s={k.value: v for k, v in (final.hop_floor or {}).items()}
        if hop_floors
        else None,
    )


def _fit_op_floor(
    topology: Topology,
    rows: Sequence[BenchRow],
    with_floors: Callable[[dict[str, float]], BackendFile],
    floors: dict[str, float],
) -> dict[str, float]:
    """Per op among ``rows``, the hop floor that fits that op's rows best, the other ops'
    floors held at ``floors`` (an op's floor changes only its own predictions)."""
    out: dict[str, float] = {}
    for op in dict.fromkeys(r.op for r in rows):
        mine = [r for r in rows if r.op == op]

        def predict(h: float, op: str = op, mine: list[BenchRow] = mine) -> np.ndarray:
            return _predict(topology, mine, with_floors({**floors, op: h}))

        h, _ = fit_hop_floor(predict, [r.median_s for r in mine])
        out[op] = h
    return out


def _fit_floors_and_latencies(
    topology: Topology,
    rows: Sequence[BenchRow],
    prof: Callable[[float, float, float, dict[str, float]], BackendFile],
) -> tuple[float, float, float, dict[str, float]]:
    """Efficiency, base and per-step latency (s) and per-op hop floors (s) that fit ``rows``.

    The rate and the latencies without floors first (:func:`_fit_rate_and_latencies`, the fit
    before floors existed), then the floors and the latencies in turn: each op's floor on its
    own rows at the current latencies, then both latencies on every small row at those floors
    (with the floors fixed a prediction is still affine in the two latencies, which add to
    the transfer a floor bounds from below), until no constant moves by more than
    ``HOP_FLOOR_RTOL`` (at most ``HOP_FLOOR_ROUNDS`` rounds). Latencies and floors trade
    against each other on small rows, so the turns start twice, from those latencies and from
    zero latencies, and the start whose end fits ``rows`` better (relative error, sum of
    squares) wins; the first on a tie.
    """
    eff, a, b = _fit_rate_and_latencies(topology, rows, lambda e, x, y: prof(e, x, y, {}))
    m = np.array([r.median_s for r in rows])
    best: tuple[float, tuple[float, float, float, dict[str, float]]] | None = None
    for a0, b0 in ((a, b), (0.0, 0.0)):
        got = _alternate(topology, rows, prof, eff, a0, b0)
        sse = relative_sse(_predict(topology, rows, prof(*got)), m)
        if best is None or sse < best[0]:
            best = (sse, got)
    assert best is not None
    return best[1]


def _at_floors(
    prof: Callable[[float, float, float, dict[str, float]], BackendFile], floors: dict[str, float]
) -> Callable[[float, float, float], BackendFile]:
    """``prof`` with the floors fixed: ``(eff, a, b) -> profile``."""
    return lambda eff, a, b: prof(eff, a, b, floors)


def _alternate(
    topology: Topology,
    rows: Sequence[BenchRow],
    prof: Callable[[float, float, float, dict[str, float]], BackendFile],
    eff: float,
    a: float,
    b: float,
) -> tuple[float, float, float, dict[str, float]]:
    """Floors at the latencies, then the rate and latencies at the floors, in turn, from
    ``(eff, a, b)`` (see :func:`_fit_floors_and_latencies`)."""
    floors: dict[str, float] = {}
    for _ in range(HOP_FLOOR_ROUNDS):
        new = _fit_op_floor(topology, rows, partial(prof, eff, a, b), floors)
        eff2, a2, b2 = _fit_rate_and_latencies(topology, rows, _at_floors(prof, new))
        old = [eff, a, b, *(floors.get(op, 0.0) for op in new)]
        now = [eff2, a2, b2, *new.values()]
        eff, a, b, floors = eff2, a2, b2, new
        if all(
            abs(x - y) <= HOP_FLOOR_RTOL * max(abs(x), 1e-6) for x, y in zip(old, now, strict=True)
        ):
            break
    return eff, a, b, floors


def _fit_rate_and_latencies(
    topology: Topology, rows: Sequence[BenchRow], prof: Callable[[float, float, float], BackendFile]
) -> tuple[float, float, float]:
    """Link efficiency, base and per-step latency (s) that fit ``rows``: the affine model
    ``t = t0 + ja*a + jb*b + je*(1/eff - 1)``, columns by finite differences of the predictions
    with ``prof(eff, a, b)``; the rate from large messages first, then the latencies."""
    m = np.array([r.median_s for r in rows])
    d_lat = 1e-3
    t0 = _predict(topology, rows, prof(1.0, 0.0, 0.0))
    ja = (_predict(topology, rows, prof(1.0, d_lat, 0.0)) - t0) / d_lat
    jb = (_predict(topology, rows, prof(1.0, 0.0, d_lat)) - t0) / d_lat
    je = _predict(topology, rows, prof(0.5, 0.0, 0.0)) - t0  # 1/eff from 1 to 2
    w = 1.0 / m  # relative errors: every size counts alike
    # Stage 1: the rate from large messages, where latencies are under 1 % of the time.
    big = np.array([r.size_B >= EFFICIENCY_MIN_SIZE_B for r in rows])
    if big.any():
        num = float(np.sum((w * je)[big] * ((m - t0) * w)[big]))
        den = float(np.sum((w * je)[big] ** 2))
        de = max(0.0, num / den) if den > 0 else 0.0
    else:
        de = 0.0
    # Stage 2: per-collective and per-step overheads from the rest, at that rate.
    small = ~big if (~big).any() else big
    resid = (m - t0 - je * de) * w
    jac = np.stack([ja, jb], axis=1) * w[:, None]
    sol, *_ = np.linalg.lstsq(jac[small], resid[small], rcond=None)
    a, b = float(sol[0]), float(sol[1])
    if a < 0 or b < 0:  # keep both overheads physical: refit the other alone
        col = 1 if a < 0 else 0
        one, *_ = np.linalg.lstsq(jac[small][:, [col]], resid[small], rcond=None)
        a, b = (0.0, float(one[0])) if col == 1 else (float(one[0]), 0.0)
    a, b, de = max(a, 0.0), max(b, 0.0), max(de, 0.0)
    eff = 1.0 / (1.0 + de)
    return eff, a, b


def _description(
    bench: Microbench,
    fit_ops: Sequence[str],
    rows: Sequence[BenchRow],
    errs: np.ndarray,
    conc_meas: float | None,
    ratio: float | None,
    ag_eff: float | None,
    send_buf: float | None,
) -> str:
    """The fitted profile's ``description``: when, on what, the command and the fit's errors."""
    today = _dt.date.today().isoformat()
    return (
        f"gloo on the commsim rig, calibrated {today} on {bench.topology} "
        f"({bench.n_ranks} ranks; ops {', '.join(fit_ops)}; sizes "
        f"{min(r.size_B for r in rows)}..{max(r.size_B for r in rows)} B). "
        f"Command: {bench.command or 'commsim rig calibrate'}. Fit: median |error| "
        f"{float(np.median(errs)):.2f}%, max {float(errs.max()):.2f}% over {len(rows)} rows. "
        f"Measured concurrency {conc_meas if conc_meas is None else round(conc_meas, 2)} "
        f"(K={CONCURRENT_K} async all_reduces <= {CONCURRENCY_MAX_SIZE_B} B); "
        f"reduce_scatter/all_reduce time {ratio if ratio is None else round(ratio, 3)}. "
        f"all_gather op efficiency: "
        f"{'not fitted' if ag_eff is None else f'{ag_eff:.3f}'} "
        f"(least squares on relative error, all_gather rows >= {ALL_GATHER_MIN_SIZE_B} B). "
        f"send buffer: {'not fitted' if send_buf is None else f'{send_buf / 1e6:.2f} MB'} "
        f"(send_sender against send_recv, sizes >= {EFFICIENCY_MIN_SIZE_B} B)."
    )


def _floors_text(prof: BackendFile) -> str:
    """The description's sentence on the fitted hop floors."""
    floors = prof.hop_floor or {}
    if not floors:
        return " Hop floors: none (no op's rows are fitted better by one)."
    parts = ", ".join(f"{k.value} {microseconds(v)}" for k, v in floors.items())
    return f" Hop floors (least time per dependent step, fitted per op on its own rows): {parts}."


def fit_all_gather_efficiency(
    topology: Topology, bench: Microbench, profile: BackendFile
) -> float | None:
    """The fraction of its throughput gloo's all_gather reaches beyond the fitted efficiency.

    With ``x = predicted / measured`` for all_gather's rows >= 1 MiB (predicted with
    ``profile``, no op efficiency), minimises the relative error of ``predicted / f``:
    ``f = sum(x^2) / sum(x)``, capped at 1. None when there are no such rows.

    A fraction, not the fixed-rate copy fitted before: on rig-2host-halfnic (200 Mbit/s) a
    2-rank all_gather takes twice as long as on rig-2host (400 Mbit/s), 2.13 s against 1.06 s
    for 64 MiB (2026-11-29), so its excess scales with the link rate, as a fraction does.
    """
    rows = [r for r in bench.rows if r.op == "all_gather" and r.size_B >= ALL_GATHER_MIN_SIZE_B]
    if not rows:
        return None
    m = np.array([r.median_s for r in rows])
    x = _predict(topology, rows, profile) / m
    return min(1.0, float(np.dot(x, x) / x.sum()))


def fit_send_buffer(bench: Microbench) -> float | None:
    """Bytes a send leaves to the transport: median over sizes >= 4 MiB of
    ``(T_recv - T_send) * size / T_recv`` (``send_recv`` is delivery, ``send_sender`` the
    sender's return); None without such rows. A message the sender handed over in under half
    its delivery time fitted whole in the buffer and bounds it from below only: left out.

    Measured 2026-11-29 on rig-2host: 16 MiB returned 37.7 ms early at 400 Mbit/s (1.87 MB)
    and 68 ms at 200 Mbit/s (1.67 MB) in short runs; 76 ms (3.77 MB) in the full calibration
    run, after the connection had carried every other microbenchmark (Linux grows a TCP
    socket's buffers with use, up to ``tcp_wmem``'s 4 MiB)."""
    recv = {r.size_B: r.median_s for r in bench.rows if r.op == "send_recv"}
    est = [
        (recv[r.size_B] - r.median_s) * r.size_B / recv[r.size_B]
        for r in bench.rows
        if r.op == "send_sender"
        and r.size_B in recv
        and r.size_B >= EFFICIENCY_MIN_SIZE_B
        and 2 * r.median_s >= recv[r.size_B]
    ]
    return float(statistics.median(est)) if est else None


def write_profile(fit: Fit, path: str | Path = DEFAULT_OUT) -> Path:
    """Write the fitted profile as YAML (loadable with ``load_backend(path)``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Calibrated gloo backend profile for the commsim rig (network namespaces, tbf).\n"
        "# Written by simulator/rig/calibrate.py; every fitted value's source is the\n"
        "# description below (command, fit set, residuals). Do not edit by hand: re-run.\n"
    )
    text = yaml.safe_dump(fit.profile.to_yaml(), sort_keys=False, width=96)
    out.write_text(header + text)
    return out
