"""Linking torch's execution trace (ExecutionTraceObserver JSON) to Kineto events.

The execution trace (ET) lists every operator with its typed inputs and outputs; each node's
``rf_id`` attribute equals the ``Record function id`` arg of the same operator's Kineto
event. Tensors are written as ``[tensor_id, storage_id, offset, numel, itemsize, device]``,
so the ET gives the element size of a ``TensorList`` input, which Kineto leaves untyped (the
importer otherwise falls back on the gloo span's type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.traces.jsonfile import read_json_file


@dataclass
class ETIndex:
    """Operators of one rank's execution trace, keyed by record-function id."""

    path: str
    schema: str
    by_rf: dict[int, dict[str, Any]] = field(default_factory=dict)

    def node(self, rf_id: object) -> dict[str, Any] | None:
        """The ET node of a Kineto event's ``Record function id`` (None when absent)."""
        try:
            return self.by_rf.get(int(str(rf_id)))
        except ValueError:
            return None

    def input_bytes(self, rf_id: object, arg: int) -> float | None:
        """Bytes of input ``arg`` (a tensor or a list of tensors), or None if unknown."""
        n = self.node(rf_id)
        if n is None:
            return None
        vals = _input_values(n)
        if arg >= len(vals):
            return None
        return _tensor_bytes(vals[arg])

    def itemsize(self, rf_id: object, arg: int) -> int | None:
        """Element size of input ``arg``'s (first) tensor, or None."""
        n = self.node(rf_id)
        if n is None:
            return None
        vals = _input_values(n)
        if arg >= len(vals):
            return None
        t = _first_tensor(vals[arg])
        return None if t is None else int(t[4])


def _input_values(n: dict[str, Any]) -> list[Any]:
    """A node's input values: ``inputs.values`` (schema >= 1.0.2), or ``inputs`` itself, a
    list (schema 1.0.1, with ``input_shapes`` and ``input_types`` beside it)."""
    ins = n.get("inputs")
    vals = ins.get("values") if isinstance(ins, dict) else ins
    return vals if isinstance(vals, list) else []


def _rf_id(n: dict[str, Any]) -> int | None:
    """A node's record-function id: the ``rf_id`` attr (schema >= 1.0.2) or key (1.0.1)."""
    for a in n.get("attrs") or []:
        if isinstance(a, dict) and a.get("name") == "rf_id":
            return int(a["value"])
    v = n.get("rf_id")
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _is_tensor(v: object) -> bool:
    return (
        isinstance(v, list)
        and len(v) == 6
        and all(isinstance(x, int) for x in v[:5])
        and isinstance(v[5], str)
    )


def _first_tensor(v: object) -> list[Any] | None:
    if _is_tensor(v):
        return v  # type: ignore[return-value]
    if isinstance(v, list):
        for x in v:
            t = _first_tensor(x)
            if t is not None:
                return t
    return None


def _tensor_bytes(v: object) -> float | None:
    if _is_tensor(v):
        assert isinstance(v, list)
        return float(v[3] * v[4])
    if isinstance(v, list) and v:
        parts = [_tensor_bytes(x) for x in v]
        if all(p is not None for p in parts):
            return float(sum(p for p in parts if p is not None))
    return None


def load_et(path: str | Path) -> ETIndex:
    """Read an execution trace JSON (``.json`` or ``.json.gz``).

    Raises:
        InputError: unreadable, or no ``nodes`` list.
    """
    p = Path(path)
    doc = read_json_file(p, "execution trace")
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise InputError("expected a list of nodes", file=str(p), field="nodes")
    idx = ETIndex(str(p), str(doc.get("schema", "")))
    for n in nodes:
        rf = _rf_id(n) if isinstance(n, dict) else None
        if rf is not None:
            idx.by_rf[rf] = n
    return idx
