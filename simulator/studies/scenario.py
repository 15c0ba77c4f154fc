"""The scenario study: load -> what-if -> build -> simulate, the one place this sequence lives.

:func:`simulate_scenario` takes a validated :class:`~simulator.config.Scenario`, applies its
network what-if (:func:`~simulator.topology.whatif.scale_links`) to the topology, builds the
workload and simulates one training step. ``commsim run`` (through :func:`run_variant`), the
sweep points (:mod:`simulator.studies.sweeps`) and the published training rows
(:mod:`simulator.studies.published`) all call it. :func:`run_scenario` runs every ``compare:``
variant of a scenario and returns a :class:`ScenarioRun`; its :meth:`ScenarioRun.to_json` is the
object ``commsim run --json`` prints. Times are seconds per training step, sizes bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from simulator.build import BuiltWorkload, build_workload
from simulator.config import Scenario, load_scenario
from simulator.core.errors import InputError
from simulator.core.gcphases import checkpoint
from simulator.engine import WorkloadError, simulate
from simulator.engine.result import StepResult
from simulator.faults.scenario import Prepared, many_steps, prepare
from simulator.limits import check_scenario, lifted_in
from simulator.scenario_refs import load_scenario_backend, load_scenario_topology
from simulator.topology import Topology
from simulator.topology.whatif import scale_links


@dataclass(frozen=True)
class ScenarioSimulation:
    """What one simulated scenario produced (the objects, not their JSON).

    Attributes:
        scenario: the validated scenario.
        topology: the topology after the scenario's network what-if.
        built: the workload, its cost model, memory estimate, reference and metadata.
        result: the engine's step result.
        sim_s: wall-clock seconds :func:`simulator.engine.simulate` took.
        prepared: the scenario's faults resolved for the run (:mod:`simulator.faults`), or
            None (no faults, or asked without :class:`FaultOptions`).
        steps: the many-step result (``--steps``, or compute faults on a folded job), or None.
    """

    scenario: Scenario
    topology: Topology
    built: BuiltWorkload
    result: StepResult
    sim_s: float
    prepared: Any = None
    steps: Any = None


@dataclass(frozen=True)
class FaultOptions:
    """How ``commsim run`` applies a scenario's ``faults:`` (:mod:`simulator.faults`).

    Attributes:
        steps: simulate this many perturbed steps (``--steps``; None: one step).
        seed: seed of the faults' draws.
        exact: every step on the event engine (default: re-timed).
    """

    steps: int | None = None
    seed: int = 0
    exact: bool = False


def simulate_scenario(
    scenario: Scenario,
    *,
    topology: Topology | None = None,
    fidelity: str | None = None,
    backend: str | None = None,
    record: bool | Literal["timelines"] = False,
    faults: FaultOptions | None = None,
    limits: bool = False,
) -> ScenarioSimulation:
    """Apply the network what-if, build the workload and simulate one step of ``scenario``.

    Args:
        scenario: a validated scenario.
        topology: the topology to run on (default: ``load_topology(scenario.topology)``).
        fidelity: collective fidelity override (default: the scenario's).
        backend: backend profile name or file override (default: the scenario's).
        record: keep per-op and per-link records (needed for tables, timeline and plots);
            ``"timelines"``: the link timelines without the flows table (what ``--out`` needs).
        faults: apply the scenario's ``faults:`` (and run many steps when asked); None: the
            healthy run (sweeps, published rows).
        limits: refuse a workload over :data:`simulator.limits.MAX_OPS` before building it
            (:func:`simulator.limits.check_scenario`, what ``commsim run`` does).

    Raises:
        InputError: the scenario does not fit the topology.
        WorkloadError, DeadlockError: the workload cannot run (callers decide how to report).
    """

    base = topology if topology is not None else load_scenario_topology(scenario)
    topo = scale_links(
        base,
        scenario.network.bandwidth_scale,
        scenario.network.latency_scale,
        file=scenario.source_file,
    )
    profile = load_scenario_backend(scenario, backend)
    if limits:
        flows = (fidelity or str(scenario.fidelity)) != "analytical"  # analytical: no flows
        check_scenario(
            scenario,
            int(topo.num_ranks),
            file=scenario.source_file,
            profile=profile if flows else None,
        )
    try:
        with lifted_in(scenario.source_file):  # out of memory after --force: name the file
            built = build_workload(scenario, topo)
    except InputError as exc:  # a builder's refusal names the scenario's file too
        raise exc.located(file=scenario.source_file) from exc
    checkpoint()  # the topology and the workload live to the end (simulator.core.gcphases)
    prepared = None
    if faults is not None and not scenario.faults.empty:
        src = str(scenario.source_file)
        prepared = prepare(scenario, topo, built, src, faults.seed, perturb=not faults.steps)
    t0 = time.perf_counter()
    try:  # the network faults' limit (simulator.limits.check_rate_switches) stops a run
        result = simulate(
            prepared.workload if prepared else built.workload,
            topo,
            backend=profile,
            fidelity=fidelity or str(scenario.fidelity),
            compute_model=prepared.compute_model if prepared else built.compute_model,
            record=record,
            network=prepared.network if prepared else None,
        )
        sim = ScenarioSimulation(scenario, topo, built, result, time.perf_counter() - t0, prepared)
        if faults is None or (prepared is None and not faults.steps):
            return sim
        return _many_steps(sim, faults, fidelity, backend)
    except InputError as exc:
        raise exc.located(file=scenario.source_file) from None


def _many_steps(
    sim: ScenarioSimulation, faults: FaultOptions, fidelity: str | None, backend: str | None
) -> ScenarioSimulation:
    """``sim`` with its many-step result when asked (``--steps``, or compute faults on a folded
    job, whose ranks get their own times only by re-timing)."""
    sc, built = sim.scenario, sim.built
    folded = len(built.workload.programs) < built.workload.world_size
    if not (faults.steps or (sc.faults.compute and folded)):
        return sim
    prep = sim.prepared or Prepared(None, built.workload, built.compute_model)
    opts = SimpleNamespace(
        steps=faults.steps, seed=faults.seed, exact_steps=faults.exact, backend=backend,
        fidelity=fidelity, scenario=str(sc.source_file),
    )  # fmt: skip
    steps = many_steps(sc, sim.topology, built, prep, opts, sim.result)
    return replace(sim, steps=steps)


@dataclass(frozen=True)
class RunResult:
    """One simulated scenario (variant): the ``commsim run --json`` object.

    Every ``*_s`` is seconds per training step, ``memory_per_gpu_B`` bytes per GPU
    (``params, grads, optimizer, activations, total``). ``reference`` is the scenario's
    published figure (``{"step_time_s", "source"}``) or None, ``reference_error`` the signed
    fraction ``(predicted - reference) / reference``. ``out`` is the output directory when the
    run wrote one. ``simulation`` holds the objects behind the numbers (not in the JSON).
    """

    scenario: str
    step_time_s: float
    compute_s: float
    comm_s: float
    exposed_comm_s: float
    bubble_s: float
    memory_per_gpu_B: dict[str, float]
    busiest_links: list[dict[str, Any]]
    reference: dict[str, Any] | None
    reference_error: float | None
    comm_by_category_s: dict[str, float]
    exposed_comm_by_category_s: dict[str, float]
    critical_rank: int
    makespan_s: float
    steps_per_program: int
    topology: str
    network_what_if: dict[str, Any]
    backend: str
    fidelity: str
    world: int
    simulated_ranks: int
    metadata: dict[str, Any]
    wall_s: float
    topology_ranks: int
    steps_summary: dict[str, Any] | None = None
    faults: dict[str, Any] | None = None
    out: str | None = None
    simulation: ScenarioSimulation | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON object (keys in contract order): the many-step summary's keys
        (``step_time_mean_s``, ``step_time_p50_s``, ...) when steps ran, ``faults`` when the
        scenario has some, ``out`` when set."""
        d: dict[str, Any] = {k: getattr(self, k) for k in _RUN_KEYS}
        d.update(self.steps_summary or {})
        if self.faults is not None:
            d["faults"] = self.faults
        if self.out is not None:
            d["out"] = self.out
        return d


_RUN_KEYS = tuple(
    f
    for f in RunResult.__dataclass_fields__
    if f not in ("steps_summary", "faults", "out", "simulation")
)  # declaration order is the contract order


@dataclass(frozen=True)
class ScenarioRun:
    """Every variant of a scenario (one without ``compare:`` has one)."""

    variants: tuple[RunResult, ...]

    def to_json(self) -> dict[str, Any]:
        """The first variant's object, plus ``variants`` (all of them) when there are several."""
        top = self.variants[0].to_json()
        if len(self.variants) > 1:
            top["variants"] = [v.to_json() for v in self.variants]
        return top


def run_variant(
    scenario: Scenario,
    *,
    fidelity: str | None = None,
    backend: str | None = None,
    k_links: int = 5,
    record: bool | Literal["timelines"] = False,
    source: str | None = None,
    faults: FaultOptions | None = FaultOptions(),
) -> RunResult:
    """Simulate one scenario (one ``compare:`` variant) and describe it.

    Args:
        scenario: a validated scenario.
        fidelity, backend: overrides of the scenario's.
        k_links: how many busiest links to list.
        record: keep per-op and per-link records (for ``--out`` tables and plots).
        source: what the user named (file or shipped name), for error messages.
        faults: how to apply the scenario's ``faults:`` (see :func:`simulate_scenario`);
            None: ignore them.

    Raises:
        InputError: the workload cannot run on the topology (naming ``source``).
        DeadlockError: the programs deadlock.
    """
    try:
        sim = simulate_scenario(
            scenario, fidelity=fidelity, backend=backend, record=record, faults=faults, limits=True
        )
    except WorkloadError as err:
        raise InputError(f"workload cannot run: {err}", file=str(source)) from err
    res, ref = sim.result, sim.built.reference
    return RunResult(
        scenario=scenario.name,
        step_time_s=res.step_time_s,
        compute_s=res.compute_s,
        comm_s=res.comm_s,
        exposed_comm_s=res.exposed_comm_s,
        bubble_s=res.bubble_s,
        memory_per_gpu_B={k: float(v) for k, v in sim.built.memory_per_gpu_B.items()},
        busiest_links=res.busiest_links_json(k_links),
        reference=dict(ref) if ref else None,
        reference_error=(
            (res.step_time_s - float(ref["step_time_s"])) / float(ref["step_time_s"])
            if ref and ref.get("step_time_s")
            else None
        ),
        comm_by_category_s=dict(res.comm_by_category_s),
        exposed_comm_by_category_s=dict(res.exposed_comm_by_category_s),
        critical_rank=res.critical_rank,
        makespan_s=res.makespan_s,
        steps_per_program=res.steps_per_program,
        topology=str(scenario.topology),
        network_what_if=scenario.network.model_dump(),
        backend=res.backend,
        fidelity=res.fidelity,
        world=res.world,
        simulated_ranks=len(res.simulated_ranks),
        metadata={**res.metadata_json(), **_plain_dict(sim.built.metadata)},
        wall_s=sim.sim_s,
        topology_ranks=int(sim.topology.num_ranks),
        steps_summary=dict(sim.steps.summary()) if sim.steps is not None else None,
        faults=(
            None
            if faults is None or scenario.faults.empty
            else scenario.faults.model_dump(mode="json", exclude_defaults=True)
        ),
        simulation=sim,
    )


def _plain_dict(m: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(m or {}), default=str)))


def run_scenario(
    scenario: str | Path | Scenario,
    overrides: Sequence[str] = (),
    *,
    fidelity: str | None = None,
    backend: str | None = None,
    k_links: int = 5,
    record: bool | Literal["timelines"] = False,
    faults: FaultOptions | None = FaultOptions(),
) -> ScenarioRun:
    """Load ``scenario`` (shipped name, YAML path or a Scenario) and run every variant.

    Raises:
        InputError: a bad scenario or override, or a workload that cannot run.
        DeadlockError: a variant's programs deadlock.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, list(overrides))
    source = str(scenario) if not isinstance(scenario, Scenario) else sc.source_file
    return ScenarioRun(
        tuple(
            run_variant(
                v,
                fidelity=fidelity,
                backend=backend,
                k_links=k_links,
                record=record,
                source=source,
                faults=faults,
            )
            for v in sc.variants()
        )
    )
