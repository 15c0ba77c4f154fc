"""Words for pydantic's validation errors: what a field expects, and "did you mean" for typos.

Used by :mod:`simulator.config` so that ``a float field set to 0`` says *a positive number*
(not *a positive integer*) and ``trainig:`` is reported as an unknown key with the close match,
rather than as ``training: required field missing``. :func:`validate_input` does the whole
job for the other file formats (topologies, backend profiles): validate, and turn the first
error into one :class:`~simulator.core.errors.InputError` naming the file and the field as a
path (``links[3].bandwidth``, ``protocols.LL.base_latency``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from simulator.core.errors import InputError, clipped
from simulator.core.schema import MIN_EFFICIENCY, Fraction
from simulator.core.suggest import hint
from simulator.core.units import MAX_BANDWIDTH_BPS, MAX_SIZE_B, MIN_BANDWIDTH_BPS

_M = TypeVar("_M", bound=BaseModel)

#: Pydantic's error types for a key the section does not have: in a model, and in a section
#: declared as a dataclass (the scenario's ``model:``).
_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


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


def _section(model: type[BaseModel], loc: Sequence[Any]) -> Any | None:
    """The section (model or dataclass) that holds the field at ``loc``, or ``None``."""
    parent = field_annotation(model, loc[:-1]) if len(loc) > 1 else model
    inner = _unwrap(parent) if parent is not None else []
    return inner[0] if len(inner) == 1 else parent


def _positive(model: type[BaseModel], loc: Sequence[Any]) -> bool:
    """Whether the field at ``loc`` is declared ``> 0`` (``Field(gt=0)``)."""
    if len(loc) == 0:
        return False
    section = _section(model, loc)
    if not (isinstance(section, type) and issubclass(section, BaseModel)):
        return False
    info = section.model_fields.get(str(loc[-1]))
    return info is not None and any(getattr(m, "gt", None) == 0 for m in info.metadata)


def unknown_key_message(model: type[BaseModel], loc: Sequence[Any]) -> str:
    """``unknown key`` plus the closest known key of the same section, when there is one."""
    section = _section(model, loc)
    if isinstance(section, type) and dataclasses.is_dataclass(section):
        known = [f.name for f in dataclasses.fields(section)]
    elif isinstance(section, type) and issubclass(section, BaseModel):
        known = [k for k, f in section.model_fields.items() if not f.exclude]
    else:
        return "unknown key"
    return "unknown key" + (hint(loc[-1], known) or _allowed(known))


def _allowed(known: Sequence[str]) -> str:
    return f" (allowed: {', '.join(known)})"


class _Shown(str):
    """A value's short repr that formats with ``!r`` as itself (no second quoting)."""

    def __repr__(self) -> str:
        return str(self)


def location(loc: Sequence[Any]) -> str:
    """Pydantic's error location as a field path: ``("links", 3, "bandwidth")`` ->
    ``links[3].bandwidth``; validator tags and dict-key markers are left out."""
    out = ""
    for part in loc:
        text = str(part)
        if text.startswith("function-") or text == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{text}" if out else text
    return out


def _choices(expected: str) -> list[str]:
    """``"'a', 'b' or 'c'"`` (pydantic's enum ``expected``) -> ``["a", "b", "c"]``."""
    return [c.strip(" '") for c in expected.replace(" or ", ", ").split(",") if c.strip(" '")]


def _short(value: object) -> str:
    """``repr(value)``, cut to 60 characters (a whole section given where a number belongs)."""
    return clipped(repr(value), 60)


def _unit_bound(typ: str, ctx: dict[str, Any]) -> str | None:
    """What a bound of a unit-typed field of :mod:`simulator.core.schema` means, in words
    (pydantic drops the alias from a field's annotation, so the bound tells the type)."""
    if (typ, ctx.get("ge")) == ("greater_than_equal", MIN_EFFICIENCY):  # Efficiency
        return f"a fraction in [{MIN_EFFICIENCY:g}, 1]"
    if (typ, ctx.get("le")) == ("less_than_equal", MAX_SIZE_B):  # SizeB
        return "a size of at most 1 EiB (2^60 bytes)"
    if (typ, ctx.get("ge", ctx.get("le"))) in _BANDWIDTH_BOUNDS:  # BandwidthBps
        return "a bandwidth from 1 kB/s (8 kbit/s) to 1 PB/s"
    return None


def message(model: type[BaseModel], err: dict[str, Any]) -> str:
    """What the field at ``err["loc"]`` expected, in words, with the value given."""
    typ = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    loc = tuple(err.get("loc", ()))
    raw = err.get("input")
    inp = _Shown(_short(raw))
    if typ in _UNKNOWN_KEY:
        return unknown_key_message(model, loc)
    if typ == "enum" and "[key]" in (str(p) for p in loc):  # a mapping's key: LINK, OP
        known = _choices(str(ctx.get("expected", "")))
        return "unknown key" + (hint(raw, known) or _allowed(known))
    if typ == "enum":
        known = _choices(str(ctx.get("expected")))
        return f"unknown value {inp!r}{hint(raw, known)} (allowed: {', '.join(known)})"
    if typ == "missing":
        return "required field missing"
    if typ in ("greater_than", "less_than_equal") and field_annotation(model, loc) == Fraction:
        return f"expected a fraction in (0, 1], got {inp!r}"
    unit_bound = _unit_bound(typ, ctx)
    if unit_bound is not None:
        return f"expected {unit_bound}, got {inp!r}"
    if typ in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        bound = {"greater_than": "> ", "greater_than_equal": ">= "}.get(typ, "<= ")
        if typ == "less_than":
            bound = "< "
        limit = ctx.get("gt", ctx.get("ge", ctx.get("le", ctx.get("lt"))))
        integer = expects_int(model, loc)
        if typ == "greater_than" and limit in (0, 0.0):
            return (
                f"expected {'a positive integer' if integer else 'a positive number'}, got {inp!r}"
            )
        noun = "an integer" if integer else "a number"
        shown = f"{limit:,}" if isinstance(limit, int) and abs(limit) >= 10_000 else limit
        return f"expected {noun} {bound}{shown}, got {inp!r}"
    if typ in ("int_type", "int_parsing", "int_from_float") and _positive(model, loc):
        return f"expected a positive integer, got {inp!r}"
    if typ == "string_pattern_mismatch" and ctx.get("pattern") == r"\S":  # schema.Name
        return f"expected a name (not empty, not only spaces), got {inp!r}"
    if typ == "too_short":
        return f"expected a non-empty {'mapping' if isinstance(raw, dict) else 'list'}"
    simple = {
        "finite_number": "a finite number",
        "bool_type": "true or false",
        "float_type": "a number",
        "float_parsing": "a number",
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "an integer",
        "string_type": "a string",
        "string_too_short": "a non-empty string",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "dataclass_type": "a mapping",  # model: ~ said "an instance of ModelShape"
        "model_attributes_type": "a mapping",
    }
    if typ in simple:
        return f"expected {simple[typ]}, got {inp!r}"
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


#: (error type, bound) of :data:`simulator.core.schema.BandwidthBps`'s range (pydantic drops the
#: alias from a field's annotation, so the bound tells the field).
_BANDWIDTH_BOUNDS = {
    ("greater_than_equal", MIN_BANDWIDTH_BPS),
    ("less_than_equal", MAX_BANDWIDTH_BPS),
}


def validate_input(model: type[_M], raw: object, *, file: str | None) -> _M:
    """``raw`` (as read from YAML) validated as ``model``.

    Raises :class:`InputError` for the first problem, naming ``file``, the field path and what
    was expected; an unknown key is reported before anything else (a typo ``lnks:`` also makes
    ``links`` look missing).
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # a dataclass section (model:) says unexpected_keyword_argument: `layesr:` was reported
        # as "model.layers: required field missing", the typo itself not named
        errors = sorted(exc.errors(), key=lambda e: e.get("type") not in _UNKNOWN_KEY)
        err: dict[str, Any] = dict(errors[0])
        field = location(err.get("loc", ())) or None
        raise InputError(message(model, err), file=file, field=field) from None
