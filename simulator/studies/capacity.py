"""Capacity planning: the cheapest cluster and layout that reach a target step time.

``plan(scenario, target_step_s=12.0, topologies=[...])`` sweeps (on Dask, see
:mod:`simulator.studies.sweeps`) every candidate topology x tensor-parallel x pipeline-parallel
degree, with the data-parallel degree filling the rest of the cluster (``strategy.dp`` left to the
builder: world / (tp x pp)), the GPU taken from each topology (``hardware.gpu`` cleared unless
given again in ``base``) and the scenario's global batch kept. A point *qualifies* when it
runs, its memory estimate fits the GPU's HBM, and its step time is at most the target; the
qualifying points are ranked by the cost of one training step (every GPU of the cluster billed
at the catalog's price per GPU-hour, an editable assumption, or the user's price from
:func:`simulator.prices.load_prices`), then by GPU count. The cost of a
training run of N steps is N times the cost of one step, so the cheapest step is the cheapest run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from simulator.core.errors import InputError
from simulator.core.units import format_size, format_time
from simulator.hardware import gpu_hbm_B
from simulator.prices import Price, price_of
from simulator.studies.sweeps import SweepPoint, sweep

#: Default candidate degrees: powers of two that Megatron-style layouts use.
DEFAULT_TP = (1, 2, 4, 8)
DEFAULT_PP = (1, 2, 4, 8, 16)


def explain(p: SweepPoint, target_step_s: float) -> dict[str, Any]:
    """Why a point won or lost, with figures: ``{"reason", "over_memory_B", "over_target_s",
    "hbm_B"}`` (the :class:`SweepPoint` fields). Every failing condition is named (a point can
    be both too big and too slow)."""

    if p.error is not None:
        return {"reason": f"cannot run: {p.error}"}
    hbm_B = gpu_hbm_B(p.gpu)
    mem_B = p.memory_per_gpu_B
    step_s = p.step_time_s
    over_mem = None if hbm_B is None else mem_B - hbm_B
    over_t = step_s - target_step_s
    parts = []
    if over_mem is not None and over_mem > 0 and hbm_B:
        parts.append(
            f"memory {format_size(mem_B)} per GPU is {format_size(over_mem)} "
            f"({over_mem / hbm_B:.0%}) over the {format_size(hbm_B)} of HBM"
        )
    if over_t > 0:
        parts.append(
            f"step {format_time(step_s)} is {format_time(over_t)} "
            f"({over_t / target_step_s:.0%}) over the {format_time(target_step_s)} target"
        )
    if not parts:
        parts.append(f"meets the target with {format_time(-over_t)} to spare")
    return {
        "reason": "; ".join(parts),
        "over_memory_B": over_mem,
        "over_target_s": over_t,
        "hbm_B": hbm_B,
    }


def _judge(p: SweepPoint, target_step_s: float, prices: dict[str, Price] | None) -> SweepPoint:
    """Price one point (the user's price or the catalogue's), explain it and give its verdict."""
    if p.error is None:
        price = price_of(p.gpu, prices)
        gpu_hours = p.gpus * p.step_time_s / 3600.0
        p = replace(
            p,
            price_per_gpu_hour_usd=None if price is None else price.usd_per_gpu_hour,
            price_source=None if price is None else price.source,
            cost_per_step_usd=None if price is None else gpu_hours * price.usd_per_gpu_hour,
        )
    p = replace(p, **explain(p, target_step_s))
    return replace(p, verdict=_verdict(p, target_step_s))


def _verdict(p: SweepPoint, target_step_s: float) -> str:
    if p.error is not None:
        return "cannot run"
    if p.fits_memory is False:
        return "out of memory"
    if p.step_time_s > target_step_s:
        return "too slow"
    if p.cost_per_step_usd is None:
        return "no price"
    return "ok"


@dataclass(frozen=True)
class PlanResult:
    """Candidate clusters and layouts ranked by the cost of one training step.

    ``best`` is the cheapest qualifying point (or None), ``ranked`` all qualifying points
    cheapest first, ``verdicts`` counts points per verdict (ok, too slow, out of memory,
    cannot run, no price), ``points`` every point with its ``verdict``, ``reason`` and price
    (grid order). ``target_step_s`` in seconds; ``wall_s`` the sweep's wall-clock seconds (not a
    step time).
    """

    scenario: str
    target_step_s: float
    best: SweepPoint | None
    ranked: tuple[SweepPoint, ...]
    verdicts: dict[str, int]
    points: tuple[SweepPoint, ...]
    scheduler: str
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        """``{"scenario", "target_step_s", "best", "ranked", "verdicts", "points",
        "scheduler", "wall_s"}``."""
        return {
            "scenario": self.scenario,
            "target_step_s": self.target_step_s,
            "best": self.best.to_json() if self.best is not None else None,
            "ranked": [p.to_json() for p in self.ranked],
            "verdicts": self.verdicts,
            "points": [p.to_json() for p in self.points],
            "scheduler": self.scheduler,
            "wall_s": self.wall_s,
        }


#: ``--set`` keys the plan chooses itself, and how the user gives their candidates.
_PLANNED = {
    "topology": "give the candidates with --topologies",
    "strategy.tp": "give the candidates with --tp",
    "strategy.pp": "give the candidates with --pp",
    "strategy.dp": "DP fills each cluster: world / (tp x pp)",
}


def _check_base(base: Sequence[str]) -> None:
    """Refuse a ``--set`` of a key the plan varies itself: it would be overridden silently."""
    for item in base:
        key = item.partition("=")[0].strip()
        if key in _PLANNED:
            raise InputError(
                f"{item!r}: plan chooses {key} itself ({_PLANNED[key]})", field="--set"
            )


def dp_degree(point: SweepPoint) -> int:
    """The data-parallel degree of a plan point: its world over ``tp x pp`` (both varied)."""
    return point.world // (int(point.set["strategy.tp"]) * int(point.set["strategy.pp"]))


def plan(
    scenario: str,
    target_step_s: float,
    topologies: Sequence[str],
    *,
    tp: Sequence[int] = DEFAULT_TP,
    pp: Sequence[int] = DEFAULT_PP,
    base: Sequence[str] = (),
    scheduler: str = "local",
    workers: int | None = None,
    fidelity: str | None = None,
    prices: dict[str, Price] | None = None,
) -> PlanResult:
    """Rank the candidate clusters and layouts that train ``scenario`` within the target.

    Args:
        scenario: shipped scenario name or YAML path (its model, batch and strategy options).
        target_step_s: the slowest acceptable training step, seconds (> 0).
        topologies: candidate topology names or YAML paths.
        tp, pp: candidate tensor- and pipeline-parallel degrees (positive integers).
        base: ``KEY=VALUE`` overrides applied to every point.
        scheduler, workers, fidelity: as :func:`simulator.studies.sweeps.sweep`.
        prices: USD per GPU-hour by GPU (:func:`simulator.prices.load_prices`); GPUs not in
            it keep the catalogue's assumption.

    Raises:
        InputError: a non-positive target, no topology, or a non-positive degree.
    """
    if not target_step_s > 0:
        raise InputError(f"must be > 0, got {target_step_s!r}", field="--target-step")
    if not topologies:
        raise InputError("give at least one candidate topology", field="--topologies")
    for name, degrees in (("--tp", tp), ("--pp", pp)):
        if not degrees or any(int(d) < 1 for d in degrees):
            raise InputError(f"positive integers expected, got {list(degrees)}", field=name)
    _check_base(base)
    vary = [
        ("topology", [str(t) for t in topologies]),
        ("strategy.tp", [str(int(d)) for d in tp]),
        ("strategy.pp", [str(int(d)) for d in pp]),
    ]
    res = sweep(
        scenario,
        vary,
        # the GPU follows each candidate topology unless the user pins it with --set
        ["hardware.gpu=null", *base, "strategy.dp=null"],
        scheduler=scheduler,
        workers=workers,
        fidelity=fidelity,
    )
    points = tuple(_judge(p, target_step_s, prices) for p in res.points)
    verdicts: dict[str, int] = {}
    for p in points:
        assert p.verdict is not None
        verdicts[p.verdict] = verdicts.get(p.verdict, 0) + 1
    ranked = tuple(
        sorted(
            (p for p in points if p.verdict == "ok"),
            key=lambda p: (p.cost_per_step_usd or 0.0, p.gpus, p.step_time_s),
        )
    )
    return PlanResult(
        scenario=scenario,
        target_step_s=target_step_s,
        best=ranked[0] if ranked else None,
        ranked=ranked,
        verdicts=verdicts,
        points=points,
        scheduler=res.scheduler,
        wall_s=res.wall_s,
    )
