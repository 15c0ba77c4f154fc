"""Words for pydantic's validation errors: what a field expects, and "did you mean" for typos.

Used by :mod:`simulator.config` so that ``a float field set to 0`` says *a number > 0* (not
*a positive integer*) and ``trainig:`` is reported as an unknown key with the close match,
rather than as ``training: required field missing``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside ``Annotated``/``Optional``/unions."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def field_annotation(model: type[BaseModel], loc: Sequence[Any]) -> Any | None:
    """The annotation of the field at ``loc`` (pydantic's error location), or ``None``."""
    current: Any = model
    annotation: Any = None
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            annotation = info.annotation
        elif isinstance(current, type) and dataclasses.is_dataclass(current):
            # a section declared as a frozen dataclass (the model: ModelShape, AppConfig)
            annotation = typing.get_type_hints(current, include_extras=True).get(str(part))
            if annotation is None:
                return None
        elif typing.get_origin(current) in (dict, list):
            annotation = typing.get_args(current)[-1]
        else:
            return None
        nxt = [t for t in _unwrap(annotation)]
        current = nxt[0] if len(nxt) == 1 else annotation
    return annotation


def expects_int(model: type[BaseModel], loc: Sequence[Any]) -> bool:
    """Whether the field at ``loc`` holds an integer (``False`` when unknown)."""
    ann = field_annotation(model, loc)
    if ann is None:
        return False
    kinds = _unwrap(ann)
    return bool(kinds) and all(k is int for k in kinds)


def unknown_key_message(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """``unknown key`` plus the closest known key of the same section, when there is one."""
    parent = field_annotation(model, loc[:-1]) if len(loc) > 1 else model
    inner = _unwrap(parent) if parent is not None else []
    section = inner[0] if len(inner) == 1 else parent
    if isinstance(section, type) and dataclasses.is_dataclass(section):
        known = [f.name for f in dataclasses.fields(section)]
    elif isinstance(section, type) and issubclass(section, BaseModel):
        known = [k for k, f in section.model_fields.items() if not f.exclude]
    else:
        return "unknown key"
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
    return f"unknown key{hint}"
