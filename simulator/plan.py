"""Capacity planning: the cheapest cluster and layout that reach a target step time.

``plan_capacity(scenario, target_step_s=12.0, topologies=[...])`` sweeps (on Dask, see
:mod:`simulator.sweep`) every candidate topology x tensor-parallel x pipeline-parallel degree,
with the data-parallel degree filling the rest of the cluster (``strategy.dp`` left to the
builder: world / (tp x pp)), the GPU taken from each topology (``hardware.gpu`` cleared unless
given again in ``base``) and the scenario's global batch kept. A point *qualifies* when it
runs, its memory estimate fits the GPU's HBM, and its step time is at most the target; the
qualifying points are ranked by the cost of one training step (every GPU of the cluster billed
at the catalog's price per GPU-hour, an editable assumption), then by GPU count. The cost of a
training run of N steps is N times the cost of one step, so the cheapest step is the cheapest run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simulator.core.errors import InputError
from simulator.sweep import run_sweep

#: Default candidate degrees: powers of two that Megatron-style layouts use.
DEFAULT_TP = (1, 2, 4, 8)
DEFAULT_PP = (1, 2, 4, 8, 16)


def _verdict(p: dict[str, Any], target_step_s: float) -> str:
    if "error" in p:
        return "cannot run"
    if p.get("fits_memory") is False:
        return "out of memory"
    if p["step_time_s"] > target_step_s:
        return "too slow"
    if p.get("cost_per_step_usd") is None:
        return "no price"
    return "ok"


def plan_capacity(
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
) -> dict[str, Any]:
    """Rank the candidate clusters and layouts that train ``scenario`` within the target.

    Args:
        scenario: shipped scenario name or YAML path (its model, batch and strategy options).
        target_step_s: the slowest acceptable training step, seconds (> 0).
        topologies: candidate topology names or YAML paths.
        tp, pp: candidate tensor- and pipeline-parallel degrees (positive integers).
        base: ``KEY=VALUE`` overrides applied to every point.
        scheduler, workers, fidelity: as :func:`simulator.sweep.run_sweep`.

    Returns:
        ``{"scenario", "target_step_s", "best", "ranked", "verdicts", "points", "wall_s"}``:
        ``best`` is the cheapest qualifying point (or None), ``ranked`` all qualifying points
        cheapest first, ``verdicts`` counts points per verdict (ok, too slow, out of memory,
        cannot run, no price), ``points`` every point with its ``verdict``.

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
    vary = [
        ("topology", [str(t) for t in topologies]),
        ("strategy.tp", [str(int(d)) for d in tp]),
        ("strategy.pp", [str(int(d)) for d in pp]),
    ]
    res = run_sweep(
        scenario,
        vary,
        # the GPU follows each candidate topology unless the user pins it with --set
        ["hardware.gpu=null", *base, "strategy.dp=null"],
        scheduler=scheduler,
        workers=workers,
        fidelity=fidelity,
    )
    verdicts: dict[str, int] = {}
    for p in res["points"]:
        p["verdict"] = _verdict(p, target_step_s)
        verdicts[p["verdict"]] = verdicts.get(p["verdict"], 0) + 1
    ranked = sorted(
        (p for p in res["points"] if p["verdict"] == "ok"),
        key=lambda p: (p["cost_per_step_usd"], p["gpus"], p["step_time_s"]),
    )
    return {
        "scenario": scenario,
        "target_step_s": target_step_s,
        "best": ranked[0] if ranked else None,
        "ranked": ranked,
        "verdicts": verdicts,
        "points": res["points"],
        "scheduler": res["scheduler"],
        "wall_s": res["wall_s"],
    }
