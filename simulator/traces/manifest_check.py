"""Types of the ``manifest.json`` fields the importers and re-sharding read.

A manifest is written by ``commsim record``, but users copy, edit and hand-write them (a Chakra
or Kineto folder from elsewhere with a manifest beside it). Until 2026-12-06 its fields were
used unchecked: ``"steps": -1`` or ``"model_config": "x"`` passed, ``"strategy": Infinity``
broke ``--json`` with a traceback, ``"step_times_s": [[-1]]`` predicted against a negative
measurement, ``"step_times_s": 5`` was "malformed trace: TypeError: 'int' object is not
iterable" naming neither the file nor the field. Fields a manifest does not have, or has as
``null``, stay "not given" (the importers fall back to the traces); fields not listed here are
left alone (a manifest may carry more).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from simulator.core.errors import InputError, clipped

#: GPTConfig fields a ``model_config`` may hold (counts, each >= 1).
_MODEL_KEYS: Final[frozenset[str]] = frozenset(
    {"vocab", "d_model", "n_head", "n_layer", "seq_len", "batch"}
)


def _name(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


def _count(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    return None if ok else "an integer >= 1"


def _count0(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
    return None if ok else "an integer >= 0"


def is_seconds(v: object) -> bool:
    """A time in seconds a step can take: a finite number > 0 (not ``true``)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _seconds(v: Any) -> str | None:
    return None if is_seconds(v) else "a finite number of seconds > 0"


def _names(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
    return None if ok else "a list of host names (strings)"


def _mapping(v: Any) -> str | None:
    return None if isinstance(v, dict) else "a JSON object"


#: field -> its check (None when the value is right, else what was expected)
_CHECKS: Final[dict[str, Callable[[Any], str | None]]] = {
    "format": _name,
    "backend": _name,
    "strategy": _name,
    "model": _name,
    "topology": _name,
    "world": _count,
    "steps": _count,
    "warmup_steps": _count0,
    "hostnames": _names,
    "measured_step_s": _seconds,
    "config": _mapping,
    "files": _mapping,
    "model_config": _mapping,
}


def check_manifest(data: Mapping[str, Any], file: str) -> None:
    """Refuse a manifest field of the wrong type or range, naming ``file`` and the field.

    Raises:
        InputError: the first field that is wrong.
    """
    for key, check in _CHECKS.items():
        value = data.get(key)
        expected = None if value is None else check(value)
        if expected is not None:
            raise InputError(f"expected {expected}, got {_shown(value)}", file=file, field=key)
    _check_step_times(data.get("step_times_s"), file)
    _check_model_config(data.get("model_config"), file)


def _check_step_times(value: Any, file: str) -> None:
    """``step_times_s``: per rank, a list of measured step times (s, finite, > 0)."""
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(r, list) and r for r in value):
        raise InputError(
            f"expected a non-empty list per rank of step times in seconds, got {_shown(value)}",
            file=file,
            field="step_times_s",
        )
    for r, times in enumerate(value):
        for k, t in enumerate(times):
            if _seconds(t) is not None:
                raise InputError(
                    f"expected a finite number of seconds > 0, got {_shown(t)}",
                    file=file,
                    field=f"step_times_s[{r}][{k}]",
                )


def _check_model_config(value: Any, file: str) -> None:
    """``model_config``: the tiny GPT's shape (what re-sharding rebuilds the model from)."""
    if not isinstance(value, dict):
        return
    for key, v in value.items():
        field = f"model_config.{key}"
        if key not in _MODEL_KEYS:
            from simulator.core.suggest import hint

            raise InputError(
                f"unknown key (allowed: {', '.join(sorted(_MODEL_KEYS))})"
                + hint(str(key), sorted(_MODEL_KEYS)),
                file=file,
                field=field,
            )
        if _count(v) is not None:
            raise InputError(f"expected an integer >= 1, got {_shown(v)}", file=file, field=field)


def _shown(value: Any) -> str:
    """``value`` for a message: its JSON spelling, cut short."""
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return clipped(text, 60)


@contextlib.contextmanager
def named_in_manifest(
    trace_dir: str | Path, key: str, value: object, given: object
) -> Iterator[None]:
    """Inside: a look-up of the manifest's ``key`` (a topology or backend name). When the name
    came from the manifest (``given`` is None) and is not found, the refusal names the manifest
    and its field, not the name as if it were a file the user gave (``x: no such file``)."""
    try:
        yield
    except InputError as err:
        if given is not None or value is None or err.file != str(value):
            raise
        raise InputError(
            f"{str(value)!r}: {err.message}", file=str(Path(trace_dir) / "manifest.json"), field=key
        ) from None
