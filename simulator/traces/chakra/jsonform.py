"""Chakra execution traces in JSON: read into the same ``Node`` messages as a ``.et`` file.

Chakra has two JSON forms, told apart by their first value:

* **The feeder's form** (``{"workload_graph": [...]}``; mlcommons/chakra
  ``src/feeder/json_node.cpp`` and its test data ``tests/data/json_trace.tar.gz``): one object
  per node with ``Id``, ``Name``, ``NodeType`` (et_def.proto's numbers), ``is_cpu_op``,
  ``runtime`` (microseconds), ``data_deps``, ``ctrlDeps`` and, on communication nodes,
  ``comm_type``, ``comm_size``, ``comm_src``, ``comm_dst``, ``comm_tag``, ``comm_priority``,
  ``tensor_size``. The feeder reads nothing else and has no GlobalMetadata.
* **``chakra_jsonizer``'s form** (``src/jsonizer/jsonizer.py``): the ``.et`` file's messages,
  each written by protobuf's ``MessageToJson`` one after the other (GlobalMetadata first,
  then one Node each; camelCase names, 64-bit integers as strings, enums by name).

Both become ``(GlobalMetadata, [Node, ...])`` as :func:`simulator.traces.chakra.codec.read_et`
returns them, so that everything after (order, groups, sizes) is the ``.et`` importer's.
A value of the wrong type is refused naming the file, the node and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf.json_format import ParseDict, ParseError

from simulator.core.errors import InputError, clipped
from simulator.traces.chakra.schema import FEEDER_TYPES, NODE_TYPES, GlobalMetadata, Node
from simulator.traces.jsonfile import read_json_documents

#: Node keys of the feeder's form that are not attributes, with the Node field each fills.
_FIELDS = {"Id": "id", "Name": "name", "NodeType": "type", "runtime": "duration_micros"}
#: Dependency lists of the feeder's form (``ctrlDeps`` as Chakra's test data spells it).
_DEPS = {"data_deps": "data_deps", "ctrlDeps": "ctrl_deps", "ctrl_deps": "ctrl_deps"}


def read_et_json(path: Path) -> tuple[Any, list[Any]]:
    """Read a Chakra JSON file (either form): ``(GlobalMetadata, [Node, ...])``.

    Raises:
        InputError: not JSON, neither form, or a node whose value has the wrong type.
    """
    docs = read_json_documents(path, what="Chakra JSON")
    if len(docs) == 1 and isinstance(docs[0], dict) and "workload_graph" in docs[0]:
        return GlobalMetadata(), _feeder_nodes(docs[0]["workload_graph"], path)
    if docs and all(isinstance(d, dict) for d in docs) and set(docs[0]) <= {"version", "attr"}:
        return _parse(docs[0], GlobalMetadata, path, "GlobalMetadata"), [
            _parse(d, Node, path, f"node message {i}") for i, d in enumerate(docs[1:])
        ]
    raise InputError(
        'not Chakra JSON: expected {"workload_graph": [...]} (Chakra\'s feeder) or '
        "chakra_jsonizer's messages (GlobalMetadata, then Nodes)",
        file=str(path),
    )


def _parse(doc: dict[str, Any], cls: Any, path: Path, what: str) -> Any:
    """One jsonizer message as ``cls``; protobuf's own complaint when it does not fit."""
    try:
        return ParseDict(doc, cls())
    except ParseError as exc:
        raise InputError(f"{what} is not a Chakra {cls.__name__}: {exc}", file=str(path)) from None


def _feeder_nodes(graph: Any, path: Path) -> list[Any]:
    """The ``workload_graph`` list of the feeder's form as Node messages."""
    if not isinstance(graph, list):
        raise InputError("expected a list of nodes", file=str(path), field="workload_graph")
    return [_feeder_node(n, path, f"workload_graph[{i}]") for i, n in enumerate(graph)]


def _feeder_node(raw: Any, path: Path, where: str) -> Any:
    """One node of the feeder's form; every key it uses checked for its type."""
    if not isinstance(raw, dict):
        raise InputError("expected a node object", file=str(path), field=where)
    node = Node()
    for key, name in _FIELDS.items():
        if key in raw:
            setattr(node, name, _typed(raw[key], "string_val" if key == "Name" else "uint64_val",
                                       path, f"{where}.{key}"))  # fmt: skip
    if "Id" not in raw:
        raise InputError("expected the node's Id", file=str(path), field=f"{where}.Id")
    if node.type >= len(NODE_TYPES):
        raise InputError(
            f"expected a NodeType 0..{len(NODE_TYPES) - 1} ({', '.join(NODE_TYPES)}), "
            f"got {raw.get('NodeType')!r}",
            file=str(path),
            field=f"{where}.NodeType",
        )
    for key, name in _DEPS.items():
        deps = raw.get(key, [])
        if not isinstance(deps, list):
            raise InputError("expected a list of node ids", file=str(path), field=f"{where}.{key}")
        getattr(node, name).extend(_typed(d, "uint64_val", path, f"{where}.{key}") for d in deps)
    for key, kind in FEEDER_TYPES.items():
        if key in raw:
            a = node.attr.add(name=key)
            setattr(a, kind, _typed(raw[key], kind, path, f"{where}.{key}"))
    return node


def _typed(value: Any, kind: str, path: Path, where: str) -> Any:
    """``value`` checked for the protobuf field ``kind`` (``int32_val``, ``bool_val``...)."""
    if kind == "string_val":
        ok = isinstance(value, str)
        expected = "a string"
    elif kind == "bool_val":
        ok = isinstance(value, bool)
        expected = "true or false"
    else:
        lo, hi = _RANGE[kind]
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        expected = f"an integer in [{lo}, {hi}]"
    if not ok:
        got = clipped(repr(value), 40)
        raise InputError(f"expected {expected}, got {got}", file=str(path), field=where)
    return value


#: Value ranges of the integer fields (protobuf's types).
_RANGE = {
    "int32_val": (-(2**31), 2**31 - 1),
    "int64_val": (-(2**63), 2**63 - 1),
    "uint64_val": (0, 2**64 - 1),
}
