"""What to record: the strategy choices and the run config shared by launcher and worker.

No torch here: the launcher (and the CLI) build a :class:`RecordConfig`, write it as JSON,
and every rank's worker process reads it back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from simulator.core.errors import InputError
from simulator.traces.models import GPTConfig

#: Pipeline micro-batches per recorded step unless told otherwise (``--microbatches``).
MICROBATCHES: Final[int] = 4


class RecordStrategy(StrEnum):
    """Parallel strategies the recorder can run with real torch.distributed."""

    DDP = "ddp"
    DDP_FP16 = "ddp-fp16"
    DDP_POWERSGD = "ddp-powersgd"
    FSDP = "fsdp"
    PP_GPIPE = "pp-gpipe"
    PP_1F1B = "pp-1f1b"
    TP = "tp"
    PS_SYNC = "ps-sync"
    PS_ASYNC = "ps-async"


class CommBackend(StrEnum):
    """torch.distributed backends the recorder supports."""

    GLOO = "gloo"
    NCCL = "nccl"


@dataclass(frozen=True, slots=True)
class RecordConfig:
    """One recording run.

    Attributes:
        world: number of ranks (processes).
        strategy: the parallel strategy.
        steps: measured training steps (profiled); ``warmup_steps`` run before, not measured.
        out_dir: where every rank writes its files.
        model: ``"gpt-tiny"`` or ``"module:factory"``.
        backend: torch.distributed backend.
        gpt: shape of the tiny GPT and of the batch (also the data shape for user models).
        bucket_cap_mb: DDP bucket size in MiB (torch's unit for ``bucket_cap_mb``).
        microbatches: pipeline micro-batches per step.
        powersgd_rank: PowerSGD matrix approximation rank.
        lr: SGD learning rate.
        execution_trace: also record torch's execution trace (ExecutionTraceObserver).
        device: ``"cpu"`` (layers compute on the host) or ``"accel"`` (layer compute is timed
            work on an emulated accelerator, :mod:`simulator.traces.accel`).
        device_times: accel mode's per-token device times, measured alone by the launcher
            (:func:`simulator.traces.accel.measure_device_times`); None until then.
    """

    world: int
    strategy: RecordStrategy
    steps: int
    out_dir: str
    model: str = "gpt-tiny"
    backend: CommBackend = CommBackend.GLOO
    gpt: GPTConfig = field(default_factory=GPTConfig)
    warmup_steps: int = 2
    bucket_cap_mb: float = 0.5
    microbatches: int = MICROBATCHES
    powersgd_rank: int = 1
    lr: float = 1e-3
    execution_trace: bool = True
    device: str = "cpu"
    device_times: dict[str, Any] | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` on values the recorder cannot run."""
        if self.world < 1:
            raise InputError("must be >= 1", field="--world")
        if self.steps < 1:
            raise InputError("must be >= 1", field="--steps")
        from simulator.traces.recipe_limits import check_recording_size

        check_recording_size(self.world, self.gpt, self.steps, self.warmup_steps)
        if self.strategy in (RecordStrategy.PS_SYNC, RecordStrategy.PS_ASYNC) and self.world < 2:
            raise InputError("a parameter server needs --world >= 2", field="--world")
        if self.strategy in (RecordStrategy.PP_GPIPE, RecordStrategy.PP_1F1B):
            if self.gpt.n_layer < self.world:
                raise InputError(
                    f"a pipeline needs at least one layer per rank: {self.gpt.n_layer} layers "
                    f"for {self.world} ranks (raise --layers or lower --world)",
                    field="--layers",
                )
            if self.gpt.batch % self.microbatches:
                raise InputError("batch must be a multiple of microbatches", field="microbatches")
            if self.strategy is RecordStrategy.PP_1F1B and self.microbatches < self.world:
                # torch.distributed.pipelining.Schedule1F1B refuses fewer (schedules.py, torch
                # 2.13): each stage must have a micro-batch in flight before the first backward
                raise InputError(
                    f"1F1B needs at least one micro-batch per stage ({self.world}), "
                    f"got {self.microbatches}",
                    field="--microbatches",
                )
        if self.device not in ("cpu", "accel"):
            raise InputError(f"expected cpu or accel, got {self.device!r}", field="--device")
        if self.device == "accel" and self.backend is not CommBackend.GLOO:
            raise InputError("accel mode emulates a device for gloo runs only", field="--device")
        if self.strategy is RecordStrategy.TP and self.gpt.n_head % self.world:
            raise InputError(f"tp needs n_head ({self.gpt.n_head}) % world == 0", field="--world")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (enums as their values)."""
        d = asdict(self)
        d["strategy"] = self.strategy.value
        d["backend"] = self.backend.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecordConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["strategy"] = RecordStrategy(d["strategy"])
        d["backend"] = CommBackend(d["backend"])
        d["gpt"] = GPTConfig(**d["gpt"])
        return cls(**d)

    def write(self, path: Path) -> None:
        """Write the config as JSON to ``path``."""
        path.write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def read(cls, path: Path) -> RecordConfig:
        """Read a config written by :meth:`write` (``record --finalize`` reads what a cluster's
        shared folder holds): every field checked, :class:`InputError` naming ``path`` and the
        field (until 2026-12-06 ``"world": "x"`` or ``"strategy": "x"`` was a traceback and
        ``"world": 10**30`` a hang)."""
        from simulator.traces.jsonfile import read_json_file

        d = read_json_file(path, "record config")
        if not isinstance(d, dict):
            raise InputError("expected a JSON object", file=str(path))
        _check_config_fields(d, str(path))
        try:
            cfg = cls.from_dict(d)
        except KeyError as exc:  # a field without a default
            raise InputError("missing", file=str(path), field=str(exc.args[0])) from None
        except (TypeError, ValueError) as exc:  # an unknown key, a strategy or backend name
            raise InputError(f"not a record config: {exc}", file=str(path)) from None
        return cfg


#: record_config.json field -> the JSON types it may hold (``bool`` is not an ``int`` here).
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "world": (int,),
    "steps": (int,),
    "warmup_steps": (int,),
    "microbatches": (int,),
    "powersgd_rank": (int,),
    "out_dir": (str,),
    "model": (str,),
    "device": (str,),
    "strategy": (str,),
    "backend": (str,),
    "bucket_cap_mb": (int, float),
    "lr": (int, float),
    "execution_trace": (bool,),
    "gpt": (dict,),
}


def _check_config_fields(d: dict[str, Any], file: str) -> None:
    """Types and finiteness of a record config's fields, and the tiny GPT's counts (>= 1)."""
    import math

    for key, kinds in _CONFIG_TYPES.items():
        if key not in d:
            continue
        v = d[key]
        wrong = not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds)
        if not wrong and isinstance(v, float) and not math.isfinite(v):
            wrong = True
        if wrong:
            names = " or ".join(k.__name__ for k in kinds)
            raise InputError(f"expected {names}, got {v!r:.60}", file=file, field=key)
    from simulator.core.suggest import hint
    from simulator.limits import MAX_RANKS

    for key, enum in (("strategy", RecordStrategy), ("backend", CommBackend)):
        known = [m.value for m in enum]
        if key in d and d[key] not in known:
            raise InputError(
                f"unknown value {d[key]!r} (choose from {', '.join(known)}){hint(d[key], known)}",
                file=file,
                field=key,
            )

    for key, low, high in (("world", 1, MAX_RANKS), ("steps", 1, None), ("warmup_steps", 0, None),
                           ("microbatches", 1, None), ("powersgd_rank", 1, None)):  # fmt: skip
        v = d.get(key, low)
        if v < low or (high is not None and v > high):
            shown = f"between {low} and {high:,}" if high is not None else f">= {low}"
            raise InputError(f"expected an integer {shown}, got {v}", file=file, field=key)
    for key, v in (d.get("gpt") or {}).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(
                f"expected an integer >= 1, got {v!r:.60}", file=file, field=f"gpt.{key}"
            )
