"""Mixed hardware in a scenario: ``hardware.node_gpus`` and ``hardware.balance``.

:func:`mixed_workload` builds the scenario once per GPU model present, unfolded (each rank has
its own durations), and composes the job rank by rank (:func:`simulator.workload.mixed.compose`);
with ``balance: dp`` the data-parallel replicas then share the batch by speed
(:func:`simulator.workload.mixed.balance_dp`). Metadata records the GPUs per model and the
micro-batches per replica.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from simulator.config import Balance, Scenario
from simulator.core.errors import InputError
from simulator.core.ir import Workload
from simulator.workload.mixed import balance_dp, compose
from simulator.workload.strategies.options import DataParallelMode, StrategyKind

if TYPE_CHECKING:
    from simulator.workload.strategies.context import JobContext

#: Data-parallel modes that reduce gradients once per step (nothing per micro-batch).
_BALANCEABLE = (DataParallelMode.DDP, DataParallelMode.ZERO1, DataParallelMode.ZERO2)


def gpu_of_ranks(scenario: Scenario, topology: Any, base_gpu: str) -> list[str]:
    """GPU model of every rank: its host's ``node_gpus`` entry, else ``base_gpu``.

    Raises:
        InputError: a pattern that matches no host, or a host named by two entries.
    """
    hosts = topology.hosts()
    owner: dict[str, tuple[str, str]] = {}  # host -> (field that named it, its gpu)
    for i, entry in enumerate(scenario.hardware.node_gpus):
        for j, pat in enumerate(entry.hosts):
            field = f"hardware.node_gpus.{i}.hosts.{j}"
            hit = [h for h in hosts if fnmatchcase(h, pat)]
            if not hit:
                shown = ", ".join(hosts[:4]) + (", ..." if len(hosts) > 4 else "")
                raise InputError(
                    f"no host {pat!r} in topology {scenario.topology} (hosts: {shown})",
                    file=scenario.source_file,
                    field=field,
                )
            for h in hit:
                if h in owner and owner[h][0] != field:
                    raise InputError(
                        f"host {h} is already given a GPU by {owner[h][0]}",
                        file=scenario.source_file,
                        field=field,
                    )
                owner[h] = (field, entry.gpu)
    return [
        owner[h][1] if (h := topology.host_of(r)) in owner else base_gpu
        for r in range(topology.num_ranks)
    ]


def _check_balance(scenario: Scenario) -> None:
    st = scenario.strategy
    if scenario.hardware.balance is Balance.NONE:
        return
    why = None
    if st.kind is not StrategyKind.COLLECTIVE:
        why = "a collective strategy"
    elif st.pp != 1:
        why = "pp: 1 (uneven pipeline stages are not modelled)"
    elif st.data_parallel.mode not in _BALANCEABLE:
        why = "data_parallel.mode ddp, zero1 or zero2 (gradients reduced once per step)"
    if why:
        raise InputError(
            f"balance: dp needs {why}", file=scenario.source_file, field="hardware.balance"
        )


def mixed_workload(
    scenario: Scenario,
    topology: Any,
    base: Workload,
    job: JobContext,
    build: Callable[[Scenario, Any], Workload],
    base_gpu: str,
) -> Workload:
    """The job with every rank costed by its own GPU model (see the module docstring).

    ``base`` is the job built on ``base_gpu`` (``hardware.gpu`` or the topology's); ``build``
    builds a scenario's workload (:func:`simulator.build.build_workload`), called for every
    other GPU model with ``node_gpus`` emptied.
    """
    _check_balance(scenario)
    if job.fold:
        scenario = scenario.with_settings({"strategy.fold": False}, "hardware.node_gpus")
        return build(scenario, topology)
    gpus = gpu_of_ranks(scenario, topology, base_gpu)
    builds = {base_gpu: base}
    for gpu in sorted(set(gpus) - {base_gpu}):
        alt = scenario.with_settings(
            {"hardware.gpu": gpu, "hardware.node_gpus": [], "hardware.balance": "none"},
            "hardware.node_gpus",
        )
        try:
            builds[gpu] = build(alt, topology)
        except InputError as err:
            i = next(k for k, e in enumerate(scenario.hardware.node_gpus) if e.gpu == gpu)
            raise InputError(
                err.message, file=scenario.source_file, field=f"hardware.node_gpus.{i}.gpu"
            ) from None
    wl = compose(builds, gpus)
    wl.metadata["gpus"] = dict(sorted(Counter(gpus).items()))
    if scenario.hardware.balance is Balance.DP:
        lay = job.layout
        replicas = [
            [lay.rank(t, p, d) for t in range(lay.tp) for p in range(lay.pp)] for d in range(lay.dp)
        ]
        wl, shares = balance_dp(wl, replicas, job.microbatches)
        wl.metadata["dp_microbatches"] = shares
    return wl
