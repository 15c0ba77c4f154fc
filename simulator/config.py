"""Scenarios: what to simulate, as validated pydantic models loaded from YAML.

``load_scenario(name_or_path, overrides)`` reads a scenario file (a path, or the name of a
shipped ``scenarios/NAME.yaml``), applies ``--set key=value`` overrides (values parsed as YAML
scalars, keys dotted: ``strategy.dp=32``) and validates it. Every mistake is an
:class:`~simulator.core.errors.InputError` naming the file and the field, e.g.
``scenarios/x.yaml: strategy.tp: expected a positive integer``. Unknown keys are rejected.

A scenario may list ``compare:`` variants (each a name and a set of overrides); the CLI runs
:meth:`Scenario.variants` one after the other (see docs/interfaces.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    field_validator,
)

from simulator.core.errors import InputError, clipped
from simulator.core.schema import Efficiency, Name, PosFloat, PosInt, SchemaModel
from simulator.core.schema_messages import validate_input
from simulator.core.suggest import hint
from simulator.core.vocab import DType, Recompute
from simulator.faults.schema import FaultsConfig
from simulator.resources import resolve
from simulator.safeyaml import MAX_DEPTH, load_yaml_file, load_yaml_text
from simulator.topology.model import LinkKind
from simulator.workload.modelspec import ModelShape, ModelSpec
from simulator.workload.software import Software
from simulator.workload.strategies.options import (
    PipelineSchedule,
    PSPlacement,
    StrategyConfig,
    StrategyKind,
)


class TrainingConfig(SchemaModel):
    """Batch, sequence, precision and recomputation."""

    global_batch: PosInt
    micro_batch: PosInt = 1
    seq_len: PosInt = 2048
    dtype: DType = DType.BF16
    grad_dtype: DType | None = None  # gradients on the wire; default: dtype (bf16 for fp8)
    recompute: Recompute = Recompute.NONE


class Balance(StrEnum):
    """How work is shared across unequal GPUs (:mod:`simulator.workload.mixed`)."""

    NONE = "none"  # every replica runs the same share; the slowest sets the pace
    DP = "dp"  # data-parallel replicas share micro-batches by speed (slowest finishes first)


class NodeGpus(SchemaModel):
    """Hosts (topology host names or shell patterns, e.g. ``node[4-7]``) that carry ``gpu``."""

    hosts: list[Name] = Field(min_length=1)
    gpu: Name


class HardwareConfig(SchemaModel):
    """GPU and efficiency overrides. ``mfu`` needs ``mfu_source``.

    ``node_gpus`` makes the cluster mixed: the listed hosts carry another GPU model (hosts not
    listed keep ``gpu``); ``balance`` is the what-if that shares work by speed.
    """

    gpu: Name | None = None  # default: the topology's gpu
    node_gpus: list[NodeGpus] = Field(default_factory=list)
    balance: Balance = Balance.NONE
    mfu: Efficiency | None = None
    mfu_source: str | None = None
    memory_efficiency: Efficiency | None = None
    software: Software | None = None  # kernel generation (workload/software.py); None: newest


class NetworkConfig(SchemaModel):
    """What-if edits of the topology's links, per link kind (see :mod:`simulator.topology.whatif`).

    ``bandwidth_scale: {infiniband: 2}`` doubles every InfiniBand link's bandwidth;
    ``latency_scale`` multiplies latency the same way. Factors are dimensionless, > 0.
    """

    bandwidth_scale: dict[str, PosFloat] = Field(default_factory=dict)
    latency_scale: dict[str, PosFloat] = Field(default_factory=dict)

    @field_validator("bandwidth_scale", "latency_scale")
    @classmethod
    def _known_kinds(cls, v: dict[str, float]) -> dict[str, float]:
        known = {k.value for k in LinkKind}
        for kind in v:
            if kind not in known:
                raise ValueError(
                    f"unknown link kind {kind!r}{hint(kind, sorted(known))} "
                    f"(one of {', '.join(sorted(known))})"
                )
        return v


#: Longest published step time a scenario may compare with, seconds: one day. A step that long
#: is no training step; ``step_time_s: 1e308`` reported an error of -100 % without a word.
MAX_REFERENCE_STEP_S = 86_400.0


class ReferenceConfig(SchemaModel):
    """A published step time to compare with."""

    step_time_s: Annotated[float, Field(gt=0, le=MAX_REFERENCE_STEP_S, strict=True)]
    source: str


class Variant(SchemaModel):
    """One entry of ``compare:``: a name and overrides applied to the base scenario."""

    name: Name
    set: dict[str, Any] = Field(default_factory=dict)


class Scenario(SchemaModel):
    """A what-if scenario: model x strategy x topology."""

    name: Name
    description: str = ""
    topology: str
    backend: str = "nccl"
    fidelity: str = "flow"
    model: ModelShape
    strategy: StrategyConfig = StrategyConfig()
    training: TrainingConfig
    hardware: HardwareConfig = HardwareConfig()
    network: NetworkConfig = NetworkConfig()
    reference: ReferenceConfig | None = None
    faults: FaultsConfig = FaultsConfig()  # see simulator.faults.schema
    compare: list[Variant] = Field(default_factory=list)
    source_file: str | None = Field(default=None, exclude=True)

    @field_validator("fidelity")
    @classmethod
    def _known_fidelity(cls, v: str) -> str:
        allowed = ("analytical", "flow", "chunk")
        if v not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {v!r}{hint(v, allowed)}")
        return v

    def model_spec(self) -> ModelSpec:
        """The :class:`ModelSpec` (sequence length from ``training``)."""
        return ModelSpec.of(self.model, self.training.seq_len)

    @property
    def grad_dtype(self) -> DType:
        """Gradient dtype on the wire: ``training.grad_dtype``, else the training dtype; BF16
        for ``fp8``, whose recipes reduce gradients in BF16 (NeMo ``grad_sync_dtype: bf16``,
        NVIDIA/dgxc-benchmarking gpt3_175b_hydra.yaml): only GEMM operands are FP8."""
        if self.training.grad_dtype is not None:
            return self.training.grad_dtype
        return DType.BF16 if self.training.dtype is DType.FP8 else self.training.dtype

    def variants(self) -> list[Scenario]:
        """The scenarios to run: ``[self]`` without ``compare:``, else one per variant.

        Each variant is this scenario with the variant's overrides applied, ``compare``
        cleared and ``name`` set to ``"<name>/<variant>"``.
        """
        if not self.compare:
            return [self]
        from simulator.limits import MAX_VARIANTS, check_limit

        check_limit(
            len(self.compare), MAX_VARIANTS, "variants", field="compare", file=self.source_file,
            verb="lists", hint="run a grid with commsim sweep",
        )  # fmt: skip
        base = self.model_copy(update={"compare": []})
        return [
            base.with_settings({**v.set, "name": f"{self.name}/{v.name}"}, f"compare.{v.name}")
            for v in self.compare
        ]

    def with_settings(self, settings: Mapping[str, Any], where: str) -> Scenario:
        """This scenario with ``settings`` (dotted keys, e.g. ``hardware.gpu``) applied and
        validated again; ``where`` names them in an error."""
        raw = self.model_dump(mode="json", exclude={"source_file"})
        for key, value in settings.items():
            _set_dotted(raw, key, value, self.source_file, where)
        return _validate(raw, self.source_file)


def _deep_copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deep_copy(v) for v in d]
    return d


def _set_dotted(raw: dict[str, Any], key: str, value: Any, file: str | None, where: str) -> None:
    parts = key.split(".")
    if not all(parts):
        raise InputError(f"bad key {key!r} (expected a.b.c)", file=file, field=where)
    node = raw
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise InputError(f"{p} is not a section", file=file, field=key)
        node = nxt
    node[parts[-1]] = value


def parse_overrides(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """``["strategy.dp=32", "model.layers=48"]`` -> ``[("strategy.dp", 32), ...]``.

    Values are parsed as YAML scalars (``32`` int, ``true`` bool, ``1f1b`` string).
    """
    out: list[tuple[str, Any]] = []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected KEY=VALUE, got {item!r}", field="--set")
        if key.count(".") >= MAX_DEPTH:  # 5,000 dots: a RecursionError in validation
            raise InputError(
                f"a key of {key.count('.') + 1:,} parts; at most {MAX_DEPTH} (the YAML limit)",
                field="--set",
            )

        try:
            value = load_yaml_text(text, "--set") if text.strip() else ""
        except InputError as exc:
            raise InputError(
                f"cannot parse value {clipped(repr(text), 60)}: {exc.message}",
                field=f"--set {key.strip()}",
            ) from None
        key = key.strip()
        for k, v in out:  # the last one won: `--set tp=1 --set tp=2` dropped the 1 unsaid
            if k == key:
                raise InputError(
                    f"{key} given twice ({clipped(repr(v), 30)}, then "
                    f"{clipped(repr(value), 30)}); give it once",
                    field="--set",
                )
        out.append((key, value))
    return out


def _validate(raw: Any, file: str | None) -> Scenario:
    if not isinstance(raw, dict):
        raise InputError("expected a mapping of scenario fields", file=file)
    sc = validate_input(Scenario, raw, file=file)
    sc = sc.model_copy(update={"source_file": file})
    _check(sc, file)
    return sc


def _check(sc: Scenario, file: str | None) -> None:
    """Cross-field checks pydantic cannot express per field."""
    st, tr, m = sc.strategy, sc.training, sc.model
    if m.hidden % m.heads:
        raise InputError("hidden must be divisible by heads", file=file, field="model.hidden")
    if m.kv_heads and m.heads % m.kv_heads:
        raise InputError("heads must be divisible by kv_heads", file=file, field="model.kv_heads")
    # Megatron-Core's TransformerConfig refuses both (num_attention_heads and num_query_groups
    # "must be a multiple of tensor_model_parallel_size"): tensor parallelism splits whole heads
    # and whole key/value groups over its ranks.
    if m.heads % st.tp:
        raise InputError(
            f"tp={st.tp} does not split model.heads={m.heads} into whole heads per rank",
            file=file,
            field="strategy.tp",
        )
    if m.kv_heads and m.kv_heads % st.tp:
        raise InputError(
            f"tp={st.tp} does not split model.kv_heads={m.kv_heads} into whole key/value "
            "groups per rank",
            file=file,
            field="strategy.tp",
        )
    if m.top_k > m.experts:
        raise InputError("top_k must not exceed experts", file=file, field="model.top_k")
    if st.pipeline.virtual_stages > 1 and st.pipeline.schedule is not PipelineSchedule.INTERLEAVED:
        raise InputError(
            "virtual_stages > 1 needs schedule: interleaved",
            file=file,
            field="strategy.pipeline.virtual_stages",
        )
    if m.layers % (st.pp * st.pipeline.virtual_stages):
        raise InputError(
            f"{m.layers} layers do not split into pp x virtual_stages = "
            f"{st.pp * st.pipeline.virtual_stages} equal chunks",
            file=file,
            field="strategy.pp",
        )
    if st.ep > 1 and m.experts % st.ep:
        raise InputError("experts must be divisible by ep", file=file, field="strategy.ep")
    if tr.seq_len % st.cp:  # checked at load, so that plan and sweep refuse it once
        raise InputError(
            f"seq_len {tr.seq_len} does not split into cp={st.cp} shards",
            file=file,
            field="strategy.cp",
        )
    if st.dp is not None:
        workers = st.dp
        ps = st.parameter_server
        if st.kind is StrategyKind.PARAMETER_SERVER and ps.placement is PSPlacement.DEDICATED:
            workers = st.dp - ps.servers
        if workers < 1 or tr.global_batch % (workers * tr.micro_batch):
            raise InputError(
                f"global_batch {tr.global_batch} is not a multiple of data-parallel workers "
                f"x micro_batch = {workers} x {tr.micro_batch}",
                file=file,
                field="training.global_batch",
            )
    if sc.hardware.mfu is not None and not sc.hardware.mfu_source:
        raise InputError(
            "an mfu override needs mfu_source (where the figure comes from)",
            file=file,
            field="hardware.mfu_source",
        )
    names = [v.name for v in sc.compare]
    if len(set(names)) != len(names):
        raise InputError("variant names must be unique", file=file, field="compare")


def load_scenario(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Load, override and validate a scenario.

    Args:
        name_or_path: a YAML file, or the name of a shipped scenario.
        overrides: ``KEY=VALUE`` strings, dotted keys, YAML-scalar values.

    Raises:
        InputError: unknown file/name, YAML syntax, unknown or invalid field (file + field named).
    """

    return _validate(*_overridden(name_or_path, overrides))


def field_error(name_or_path: str | Path, overrides: Sequence[str]) -> InputError | None:
    """The first problem of a field on its own (a type, an enum, a bound) in the scenario with
    ``overrides``, before the checks across fields (``_check``: degrees that divide, a virtual
    stage count that needs interleaving); ``None`` when every field validates alone. A sweep
    refuses a varied value so at once: it fails in every point, whatever the other keys."""
    raw, file = _overridden(name_or_path, overrides)
    try:
        validate_input(Scenario, raw, file=file)
    except InputError as err:
        return err
    return None


def _overridden(name_or_path: str | Path, overrides: Sequence[str]) -> tuple[dict[str, Any], str]:
    """The scenario file's mapping with ``overrides`` applied, and the file name to report."""
    path = resolve("scenarios", name_or_path, what="scenario")
    file = str(name_or_path) if Path(name_or_path).is_file() else str(path)
    raw = load_yaml_file(path, file)
    if not isinstance(raw, dict):
        raise InputError("expected a mapping of scenario fields", file=file)
    _anchor_file_refs(raw, path.parent)
    for key, value in parse_overrides(overrides):
        _set_dotted(raw, key, value, file, key)
    return raw, file


#: Scenario fields that may name a file (a topology or backend YAML) instead of a shipped name.
_FILE_REFS = ("topology", "backend")


def _anchored(value: Any, folder: Path) -> Any:
    """``value`` as a path beside the scenario file when it is a relative path (has a ``/`` or
    ends in ``.yaml``/``.yml``) to a file there; else ``value`` unchanged (cwd or shipped)."""
    if not isinstance(value, str) or Path(value).is_absolute():
        return value
    if "/" not in value and not value.endswith((".yaml", ".yml")):
        return value  # a shipped name
    beside = folder / value
    return str(beside) if beside.is_file() else value


def _anchor_file_refs(raw: dict[str, Any], folder: Path) -> None:
    """Resolve a scenario file's relative ``topology:`` / ``backend:`` paths (also in its
    ``compare:`` variants) against the file's own folder, as compose files and most build
    tools do, so the scenario runs from any working directory (until 2026-12-06 they were read
    against the cwd: ``topology: mytopo.yaml`` beside the scenario failed from elsewhere).
    ``--set`` values come from the command line and stay relative to the cwd."""
    for key in _FILE_REFS:
        if key in raw:
            raw[key] = _anchored(raw[key], folder)
    variants = raw.get("compare")
    # not a list: left as it is, for the validator's one line ("compare: expected a list")
    for variant in variants if isinstance(variants, list) else ():
        settings = variant.get("set") if isinstance(variant, dict) else None
        if isinstance(settings, dict):
            for key in _FILE_REFS:
                if key in settings:
                    settings[key] = _anchored(settings[key], folder)


def scenario_from_dict(raw: dict[str, Any], *, file: str = "<dict>") -> Scenario:
    """Validate a scenario given as a dict (tests, notebooks, sweeps)."""
    return _validate(_deep_copy(raw), file)
