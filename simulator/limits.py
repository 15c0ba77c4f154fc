"""Refuse before building: cheap estimates of how big a job would be, checked against limits.

A unit mistake (a batch given in tokens, a bucket of 25 *bytes*, ten million GPUs) makes a
workload builder unroll billions of ops and run for hours. These estimates cost microseconds,
are computed from the scenario or the command's flags before anything is built, and raise an
:class:`~simulator.core.errors.InputError` naming the field that made the job large, with the
estimate, when it is above a limit. ``--force`` (the :func:`forced` context) lifts every limit.

The estimates are upper-bound orders of magnitude, checked against the real builders on the
shipped scenarios (estimate / built: 1.2x to 36x, never below; benchmarks/RESULTS.md): they
only have to separate "a big but real job" (the largest shipped scenario builds 124,204 ops)
from "a mistake" (10^9 ops).
"""

from __future__ import annotations

import contextvars
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from simulator.core.errors import InputError

#: Most ops a built workload may hold (all simulated ranks together). The largest shipped
#: scenario builds 124,204; the builder writes ~85,000 ops per second on one core, so the limit
#: is about a minute of building.
MAX_OPS: Final[int] = 5_000_000
#: Most flows one collective command may simulate (channels x chunks x algorithm steps).
MAX_FLOWS: Final[int] = 1_000_000
#: Most (op x channel) pairs ``commsim run`` may simulate: each collective op of the estimated
#: workload (:func:`estimate_scenario_ops`, an upper bound) runs on every channel of the backend
#: profile. gpt3-175b-1024xh100 (149,000 ops estimated) ran in 6.0 s with nccl (8 channels a
#: host: 1.2e6 pairs) and 14.5 s with a 64-channel copy of nccl (9.5e6), ~0.15 s per channel
#: (`time commsim run gpt3-175b-1024xh100 --backend FILE --json`, load 5 on 2 cores); a
#: 1,024-channel profile (1.5e8) ran 55 s and more. The limit is about a minute.
MAX_CHANNEL_OPS: Final[int] = 50_000_000
#: Channels a profile's ``channels: 0`` means (one per GPU of a host, as NCCL runs on
#: rail-optimized nodes): 8, the GPUs of the largest shipped host (DGX A100/H100).
AUTO_CHANNELS: Final[int] = 8
#: Most ``compare:`` variants one scenario may list: each is validated (~3 ms) and simulated
#: (0.1 s to a minute) in turn and printed as its own table; 20,000 variants ran past the
#: harness's 30 s while still resolving. A grid is ``commsim sweep``'s job (parallel, resumable).
MAX_VARIANTS: Final[int] = 100
#: Most ranks (GPU/CPU endpoints) a topology may have; 32x the largest shipped topology (1,024).
MAX_RANKS: Final[int] = 32_768
#: Most message sizes ``collective --sizes MIN:MAX`` may sweep (nccl-tests' 1K:8G is 24).
MAX_SIZES: Final[int] = 64
#: Most (step x op) cells ``run --steps N`` may re-time (steps x ops of the built workload):
#: ten-node-stragglers (630 ops) re-timed 100,000 steps (6.3e7 cells) in 3.6 s and 394 MB
#: peak (`commsim run ten-node-stragglers --steps 100000 --json`, load 6 on 2 cores), so the
#: limit is about half a minute and 3 GB.
MAX_RETIMED_CELLS: Final[int] = 500_000_000
#: Most (step x rank) compute draws ``run --steps N`` may hold (four float64 arrays of
#: steps x ranks: 800 MB at the limit).
MAX_STEP_DRAWS: Final[int] = 25_000_000
#: Most times the network faults may change link rates in one simulated step (each change
#: re-solves max-min rates of the flows in flight). gpt3-175b-64xa100 with
#: ``faults: {background: [{link: '*->*', load: 0.3, on: 1ms, off: 1ms}]}`` changed 13,899
#: times in its 13.9 s step: 44 s of CPU against 19 s with one change (``start: 1ms``, no
#: on/off), 1.8 ms per change (`time commsim run` on each copy, load 4 on 2 cores), so the
#: limit is under 20 s of changes.
MAX_RATE_SWITCHES: Final[int] = 10_000
#: Most points ``commsim sweep`` may run (the product of the ``--vary`` value counts). Each
#: point is resolved to a validated scenario before any runs (2.7 ms each for
#: ten-node-sync-vs-async, load 3 on 2 cores: 27 s for the limit) and then simulated (0.1 s to
#: minutes each); a 2,000 x 2,000 grid spent its first minute resolving points.
MAX_SWEEP_POINTS: Final[int] = 10_000
#: Most local Dask worker processes per CPU core (``sweep --workers``): the points are CPU-bound,
#: so more only share the cores; ``--workers 100000`` started processes until killed.
MAX_WORKERS_PER_CORE: Final[int] = 4
#: A data-parallel bucket below this (bytes) draws a warning: PyTorch's default is 25 MiB.
MIN_BUCKET_B: Final[float] = 2.0**20

_FORCE: contextvars.ContextVar[bool] = contextvars.ContextVar("commsim_force", default=False)

FORCE_HINT: Final[str] = "(--force runs it anyway)"


_LIFTED: contextvars.ContextVar[InputError | None] = contextvars.ContextVar(
    "commsim_lifted", default=None
)


@contextmanager
def forced(on: bool) -> Iterator[None]:
    """Inside this context every limit of this module is lifted when ``on``."""
    token = _FORCE.set(on)
    lifted = _LIFTED.set(None)
    try:
        yield
    finally:
        _LIFTED.reset(lifted)
        _FORCE.reset(token)


def is_forced() -> bool:
    """Whether ``--force`` is in effect."""
    return _FORCE.get()


def refuse(err: InputError) -> None:
    """Raise ``err``, a limit's refusal; under ``--force`` keep it instead (:func:`lifted`)."""
    if not is_forced():
        raise err
    _LIFTED.set(err)


@contextmanager
def lifted_in(file: str | None) -> Iterator[None]:
    """A refusal lifted inside this context that names no file names ``file`` when the job runs
    out of memory (the builders' guards do not know the scenario's file)."""
    try:
        yield
    except (MemoryError, OverflowError):
        err = _LIFTED.get()
        if err is not None and file is not None:
            _LIFTED.set(err.located(file=file))
        raise


def lifted() -> InputError | None:
    """The last refusal ``--force`` lifted in this command (None: none was): what to name when
    the forced job then runs out of memory (:mod:`simulator.cli.errors`)."""
    return _LIFTED.get()


def check_limit(
    estimate: float,
    limit: int,
    what: str,
    *,
    field: str,
    file: str | None = None,
    verb: str = "would build about",
    hint: str = "check this value",
) -> None:
    """Raise :class:`InputError` when ``estimate`` exceeds ``limit`` (unless forced).

    The message reads ``{verb} {estimate} {what}, more than the limit of {limit}; {hint}``."""
    if not math.isfinite(estimate) or estimate > limit:
        err = InputError(
            f"{verb} {_count(estimate)} {what}, more than the limit of "
            f"{limit:,}; {hint} {FORCE_HINT}",
            file=file,
            field=field,
        )
        if not math.isfinite(estimate):
            raise err
        refuse(err)


def _count(x: float) -> str:
    try:
        x = float(x)  # an int product of builder counts may be past the float range
    except OverflowError:
        return "more than 10^308"
    if not math.isfinite(x):
        return "infinitely many"
    if x < 1e6:
        return f"{int(x):,}"
    return f"{x:.2g}"


# --------------------------------------------------------------------------- topologies


#: Per builder: the parameters whose product is the number of endpoints (ranks and NICs), and
#: the default of each (a parameter the file leaves out takes it).
_BUILDER_COUNTS: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "cluster": (("nodes", 2), ("gpus_per_node", 8)),
    "two_datacenters": (("nodes_per_dc", 2), ("gpus_per_node", 8)),
    "dgx_node": (("gpus", 8),),
    "pcie_node": (("gpus", 8),),
}
_BUILDER_FACTOR: Final[dict[str, int]] = {"two_datacenters": 2}


def check_topology_size(btype: str, kwargs: Mapping[str, Any], file: str) -> None:
    """Refuse a ``build:`` whose rank count exceeds :data:`MAX_RANKS` (before building)."""
    counts: dict[str, float] = {}
    if btype == "torus":
        dims = kwargs.get("dims", (4, 4, 4))
        if isinstance(dims, Sequence) and all(_is_int(d) for d in dims):
            counts["dims"] = math.prod(max(1, int(d)) for d in dims)
    for name, default in _BUILDER_COUNTS.get(btype, ()):
        value = kwargs.get(name, default)
        if _is_int(value):
            counts[name] = max(1, int(value))
    for extra in ("nics_per_node", "nics"):
        value = kwargs.get(extra)
        if isinstance(value, int) and _is_int(value) and value > MAX_RANKS:
            refuse(
                InputError(
                    f"{value:,} NICs per node is more than the limit of {MAX_RANKS:,} {FORCE_HINT}",
                    file=file,
                    field=f"build.{extra}",
                )
            )
    if not counts:
        return
    ranks = math.prod(counts.values()) * _BUILDER_FACTOR.get(btype, 1)
    if ranks > MAX_RANKS:
        biggest = max(counts, key=lambda k: counts[k])
        refuse(
            InputError(
                f"would build {_count(ranks)} ranks, more than the limit of {MAX_RANKS:,}; "
                f"check this value {FORCE_HINT}",
                file=file,
                field=f"build.{biggest}",
            )
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------- scenarios


def estimate_scenario_ops(scenario: Any, world: int) -> tuple[float, dict[str, float]]:
    """Estimated ops of ``build_workload(scenario, topology with world ranks)``.

    Returns the total and the factor each responsible field contributes (the field with the
    largest factor is the one named when the total is over the limit).
    """
    st, tr, m = scenario.strategy, scenario.training, scenario.model
    tp, pp, ep = st.tp, st.pp, st.ep
    cp = int(getattr(st, "cp", 1))
    if st.kind == "collective":
        dp = st.dp or max(1, world // max(1, tp * pp * cp))
    else:
        dp = st.dp or max(1, world)
    workers = max(1, dp)
    microbatches = max(1.0, tr.global_batch / (workers * tr.micro_batch))
    v = st.pipeline.virtual_stages
    dec_layers = float(getattr(getattr(m, "app", None), "decoder_layers", None) or 0)  # enc-dec
    layers_per_stage = max(1.0, (m.layers + dec_layers) / max(1, pp)) * v
    job = tp * pp * dp * cp
    fold = st.fold if st.fold is not None else job > 16
    hw = getattr(scenario, "hardware", None)
    if st.kind == "parameter_server" or (hw is not None and getattr(hw, "node_gpus", None)):
        fold = False  # mixed GPUs: every rank is built (simulator.build_mixed)
    programs = float(min(job, max(1, pp * ep))) if fold else float(job)
    # DDP gradient buckets of one rank (grads of its TP x PP shard, 2 bytes each at least)
    grad_B = _rank_params(m, tp, pp) * 2.0
    buckets = grad_B / max(1.0, float(st.data_parallel.bucket_size))
    per_mb = 16.0 * layers_per_stage  # forward/backward, TP collectives, p2p per micro-batch
    steps = 1.0
    if st.kind == "parameter_server":
        steps = float(st.parameter_server.steps)
        per_mb = 4.0 + 4.0 * st.parameter_server.servers
    elif st.kind == "local_sgd":
        steps = float(st.local_sgd.period)
    per_program = steps * (microbatches * per_mb + 4.0 * buckets + 4.0 * layers_per_stage) + 64
    total = programs * per_program
    factors = {
        "training.global_batch": microbatches,
        "model.layers": max(1.0, m.layers / max(1, pp)) * v,
        "model.app.decoder_layers": dec_layers / max(1, pp) * v,
        "strategy.data_parallel.bucket_size": buckets / 16.0,
        "strategy.fold": programs,
        "strategy.parameter_server.steps"
        if st.kind == "parameter_server"
        else "strategy.local_sgd.period": steps,
    }
    return total, factors


def _rank_params(m: Any, tp: int, pp: int) -> float:
    """Upper bound of the parameters one rank holds: its 1/(tp x pp) share of the layers (every
    expert counted, attention and MLP as ``simulator.workload.modelspec`` counts them) plus a
    1/tp share of the input embedding and of an untied output layer (pipeline stages place those
    whole on one stage; nothing here divides them by pp). Floats: an outsized field stays a
    finite estimate or becomes ``inf``, never a slow integer."""
    h = float(m.hidden)
    ffn = float(m.ffn_hidden) if m.ffn_hidden else 4.0 * h
    mats = 3.0 if m.gated_mlp else 2.0
    layer = 4.0 * h * h + float(m.experts) * mats * h * ffn
    vocab = float(m.vocab) * h * (1.0 if m.tie_embeddings else 2.0)
    return float(m.layers) * layer / max(1, tp * pp) + vocab / max(1, tp)


def check_scenario(
    scenario: Any, world: int, *, file: str | None = None, profile: Any = None
) -> None:
    """Refuse a scenario whose workload would exceed :data:`MAX_OPS` (or, ``profile`` given:
    the backend profile, :data:`MAX_CHANNEL_OPS`); warn on a tiny bucket."""

    st = scenario.strategy
    bucket = float(st.data_parallel.bucket_size)
    if bucket < MIN_BUCKET_B and st.data_parallel.mode == "ddp":
        print(
            f"warning: {file or scenario.name}: strategy.data_parallel.bucket_size: "
            f"{bucket:g} bytes is below 1 MiB (PyTorch's default is 25 MiB); was MiB meant?",
            file=sys.stderr,
        )
    total, factors = estimate_scenario_ops(scenario, world)
    if not total <= MAX_OPS:  # `not <=`: a nan total is refused too
        field = max(factors, key=lambda k: factors[k])
        why = f"{field} contributes a factor of {_count(factors[field])}"
        if field == "strategy.data_parallel.bucket_size":
            m = scenario.model
            params = _rank_params(m, st.tp, st.pp)
            why = (
                f"about {_count(params)} parameters per rank (model.layers {m.layers:,}, "
                f"hidden {m.hidden:,}, vocab {m.vocab:,}, experts {m.experts:,}) in buckets "
                f"of {_count(bucket)} bytes"
            )
        refuse(
            InputError(
                f"would build about {_count(total)} ops ({why}), more than the limit of "
                f"{MAX_OPS:,}; check this value {FORCE_HINT}",
                file=file,
                field=field,
            )
        )
    if profile is not None:
        check_channel_ops(total, profile)


def check_channel_ops(ops: float, profile: Any) -> None:
    """Refuse a run whose ops times the profile's channels exceed :data:`MAX_CHANNEL_OPS`,
    naming the profile's ``channels`` (the ops alone are under :data:`MAX_OPS` here)."""
    channels = int(profile.channels) or AUTO_CHANNELS
    total = ops * channels
    if total > MAX_CHANNEL_OPS:
        src = str(getattr(profile, "source", "") or "") or f"backend {profile.name}"
        refuse(
            InputError(
                f"{channels:,} channels on each of about {_count(ops)} ops would simulate "
                f"about {_count(total)} op-channels, more than the limit of "
                f"{MAX_CHANNEL_OPS:,}; give a profile with fewer channels {FORCE_HINT}",
                file=src,
                field="channels",
            )
        )


def check_app_buckets(
    grads_B: Sequence[float], strategy: Any, world: int, *, file: str | None
) -> None:
    """Refuse an application model (GAN, conformer, encoder-decoder) whose DDP buckets over
    every phase and rank would exceed :data:`MAX_OPS`, before building: its parameters come
    from ``model.app`` fields :func:`estimate_scenario_ops` does not see (``image_channels:
    2e9`` built 2.5 M bucket all-reduces per phase and ran past 100 s).

    Args:
        grads_B: gradient bytes of one replica, per phase; strategy: the scenario's;
            world: ranks of the topology (each rank runs its replica's buckets).
    """
    if strategy.data_parallel.mode != "ddp":
        return
    bucket = float(strategy.data_parallel.bucket_size)
    ranks = float(strategy.dp or world)
    # 4 ops per bucket, as estimate_scenario_ops counts them (its collective and the ops
    # around it)
    total = 4.0 * sum(grads_B) / max(1.0, bucket) * ranks
    check_limit(
        total,
        MAX_OPS,
        f"ops for gradient buckets ({_count(sum(grads_B))} bytes of gradients per replica "
        f"in buckets of {_count(bucket)} bytes, {ranks:.0f} ranks)",
        field="strategy.data_parallel.bucket_size",
        file=file,
        hint="check the model.app fields and this value",
    )


# --------------------------------------------------------------------------- collectives


def check_collective(
    n_ranks: int,
    channels: int | None,
    chunks: int,
    fidelity: str,
    n_sizes: int = 1,
    *,
    op: str = "",
    algo: str | None = None,
    profile: str | None = None,
) -> None:
    """Refuse a collective whose flow count would exceed :data:`MAX_FLOWS`.

    ``channels`` is the count the planner uses: ``--channels``, or else (``profile`` given:
    the backend profile's name or file) the profile's own ``channels``, which the message then
    names when it is the largest factor.

    Measured on one core (dgx-a100-8node, 64 ranks, 1 GiB all-reduce): the flow fidelity
    simulates ~30,000 channel-steps per second (``--channels 1000``: 4.7 s); the chunk fidelity
    ~3,300 chunk-flows per second, growing as ``chunks x n^2`` (``--chunks 16``: 39 s).
    ``all_to_all`` and the ``direct`` algorithm send between every pair of ranks: ``n (n - 1)``
    flows (all-reduce: twice that; dgx-h100-32node, 256 ranks: 65,280 and 130,560 flows), so a
    1,024-rank all-to-all (1,047,552 flows) ran over a minute at the flow fidelity.
    """
    if channels is not None and channels < 1:
        raise InputError(f"must be >= 1, got {channels}", field="--channels")
    if chunks < 1:
        raise InputError(f"must be >= 1, got {chunks}", field="--chunks")
    n = float(max(1, n_ranks))
    ch = float(channels or 1)
    if fidelity == "chunk":
        total = ch * chunks * 2.0 * n * n * n_sizes
        factors = {"--channels": ch, "--chunks": float(chunks), "--ranks": n}
    elif fidelity == "analytical":
        return
    else:
        pairwise = op == "all_to_all" or algo == "direct"
        if pairwise:  # one flow per pair of ranks, whatever the channels (collectives.direct)
            total = 2.0 * n * n * n_sizes
            factors = {"--ranks": n * n}
        else:
            total = ch * 2.0 * n * n_sizes
            factors = {"--channels": ch, "--ranks": n}
    if total > MAX_FLOWS:
        field = max(factors, key=lambda k: factors[k])
        file = None
        if field == "--channels" and profile is not None:
            field, file = "channels", profile
            hint = f"the backend profile's {ch:,.0f} channels; give fewer, or --channels N"
        else:
            hint = "check this value"
        check_limit(
            total, MAX_FLOWS, "flows", field=field, file=file, verb="would simulate about",
            hint=hint,
        )  # fmt: skip


def check_steps(steps: int, world: int, ops: int, *, exact: bool, file: str | None) -> None:
    """Refuse ``run --steps N`` whose draws or re-timing would exceed the limits above.

    Args:
        steps: ``--steps``; world: ranks of the job; ops: ops of the built workload (one
            program run); exact: ``--exact-steps`` (one event simulation per run of the
            programs, bounded like a build by :data:`MAX_OPS`).
    """
    draws = float(steps) * float(max(1, world))
    check_limit(draws, MAX_STEP_DRAWS, "compute draws (steps x ranks)", field="--steps", file=file)
    cells = float(steps) * float(max(1, ops))
    if exact:
        check_limit(cells, MAX_OPS, "simulated ops (steps x ops)", field="--steps", file=file)
    else:
        check_limit(cells, MAX_RETIMED_CELLS, "re-timed ops (steps x ops)", field="--steps",
                    file=file)  # fmt: skip


def check_rate_switches(
    switches: int, now_s: float, source: tuple[str, tuple[float, float] | None]
) -> None:
    """Refuse network faults that changed link rates more than :data:`MAX_RATE_SWITCHES` times
    in one step (the fault engine's own count, :mod:`simulator.faults.engine`).

    Args:
        switches: changes so far; now_s: simulated time of the last one;
        source: the field of the fault that changes most often and its (on_s, off_s)
            (:meth:`simulator.faults.network.NetworkFaults.fastest_source`).
    """
    field, period = source
    if period is None:
        hint = "give fewer timed faults"
    else:
        on, off = period
        hint = (
            f"its on/off cycle of {on:g} s + {off:g} s switches rates twice per "
            f"{on + off:g} s of a step longer than {now_s:.3g} s: lengthen on and off, or "
            "drop both for a constant load"
        )
    check_limit(
        switches, MAX_RATE_SWITCHES, "link-rate changes in one step", field=field,
        verb="made", hint=hint,
    )  # fmt: skip


def check_sweep(
    vary: Sequence[tuple[str, Sequence[object]]], workers: int | None, *, field: str | None = None
) -> None:
    """Refuse a ``sweep`` (or ``plan``) grid over :data:`MAX_SWEEP_POINTS` points (before
    listing them) or more local workers than :data:`MAX_WORKERS_PER_CORE` per CPU core.

    ``vary``: each axis and its values; ``field``: the flag to name (default: the axis with
    the most values)."""
    points = math.prod(float(len(v)) for _, v in vary)
    if vary:
        biggest = max(vary, key=lambda kv: len(kv[1]))[0]
        counts = " x ".join(f"{len(v):,}" for _, v in vary)
        check_limit(
            points, MAX_SWEEP_POINTS, f"sweep points ({counts} values)", field=field or biggest,
            verb="would run", hint=f"give fewer values ({biggest} has the most)",
        )  # fmt: skip
    cores = os.cpu_count() or 1
    if workers is not None:
        check_limit(
            workers, MAX_WORKERS_PER_CORE * cores, f"worker processes on {cores} CPU cores",
            field="--workers", verb="would start", hint="the points are CPU-bound: give fewer",
        )  # fmt: skip


def check_sizes_count(n: int, factor: int = 2) -> None:
    """Refuse a ``--sizes MIN:MAX[:FACTOR]`` range of ``n`` sizes (``MIN``, ``FACTOR`` x
    ``MIN``, ... up to ``MAX``) when ``n`` is more than :data:`MAX_SIZES`."""
    if n > MAX_SIZES:
        by = "doubling" if factor == 2 else f"a factor of {factor}"
        refuse(
            InputError(
                f"{n} sizes from MIN to MAX by {by}, more than the limit of {MAX_SIZES} "
                f"{FORCE_HINT}",
                field="--sizes",
            )
        )
