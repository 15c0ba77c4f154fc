"""The type of what commsim writes as JSON (``--json``, ``to_dict``/``to_json`` payloads).

A recursive alias instead of ``Any``: mypy then checks that a payload holds only what
:func:`json.dumps` writes (strings, numbers, booleans, ``None``, lists and string-keyed
objects), and readers narrow a value (``isinstance``) before using it. Lists and objects are
read-only (``Sequence``, ``Mapping``), so that a ``list[float]`` or a ``dict[str, int]`` is a
JSON value as it stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

#: one JSON value
JsonValue: TypeAlias = (
    "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)

#: a JSON object
JsonObject: TypeAlias = "dict[str, JsonValue]"


def plain(v: object) -> JsonValue:
    """``v`` as a JSON value: numpy scalars (anything with ``item()`` returning a scalar) made
    Python numbers, mappings and sequences converted element by element, anything else its
    ``str``."""
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    item = getattr(v, "item", None)
    if callable(item) and getattr(v, "shape", None) == ():
        return plain(item())
    return str(v)
