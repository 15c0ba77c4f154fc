"""Validation against published measurements (rung 4 of the validation ladder).

The reference figures live in ``simulator/data/published.yaml``: nccl-tests bus bandwidths
stated by NVIDIA engineers and the per-GPU throughput of the Megatron-LM paper's runs, each with
its source and the sentence or table row it comes from. This module reproduces every row from
spec-sheet hardware and reports expected vs predicted:

* nccl-tests rows: :func:`simulator.collectives.simulate_collective` on the matching topology
  (a shipped one, or a DGX cluster built for the row's node count), ``busbw`` in GB/s (1e9 B/s).
* training rows: a scenario built from the paper's setup (model, parallelism, batch) run through
  the engine; the predicted step time is turned into teraFLOP/s per GPU with the *paper's own*
  FLOP count (its equation (3)), so expected and predicted are the same quantity.

No row has its own constant: every constant that moves a prediction is per hardware type and
lives in the hardware catalog or the backend profile, with its source. A row that misses is
reported as a miss (see ``docs/published-fidelity.md``), never tuned on itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict

from simulator.collectives import simulate_collective
from simulator.collectives.backend import BackendProfile, load_backend
from simulator.config import scenario_from_dict
from simulator.core.errors import InputError
from simulator.core.schema import PosInt
from simulator.core.schema_messages import validate_input
from simulator.core.suggest import hint
from simulator.core.units import parse_size
from simulator.core.vocab import CollectiveOp, DType
from simulator.report import progress
from simulator.resources import data_file
from simulator.studies.scenario import simulate_scenario
from simulator.topology import load_topology, topology_from_dict
from simulator.workload.software import Software

#: The shipped reference file.
PUBLISHED_PATH = data_file("published.yaml")

#: GB/s as nccl-tests prints it (SI: 1e9 bytes per second).
GBPS = 1e9
#: teraFLOP/s as the Megatron-LM paper reports it.
TFLOPS = 1e12


class Kind(StrEnum):
    """What a reference row measures."""

    NCCL_TESTS = "nccl_tests"
    TRAINING = "training"


#: Collective fidelity per kind when the caller gives none: flow (congestion-aware) for both.
#: Training rows run thousands of ranks for hundreds of micro-batches; at flow level each takes
#: at most 49 s on 2 cores (the 1T row on 3,072 GPUs; benchmarks/RESULTS.md, *Round 5*), and
#: differs from analytical collectives by -2.8 % to +0.1 % (docs/decisions.md, 2026-12-05).
DEFAULT_FIDELITY: dict[Kind, str] = {Kind.NCCL_TESTS: "flow", Kind.TRAINING: "flow"}

#: Acceptance band per kind, in percent of the published value (the test asserts these; a row
#: outside its band is a model gap to fix or to document, never a reason to widen the band).
TOLERANCE_PCT: dict[Kind, float] = {Kind.NCCL_TESTS: 10.0, Kind.TRAINING: 15.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemSpec(_Strict):
    """The measured system as the source describes it (documentation, not used to predict)."""

    gpu: str
    nodes: int
    gpus_per_node: int
    nic: str


class NcclSetup(_Strict):
    """What to simulate for one nccl-tests row.

    ``topology`` names a shipped topology; ``build`` instead gives topology-builder parameters
    (``{type: cluster, nodes: 2, gpu: H100-SXM, ...}``, as in a topology YAML's ``build:``) for
    node counts no shipped file has.
    """

    topology: str | None = None
    build: dict[str, Any] | None = None
    op: CollectiveOp
    size: str | float
    ranks: int
    algo: str = "auto"
    #: ``false`` where the run disabled NVLS (``NCCL_NVLS_ENABLE=0``): neither NVLS nor
    #: NVLSTree is a candidate then.
    nvls: bool = True


class ModelSetup(_Strict):
    """A GPT model as the paper gives it."""

    layers: int
    hidden: int
    heads: int
    vocab: int
    #: the paper's "Number of parameters (billion)" column, kept to check the transcription.
    params_billion: float
    #: Shapes beyond GPT-3's (the scenario ``model:`` keys of the same name; defaults: GPT).
    kv_heads: int | None = None
    ffn_hidden: int | None = None
    gated_mlp: bool = False
    tie_embeddings: bool = True
    flash_attention: bool = False
    #: mixture of experts: experts per layer and experts each token is routed to (1: dense).
    experts: PosInt = 1
    top_k: PosInt = 1

    @property
    def gpt_shaped(self) -> bool:
        """True for the GPT-3 shape that equation (2) of Narayanan et al. 2021 counts."""
        return (
            self.kv_heads in (None, self.heads)
            and self.ffn_hidden in (None, 4 * self.hidden)
            and not self.gated_mlp
            and self.tie_embeddings
            and self.experts == 1
        )


def megatron_params(model: ModelSetup, seq_len: int) -> float:
    """Parameter count by Narayanan et al. 2021, equation (2).

    ``P = 12 l h^2 (1 + 13/(12h) + (V + s)/(12 l h))``.
    """
    n_l, h, v = model.layers, model.hidden, model.vocab
    return 12.0 * n_l * h**2 * (1.0 + 13.0 / (12.0 * h) + (v + seq_len) / (12.0 * n_l * h))


class ParallelSetup(_Strict):
    """Tensor, pipeline, context and data parallel degrees (``tp * pp * cp * dp`` = GPUs)."""

    tp: int
    pp: int
    dp: int
    #: context parallelism (the sequence split over ``cp`` ranks); 1: none.
    cp: PosInt = 1
    #: expert parallelism (carved out of ``dp``, as the scenario's ``strategy.ep``); 1: none.
    ep: PosInt = 1

    @property
    def gpus(self) -> int:
        """GPUs of the run."""
        return self.tp * self.pp * self.cp * self.dp


class TrainingSetup(_Strict):
    """One training configuration from the paper."""

    model: ModelSetup
    parallelism: ParallelSetup
    global_batch: int
    micro_batch: int
    seq_len: int
    #: name of an entry of the file's ``clusters:`` section (builder parameters of the system).
    cluster: str
    schedule: str
    #: model chunks per pipeline stage for the interleaved schedule (1: not interleaved).
    virtual_stages: int = 1
    recompute: str
    #: Megatron's sequence parallelism (Korthikanti et al. 2022); off in the 2021 runs.
    sequence_parallel: bool = False
    #: the software generation whose kernel speed prices the row (default: the newest).
    software: Software | None = None
    #: the scenario's ``strategy.data_parallel`` section (mode, bucket_size); default: DDP.
    data_parallel: dict[str, Any] | None = None
    #: gradients on the wire (the scenario's ``training.grad_dtype``; default: the activations').
    grad_dtype: str | None = None
    #: the scenario's ``training.dtype`` (default fp16: "mixed precision", see
    #: :func:`training_scenario`); ``fp8`` for Transformer Engine's FP8 recipe.
    dtype: DType = DType.FP16


class Metric(StrEnum):
    """What a training row's ``expected`` is.

    * ``tflops_per_gpu``: per-GPU teraFLOP/s with Narayanan et al. 2021's equation (3) FLOP
      count (:func:`tflops_per_gpu`); our step time is converted with the same count.
    * ``iteration_time_s``: the end-to-end iteration time in seconds (Korthikanti et al. 2022,
      Table 5); compared with our step time directly.
    * ``tflops_per_gpu_mcore``: per-GPU teraFLOP/s with Megatron-Core's own count
      (:func:`mcore_iteration_flops`: forward and backward, no recompute term), the count
      behind the Megatron-LM README's H100 table.
    * ``tokens_per_s_per_gpu``: training tokens per second per GPU, ``global_batch * seq_len /
      (iteration_time_s * n_gpus)`` (the throughput column of FSDP benchmark tables, e.g.
      llm-foundry's "Throughput (T/s/GPU)"); no FLOP count is involved, so any model shape may
      use it.
    """

    TFLOPS_PER_GPU = "tflops_per_gpu"
    TFLOPS_PER_GPU_MCORE = "tflops_per_gpu_mcore"
    ITERATION_TIME_S = "iteration_time_s"
    TOKENS_PER_S_PER_GPU = "tokens_per_s_per_gpu"


class _Reference(_Strict):
    reference: str
    source: str
    url: str
    system: SystemSpec
    expected: float
    unit: str
    quote: str
    note: str = ""
    #: set when this same published figure was used to set a model constant (names it): the
    #: row then checks the pipeline, not predictive power, and is not held-out validation.
    calibrates: str = ""


class NcclReference(_Reference):
    """A published nccl-tests bus bandwidth (GB/s)."""

    setup: NcclSetup


class TrainingReference(_Reference):
    """A published training figure: per-GPU teraFLOP/s or iteration seconds (``metric``)."""

    setup: TrainingSetup
    metric: Metric = Metric.TFLOPS_PER_GPU


class References(_Strict):
    """The whole reference file."""

    clusters: dict[str, dict[str, Any]] = {}
    nccl_tests: list[NcclReference]
    training: list[TrainingReference]


def load_references(path: str | Path | None = None) -> References:
    """Parse the reference file; :class:`InputError` naming file and field on any bad entry."""
    p = Path(path) if path is not None else PUBLISHED_PATH
    try:
        raw = yaml.safe_load(p.read_text())
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(p)) from None
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {e}", file=str(p)) from None

    refs = validate_input(References, raw, file=str(p))
    names = [r.reference for r in [*refs.nccl_tests, *refs.training]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"duplicate reference names: {', '.join(dupes)}", file=str(p))
    for i, t in enumerate(refs.training):
        if t.setup.cluster not in refs.clusters:
            raise InputError(
                f"unknown cluster {t.setup.cluster!r} (known: {', '.join(sorted(refs.clusters))})",
                file=str(p),
                field=f"training[{i}].setup.cluster",
            )
    return refs


# ---- the paper's FLOP count ---------------------------------------------------------------


def megatron_iteration_flops(setup: TrainingSetup) -> float:
    """FLOPs of one training iteration as Narayanan et al. 2021 count them, equation (3).

    ``F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h))``: the GEMMs of forward, backward and the
    recompute forward (full activation recomputation). Per-GPU throughput is
    ``F / (iteration_time_s * n_gpus)``.
    """
    m = setup.model
    b, s, n_l, h, v = setup.global_batch, setup.seq_len, m.layers, m.hidden, m.vocab
    return 96.0 * b * s * n_l * h**2 * (1.0 + s / (6.0 * h) + v / (16.0 * n_l * h))


def mcore_iteration_flops(setup: TrainingSetup) -> float:
    """FLOPs of one training iteration as Megatron-Core counts them for its logged throughput.

    ``num_floating_point_operations`` in ``megatron/training/training.py`` (NVIDIA/Megatron-LM,
    commit 8a78edd20c, July 2024): ``12 B s l h^2 ((1 + g/a + s/h) + (f/h) m + V/(2 l h))`` with
    ``g/a`` the query groups per head, ``f`` the MLP hidden size and ``m`` 3/2 for a gated MLP:
    forward and backward GEMMs, no recomputation term. For GPT-3's shape this is
    ``72 B s l h^2 (1 + s/(6h) + V/(12 l h))``. A mixture of experts multiplies the MLP term by
    the experts each token is routed to (``num_experts_routed_to``, the router not counted).
    """
    m = setup.model
    b, s, n_l, h, v = setup.global_batch, setup.seq_len, m.layers, m.hidden, m.vocab
    groups = (m.kv_heads or m.heads) / m.heads
    ffn = (m.ffn_hidden or 4 * h) / h * (1.5 if m.gated_mlp else 1.0) * m.top_k
    attention = 1.0 + groups + s / h
    return 12.0 * b * s * n_l * h**2 * (attention + ffn + v / (2.0 * n_l * h))


def tflops_per_gpu(
    setup: TrainingSetup, step_time_s: float, metric: Metric = Metric.TFLOPS_PER_GPU
) -> float:
    """Per-GPU teraFLOP/s for an iteration of ``step_time_s`` with the source's FLOP count
    (``metric``: the paper's equation (3), or Megatron-Core's)."""
    n_gpus = setup.parallelism.gpus
    mcore = metric is Metric.TFLOPS_PER_GPU_MCORE
    flops = mcore_iteration_flops(setup) if mcore else megatron_iteration_flops(setup)
    return flops / (step_time_s * n_gpus) / TFLOPS


def tokens_per_s_per_gpu(setup: TrainingSetup, step_time_s: float) -> float:
    """Training tokens per second per GPU for an iteration of ``step_time_s`` seconds:
    ``global_batch * seq_len / (step_time_s * n_gpus)``."""
    return setup.global_batch * setup.seq_len / (step_time_s * setup.parallelism.gpus)


# ---- predictions --------------------------------------------------------------------------


def nccl_topology(setup: NcclSetup) -> Any:
    """The topology a nccl-tests row runs on: shipped by name, or built from ``build``."""
    if setup.topology is not None and setup.build is None:
        return _shipped_topology(setup.topology)
    if setup.build is not None and setup.topology is None:
        return _built_topology(yaml.safe_dump(setup.build, sort_keys=True))
    raise InputError("give exactly one of topology and build", field="setup")


@cache
def _shipped_topology(name: str) -> Any:

    return load_topology(name)


@cache
def _built_topology(build_yaml: str) -> Any:
    """A topology from builder parameters (cached by their canonical YAML text)."""

    build = yaml.safe_load(build_yaml)
    return topology_from_dict({"build": build}, file="published.yaml", default_name="published")


def _backend_without_nvls() -> BackendProfile:
    """The nccl profile with NVLS (and so NVLSTree) off, as ``NCCL_NVLS_ENABLE=0`` runs."""
    profile = load_backend("nccl")
    return replace(profile, nvls=None, name=f"{profile.name} (nvls off)")


def predict_nccl(ref: NcclReference, *, fidelity: str = "flow") -> float:
    """Predicted nccl-tests busbw of ``ref`` in GB/s."""

    setup = ref.setup
    topo = nccl_topology(setup)
    if setup.ranks > topo.num_ranks:
        raise InputError(
            f"{setup.ranks} ranks but topology has {topo.num_ranks}", field=f"{ref.reference}.setup"
        )
    result = simulate_collective(
        topo,
        setup.op.value,
        parse_size(setup.size),
        ranks=list(range(setup.ranks)),
        algo=setup.algo,
        backend="nccl" if setup.nvls else _backend_without_nvls(),
        fidelity=fidelity,
    )
    return float(result.busbw_Bps) / GBPS


def predict_training(
    ref: TrainingReference, cluster: dict[str, Any], *, fidelity: str = "flow"
) -> float:
    """Predicted figure of ``ref`` in its ``metric``: per-GPU teraFLOP/s (our step time, the
    paper's FLOP count), the iteration time in seconds, or tokens per second per GPU."""
    if ref.metric is Metric.TFLOPS_PER_GPU and not ref.setup.model.gpt_shaped:
        raise InputError(
            "metric tflops_per_gpu is Narayanan et al.'s count for GPT-3's shape; this model "
            "is not (GQA, MLP width, gating, untied head or experts): use tflops_per_gpu_mcore "
            "or iteration_time_s",
            field=f"{ref.reference}.metric",
        )
    step_s = predicted_step_time_s(ref, cluster, fidelity=fidelity)
    if ref.metric is Metric.ITERATION_TIME_S:
        return step_s
    if ref.metric is Metric.TOKENS_PER_S_PER_GPU:
        return tokens_per_s_per_gpu(ref.setup, step_s)
    return tflops_per_gpu(ref.setup, step_s, ref.metric)


def training_scenario(ref: TrainingReference) -> dict[str, Any]:
    """The scenario (as a dict for :func:`simulator.config.scenario_from_dict`) of a row.

    Everything comes from the paper's setup; nothing here is tuned. The GPU's efficiency is
    the catalogue's (``simulator/workload/costmodel.py``), the backend profile is ``nccl``.
    """
    st, m, p = ref.setup, ref.setup.model, ref.setup.parallelism
    return {
        "name": f"published/{ref.reference}",
        "description": f"{ref.source}: {ref.quote}",
        "topology": f"published:{st.cluster}-{ref.system.nodes}node",
        "backend": "nccl",
        "model": {
            "name": ref.reference,
            "layers": m.layers,
            "hidden": m.hidden,
            "heads": m.heads,
            "vocab": m.vocab,
            **_model_extras(m),
        },
        "strategy": {
            "tp": p.tp,
            "pp": p.pp,
            "dp": p.dp,
            **({"cp": p.cp} if p.cp > 1 else {}),
            **({"ep": p.ep} if p.ep > 1 else {}),
            "sequence_parallel": st.sequence_parallel,
            "pipeline": {"schedule": st.schedule, "virtual_stages": st.virtual_stages},
            **({"data_parallel": st.data_parallel} if st.data_parallel is not None else {}),
        },
        "training": {
            "global_batch": st.global_batch,
            "micro_batch": st.micro_batch,
            "seq_len": st.seq_len,
            # "mixed precision" (paper §5; fp16 in Megatron-LM 2021). Same bytes and the same
            # 312 TFLOP/s A100 peak as bf16 (A100 datasheet), so the choice moves nothing.
            # FP8 rows name fp8 (Transformer Engine's recipe).
            "dtype": st.dtype.value,
            "recompute": st.recompute,
            **({"grad_dtype": st.grad_dtype} if st.grad_dtype is not None else {}),
        },
        "hardware": {"software": st.software.value} if st.software is not None else {},
    }


def _model_extras(m: ModelSetup) -> dict[str, Any]:
    """The row's non-GPT model keys, only where they differ from the scenario defaults."""
    extras: dict[str, Any] = {}
    for key in ("kv_heads", "ffn_hidden"):
        if getattr(m, key) is not None:
            extras[key] = getattr(m, key)
    for key, default in (
        ("experts", 1),
        ("top_k", 1),
        ("gated_mlp", False),
        ("tie_embeddings", True),
        ("flash_attention", False),
    ):
        if getattr(m, key) != default:
            extras[key] = getattr(m, key)
    return extras


def predicted_step_time_s(
    ref: TrainingReference, cluster: dict[str, Any], *, fidelity: str = "flow"
) -> float:
    """Our predicted iteration time for the paper's setup
    (:func:`simulator.studies.scenario.simulate_scenario` on the built cluster)."""

    sc = scenario_from_dict(training_scenario(ref), file=f"published.yaml:{ref.reference}")
    build = {**cluster, "nodes": ref.system.nodes}
    topo = _built_topology(yaml.safe_dump(build, sort_keys=True))
    sim = simulate_scenario(sc, topology=topo, fidelity=fidelity)
    return float(sim.result.step_time_s)


# ---- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedRow:
    """One published figure against our prediction.

    ``expected`` and ``predicted`` are in ``unit`` (GB/s busbw or teraFLOP/s per GPU);
    ``error_pct = 100 * (predicted - expected) / expected`` (signed); ``held_out`` is False
    when the same figure set a model constant (``calibrates`` in the reference file).
    """

    reference: str
    kind: str
    source: str
    url: str
    expected: float
    predicted: float
    unit: str
    error_pct: float
    tolerance_pct: float
    within_tolerance: bool
    held_out: bool
    fidelity: str

    def to_json(self) -> dict[str, Any]:
        """The row, keys in declaration order."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PublishedValidation:
    """Every published row asked for, in file order (``commsim validate --published``);
    ``plot`` the PNG ``--plot`` drew (None: none)."""

    rows: tuple[PublishedRow, ...]
    plot: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"rows": [...]}``, and ``"plot"`` when one was drawn."""
        d: dict[str, Any] = {"rows": [r.to_json() for r in self.rows]}
        if self.plot is not None:
            d["plot"] = self.plot
        return d


def _row(
    kind: Kind, ref: NcclReference | TrainingReference, predicted: float, fidelity: str
) -> PublishedRow:
    err = 100.0 * (predicted - ref.expected) / ref.expected
    return PublishedRow(
        reference=ref.reference,
        kind=kind.value,
        source=ref.source,
        url=ref.url,
        expected=ref.expected,
        predicted=predicted,
        unit=ref.unit,
        error_pct=err,
        tolerance_pct=TOLERANCE_PCT[kind],
        within_tolerance=abs(err) <= TOLERANCE_PCT[kind],
        held_out=not ref.calibrates,
        fidelity=fidelity,
    )


def validate_published(
    references: Sequence[str] | None = None,
    *,
    kinds: Sequence[Kind | Literal["nccl_tests", "training"]] | None = None,
    path: str | Path | None = None,
    fidelity: str | None = None,
) -> PublishedValidation:
    """Predict every published reference and compare.

    Args:
        references: names of rows to run (default: all).
        kinds: restrict to ``nccl_tests`` and/or ``training`` rows (default: both).
        path: another reference file (default: the shipped one).
        fidelity: collective fidelity for every row (default: :data:`DEFAULT_FIDELITY` per
            kind).

    Returns:
        One :class:`PublishedRow` per row, in file order.

    Raises:
        InputError: unknown reference name, or a bad reference file.
    """
    refs = load_references(path)
    wanted_kinds = {Kind(k) for k in kinds} if kinds is not None else set(Kind)
    known = {r.reference for r in [*refs.nccl_tests, *refs.training]}
    if references is not None:
        unknown = sorted(set(references) - known)
        if unknown:
            raise InputError(
                f"unknown reference(s) {', '.join(unknown)}{hint(unknown[0], known)} "
                f"(known: {', '.join(sorted(known))})",
                field="references",
            )
    chosen = set(references) if references is not None else known

    rows: list[PublishedRow] = []
    nccl = [n for n in refs.nccl_tests if n.reference in chosen and Kind.NCCL_TESTS in wanted_kinds]
    training = [t for t in refs.training if t.reference in chosen and Kind.TRAINING in wanted_kinds]
    progress.set_total(len(nccl) + len(training), "published references")
    if Kind.NCCL_TESTS in wanted_kinds:
        for n in refs.nccl_tests:
            if n.reference in chosen:
                fid = fidelity or DEFAULT_FIDELITY[Kind.NCCL_TESTS]
                rows.append(_row(Kind.NCCL_TESTS, n, predict_nccl(n, fidelity=fid), fid))
                progress.advance(description=n.reference)
    if Kind.TRAINING in wanted_kinds:
        for t in refs.training:
            if t.reference in chosen:
                cluster = refs.clusters[t.setup.cluster]
                fid = fidelity or DEFAULT_FIDELITY[Kind.TRAINING]
                pred = predict_training(t, cluster, fidelity=fid)
                rows.append(_row(Kind.TRAINING, t, pred, fid))
                progress.advance(description=t.reference)
    return PublishedValidation(tuple(rows))


def reference_names(kind: Kind | None = None, path: str | Path | None = None) -> list[str]:
    """Names of the reference rows (of one ``kind``), in file order."""
    refs = load_references(path)
    rows: list[_Reference] = []
    if kind in (None, Kind.NCCL_TESTS):
        rows += refs.nccl_tests
    if kind in (None, Kind.TRAINING):
        rows += refs.training
    return [r.reference for r in rows]


# ---- report -------------------------------------------------------------------------------


def to_markdown(rows: Sequence[PublishedRow]) -> str:
    """The rows as a Markdown table (expected, predicted, signed error, pass/miss, source)."""
    lines = [
        "| reference | expected | predicted | unit | error | band | status | role | fidelity "
        "| source |",
        "|---|---:|---:|---|---:|---:|---|---|---|---|",
    ]
    for r in rows:
        status = "ok" if r.within_tolerance else "**MISS**"
        lines.append(
            f"| {r.reference} | {r.expected:g} | {r.predicted:.1f} | {r.unit} "
            f"| {r.error_pct:+.1f}% | ±{r.tolerance_pct:.0f}% | {status} "
            f"| {'held-out' if r.held_out else 'calibration'} | {r.fidelity} "
            f"| [{r.source}]({r.url}) |"
        )
    return "\n".join(lines) + "\n"


def _markers(kind: Kind) -> tuple[str, str]:
    """Markers around the generated table of ``kind`` in ``docs/published-fidelity.md``."""
    return (f"<!-- BEGIN GENERATED {kind.value} -->", f"<!-- END GENERATED {kind.value} -->")


def band_summary(rows: Sequence[PublishedRow]) -> str:
    """``"19 of 22 rows inside their band; held-out rows: 14 of 17."`` (the generated doc's and
    ``commsim validate --published``'s last line)."""
    held = [r for r in rows if r.held_out]
    return (
        f"{sum(r.within_tolerance for r in rows)} of {len(rows)} rows inside their band; "
        f"held-out rows: {sum(r.within_tolerance for r in held)} of {len(held)}."
    )


def write_doc(path: str | Path, rows: Sequence[PublishedRow], *, command: str) -> None:
    """Regenerate, in ``path``, the table of every kind present in ``rows``.

    The table of a kind sits between its :func:`_markers`; kinds absent from ``rows`` are left
    as they are, so the slow training rows and the fast nccl-tests rows can be refreshed apart.

    Raises:
        InputError: the file lacks a kind's markers (the prose around them is written by hand).
    """
    p = Path(path)
    text = p.read_text()
    for kind in Kind:
        these = [r for r in rows if r.kind == kind.value]
        if not these:
            continue
        begin, end = _markers(kind)
        if begin not in text or end not in text:
            raise InputError(f"missing the markers {begin} ... {end}", file=str(p))
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        summary = band_summary(these) + "\n"
        body = f"\nGenerated by `{command}`.\n\n{to_markdown(these)}\n{summary}"
        text = head + begin + body + end + tail
    p.write_text(text)
