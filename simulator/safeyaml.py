"""One YAML reader for every file a user gives commsim: bounded, strict, and precise.

:func:`load_yaml_file` / :func:`load_yaml_text` parse with PyYAML's safe loader plus four guards:

* **duplicate keys** in one mapping are refused, naming the key and both lines (PyYAML keeps
  the last one silently). Keys merged in with ``<<: *anchor`` may still be overridden.
* **bounded expansion**: aliases share nodes, so a few lines can describe a document of 10^9
  nodes (the "billion laughs"); the document's expanded size is counted on the node graph
  (memoised, so counting is linear in the file) and refused above :data:`MAX_NODES`.
* **bounded nesting**: more than :data:`MAX_DEPTH` levels of nested collections are refused
  before Python's recursion limit is reached.
* **UTF-8 only**: a file that is not UTF-8 text is refused, naming the byte offset.
* **no YAML 1.1 number surprises**: a plain ``1:30`` (base 60: 90) or ``010`` (octal: 8) is
  refused, asking for the number meant; a key ``on``/``off``/``yes``/``no`` stays the string
  it reads as (``on: 1ms`` in a fault's background, not ``True: 1ms``); ``1e-3`` is a number
  (YAML 1.2), not the string YAML 1.1 makes of it.

Every problem is an :class:`~simulator.core.errors.InputError` whose file part is
``FILE:LINE:COL`` when PyYAML knows the position (``scenario.yaml:3:5: duplicate key ...``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from simulator.core.errors import InputError

#: Most collection levels a document may nest (the deepest shipped file has 6).
MAX_DEPTH: Final[int] = 64
#: Most nodes a document may hold once every alias is expanded (shipped files: < 2,000).
MAX_NODES: Final[int] = 1_000_000
#: Largest file read (bytes); the biggest shipped YAML is ~10 KB. PyYAML's pure-Python composer
#: (needed for the guards above) reads ~100 KB/s (our measurement: 500 KB of topology nodes and
#: links in 5.1 s, load 6 on 2 cores), so 2 MiB is ~20 s; it holds an explicit topology of
#: ~18,000 GPUs (~110 bytes a node and its link; larger ones have builders, ``build:``). 64 MiB
#: took ten minutes, and 6 MB of keys ran past 30 s.
MAX_FILE_B: Final[int] = 2 * 2**20
#: Largest file read under ``--force`` (bytes): the bound before 2026-12-06, when 64 MiB took
#: about ten minutes; a user with a large explicit topology may choose to wait.
MAX_FORCED_FILE_B: Final[int] = 64 * 2**20

_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
#: YAML 1.1 reads a plain ``1:30`` as 90 (base 60) and ``010`` as 8 (octal); YAML 1.2 and every
#: user mean otherwise (a stall of ``1:30`` became 90 s, silently). Refused, asking for the
#: number written out or quoted.
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")


class _Loader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: ScalarNode) -> int:
        try:
            value = int(super().construct_yaml_int(node))
        except ValueError:  # past Python's 4,300-digit int conversion limit: a traceback
            raise ConstructorError(
                None,
                None,
                f"an integer of {len(str(node.value)):,} digits, past the largest number "
                "commsim reads (about 1.8e308)",
                node.start_mark,
            ) from None
        _refuse_yaml11_number(node, value)
        return value

    def construct_yaml_float(self, node: ScalarNode) -> float:
        value = float(super().construct_yaml_float(node))
        _refuse_yaml11_number(node, value)
        return value

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                if (
                    key_node.tag == _BOOL_TAG
                    and isinstance(key_node, ScalarNode)
                    and key_node.style is None
                    and key_node.value.lower() not in ("true", "false")
                ):
                    # a key is a name: `on: 1ms` means "on", not True (YAML 1.1's on/off/yes/no)
                    key_node.tag = _STR_TAG
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # unhashable key: PyYAML's own check reports it
                if first is not None:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first given on line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads `1e-3` and `5e9` as strings (its floats need a dot and a signed exponent), so
# `load: 1e-3` was refused as "expected a number, got '1e-3'"; read as YAML 1.2 does: a float
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _refuse_yaml11_number(node: ScalarNode, value: float) -> None:
    """Refuse a plain scalar YAML 1.1 reads as a base-60 or octal number (see above)."""
    text = str(node.value)
    if node.style is not None:
        return
    how = "a base-60 number" if _SEXAGESIMAL.match(text) else None
    if how is None and _OCTAL.match(text) and value != int(text.replace("_", ""), 10):
        how = "an octal number"  # (01 to 07 read the same either way)
    if how is not None:
        raise ConstructorError(
            None,
            None,
            f"YAML 1.1 reads {text} as {how}, {value:g}; write the number you mean "
            f"(or quote it, '{text}', if it is text)",
            node.start_mark,
        )


def _outsized_int(doc: Any) -> tuple[str, int] | None:
    """The path (``links[0].bandwidth``) and value of the first integer past the float range
    in ``doc`` (10^400), or None. Every numeric field converts to a float somewhere (a unit
    check, a product of counts), and ``float(10**400)`` raised an ``OverflowError`` there: a
    traceback (exit 70) for ``bandwidth: 1000...0`` or ``nodes: 1000...0``. A float of that size
    (``1e400``) is already ``inf``, refused by every field."""
    stack: list[tuple[str, Any]] = [("", doc)]
    seen: set[int] = set()
    while stack:
        path, x = stack.pop()
        if isinstance(x, int) and not isinstance(x, bool):
            try:
                float(x)
            except OverflowError:
                return path, x
        elif isinstance(x, dict | list) and id(x) not in seen:
            seen.add(id(x))  # an alias shares its node: walked once
            items = x.items() if isinstance(x, dict) else enumerate(x)
            for k, v in items:
                sub = f"{path}[{k}]" if isinstance(x, list) else f"{path}.{k}" if path else str(k)
                stack.append((sub, v))
    return None


class _Recursive(Exception):
    """An alias inside the node it names (``a: &a [*a]``)."""


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """Nodes in the document under ``node`` with every alias expanded (memoised by identity).

    Raises :class:`_Recursive` for a node that contains itself: PyYAML composes ``a: &a [*a]``
    into a list holding itself, which every later walk (validation, the cache's key) followed
    until a RecursionError (a traceback until 2026-12-06)."""
    key = id(node)
    if key in memo:
        if memo[key] < 0:  # still being counted: this node is inside itself
            raise _Recursive
        return memo[key]
    memo[key] = -1
    n = 1
    if isinstance(node, SequenceNode):
        n += sum(_expanded_size(c, memo) for c in node.value)
    elif isinstance(node, MappingNode):
        n += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif not isinstance(node, ScalarNode):  # pragma: no cover - PyYAML has no other node
        n = 1
    memo[key] = min(n, MAX_NODES + 1)
    return memo[key]


def _where(file: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return file
    return f"{file}:{mark.line + 1}:{mark.column + 1}"


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character {exc.character!r} at position {exc.position} is not allowed in YAML"
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem and context:
        return f"{problem} ({context})"
    return str(problem or context or "not valid YAML").replace("\n", " ")


def load_yaml_text(text: str, file: str = "<string>") -> Any:
    """Parse one YAML document from ``text``; ``None`` for an empty document.

    Raises:
        InputError: syntax, duplicate key, nesting or expansion beyond the bounds; the file part
            is ``FILE:LINE:COL`` when the position is known.
    """
    try:
        loader = _Loader(text)  # the reader checks the characters here
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {_problem(exc)}", file=file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            size = _expanded_size(node, {})
        except _Recursive:
            raise InputError(
                "an alias refers to a node that contains it (a recursive anchor); write the "
                "value out",
                file=file,
            ) from None
        if size > MAX_NODES:
            raise InputError(
                f"expands to more than {MAX_NODES:,} values once its aliases are "
                "substituted (an alias bomb?); write the document out",
                file=file,
            )
        doc = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {_problem(exc)}", file=_where(file, exc)) from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", file=file) from None
    finally:
        loader.dispose()
    huge = _outsized_int(doc)
    if huge is not None:
        raise InputError(
            f"an integer of {len(str(abs(huge[1]))):,} digits, past the largest number commsim "
            "reads (about 1.8e308)",
            file=file,
            field=huge[0] or None,
        )
    return doc


def decode_utf8(data: bytes, file: str) -> str:
    """``data`` as text, or an :class:`InputError` naming the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
            file=file,
        ) from None


def _refuse_size(size: int, max_B: int, name: str) -> None:
    """Refuse a file of ``size`` bytes over ``max_B``; under ``--force`` the default bound is
    lifted up to :data:`MAX_FORCED_FILE_B` (slow to parse, but the user chose to wait)."""
    from simulator.limits import FORCE_HINT, refuse

    liftable = max_B == MAX_FILE_B and size <= MAX_FORCED_FILE_B
    hint = f"; a YAML this large takes minutes to parse {FORCE_HINT}" if liftable else ""
    err = InputError(f"is {size:,} bytes, more than the {max_B:,} allowed{hint}", file=name)
    if not liftable:
        raise err
    refuse(err)  # under --force: kept, and named if the forced parse then runs out of memory


def read_text(path: str | Path, file: str | None = None, *, max_B: int = MAX_FILE_B) -> str:
    """Read a user's text file as UTF-8 with a size bound; :class:`InputError` on any failure."""
    p = Path(path)
    name = file or str(p)
    try:
        if p.is_dir():
            raise InputError("is a directory, expected a file", file=name)
        if p.exists() and not p.is_file():  # a FIFO or device: read_bytes() blocks or never ends
            raise InputError("is not a regular file, expected a file", file=name)
        size = p.stat().st_size
        if size > max_B:
            _refuse_size(size, max_B, name)
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=name) from None
    return decode_utf8(data, name)


def load_yaml_file(path: str | Path, file: str | None = None) -> Any:
    """Read and parse a YAML file with :func:`load_yaml_text`'s guards (``file``: name shown)."""
    name = file or str(path)
    return load_yaml_text(read_text(path, name), name)
