"""A scenario's faults on its built workload: what ``commsim run`` calls (small hooks there).

:func:`prepare` resolves the network faults on the topology (checking names and cuts) and, for
compute faults in a single step, gives the workload of step 0's draws (unfolding a folded job,
since each rank then has its own times). :func:`many_steps` runs ``--steps`` and writes the
per-step table and histogram.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.units import format_time
from simulator.engine import simulate
from simulator.faults.compute import check_ranks, sample
from simulator.faults.marks import mark_timeline, write_link_faults
from simulator.faults.network import NetworkFaults, apply_network_faults
from simulator.faults.steps import StepsResult, run_steps, scaled_workload
from simulator.limits import check_steps


@dataclass
class Prepared:
    """What a faulted run needs: the network faults, the workload to simulate once."""

    network: NetworkFaults | None
    workload: Any
    compute_model: Any


def prepare(sc: Any, topology: Any, built: Any, file: str, seed: int, perturb: bool) -> Prepared:
    """Resolve ``sc.faults`` for one step (see the module docstring).

    ``perturb``: apply step 0's compute draws to the workload simulated once (an unfolded job
    only; a folded job's ranks get their own times by re-timing, ``--steps``).
    """
    faults = sc.faults
    world = built.workload.world_size
    try:
        net = apply_network_faults(topology, faults, list(range(world)))
        check_ranks(faults, world)
    except InputError as err:
        raise err.located(file=file) from None
    wl, cm = built.workload, built.compute_model
    if faults.compute and perturb:
        if len(wl.programs) != world:
            print(
                f"note: {sc.name}: a folded job's ranks get their own compute times by "
                "re-timing; the compute faults are in the step_time_* keys (one step)",
                file=sys.stderr,
            )
            return Prepared(net, wl, cm)
        draws = sample(faults, world, wl.steps_per_program, seed)
        wl = scaled_workload(wl, cm, draws.factor, draws.stall_s)
    return Prepared(net, wl, cm)


def many_steps(
    sc: Any, topology: Any, built: Any, prepared: Prepared, args: Any, base_result: Any
) -> StepsResult:
    """``--steps N --seed S`` (``--exact-steps``: every step on the event engine).

    ``base_result`` is the run simulated once; it is the unperturbed base when its compute was
    not perturbed (always with ``--steps``, and for folded jobs).
    """
    perturbed = sc.faults.compute and prepared.workload is not built.workload
    wl = built.workload
    n_ops = sum(len(p.ops) for p in wl.programs)
    exact = getattr(args, "exact_steps", False)
    steps = getattr(args, "steps", None) or 1
    check_steps(steps, wl.world_size, n_ops, exact=exact, file=str(args.scenario))
    try:
        return run_steps(
            built.workload,
            topology,
            sc.faults,
            steps=steps,
            seed=args.seed,
            backend=args.backend or str(sc.backend),
            fidelity=args.fidelity or str(sc.fidelity),
            compute_model=built.compute_model,
            network=prepared.network,
            exact=exact,
            base_result=None if perturbed else base_result,
        )
    except ValueError as err:
        raise InputError(str(err), file=str(args.scenario), field="--steps") from None


def write_steps(out: Path, res: StepsResult, title: str) -> None:
    """``steps.csv`` (one row per step) and ``step_hist.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res.table().to_csv(out / "steps.csv", index=False)
    s = res.summary()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(res.step_time_s, bins=min(40, max(5, res.step_time_s.size // 3)), color="#4878a8")
    for key, style in (
        ("step_time_p50_s", "-"),
        ("step_time_p90_s", "--"),
        ("step_time_p99_s", ":"),
    ):
        ax.axvline(s[key], color="k", linestyle=style, label=f"{key[10:13]} {s[key]:.4g} s")
    ax.axvline(
        s["unperturbed_step_time_s"],
        color="#c44",
        label=f"unperturbed {s['unperturbed_step_time_s']:.4g} s",
    )
    ax.set_xlabel("step time (s)")
    ax.set_ylabel("steps")
    ax.set_title(f"{title}: {s['steps']} steps, seed {s['seed']} ({s['steps_mode']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "step_hist.png", dpi=110)
    plt.close(fig)


def print_steps(res: StepsResult) -> None:
    """One line per figure of the many-step summary (human output of ``commsim run``)."""

    s = res.summary()
    print(
        f"{s['steps']} steps (seed {s['seed']}, {s['steps_mode']}): "
        f"mean {format_time(s['step_time_mean_s'])}, p50 {format_time(s['step_time_p50_s'])}, "
        f"p90 {format_time(s['step_time_p90_s'])}, p99 {format_time(s['step_time_p99_s'])}; "
        f"unperturbed {format_time(s['unperturbed_step_time_s'])}; "
        f"lost to waiting for slower ranks {100 * s['straggler_wait_share']:.1f} %"
    )


def write_fault_outputs(
    out: Path, sc: Any, topology: Any, built: Any, prepared: Prepared, result: Any, args: Any
) -> None:
    """Timeline marks; with network faults, ``links_faults.csv`` against a healthy run."""

    mark_timeline(out / "timeline.json", prepared.network, sc.faults, float(result.makespan_s))
    if prepared.network is not None:
        healthy = simulate(
            prepared.workload,
            topology,
            backend=args.backend or str(sc.backend),
            fidelity=args.fidelity or str(sc.fidelity),
            compute_model=prepared.compute_model,
            record=False,
        )
        write_link_faults(out, result, healthy, prepared.network)


def prepare_run(sc: Any, topology: Any, built: Any, args: Any) -> Prepared:
    """:func:`prepare` with ``commsim run``'s options (compute perturbed unless ``--steps``)."""
    perturb = not getattr(args, "steps", None)
    return prepare(sc, topology, built, str(args.scenario), getattr(args, "seed", 0), perturb)


def finish_run(
    sc: Any,
    topology: Any,
    built: Any,
    prepared: Prepared | None,
    args: Any,
    result: Any,
    payload: dict[str, Any],
) -> StepsResult | None:
    """Many steps when asked (or compute faults on a folded job); faults into ``payload``."""
    steps = None
    folded = len(built.workload.programs) < built.workload.world_size
    if getattr(args, "steps", None) or (sc.faults.compute and folded):
        prep = prepared or Prepared(None, built.workload, built.compute_model)
        steps = many_steps(sc, topology, built, prep, args, result)
        payload.update(steps.summary())
    if not sc.faults.empty:
        payload["faults"] = sc.faults.model_dump(mode="json", exclude_defaults=True)
    return steps


def write_run_outputs(
    out: Path,
    sc: Any,
    topology: Any,
    built: Any,
    prepared: Prepared | None,
    steps: StepsResult | None,
    result: Any,
    args: Any,
) -> None:
    """The faults' files under ``--out`` (steps table and histogram, marks, rerouted load)."""
    if steps is not None:
        write_steps(out, steps, sc.name)
    if prepared is not None:
        write_fault_outputs(out, sc, topology, built, prepared, result, args)
