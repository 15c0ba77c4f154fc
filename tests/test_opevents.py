"""The op events of timeline.json, formatted as text a column at a time, are the bytes the
JSON encoder writes for the event dicts (issue 18: ``run --out`` cost)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.engine.records import OP_COLUMNS
from simulator.report import opevents
from simulator.report.opevents import json_floats, op_event_text
from simulator.report.timeline import _op_events

NAN, INF = float("nan"), float("inf")


@dataclass
class _Result:
    """What op_event_text reads of a StepResult."""

    ops: pd.DataFrame
    simulated_ranks: list[int] = field(default_factory=lambda: [0, 1, 3])

    @property
    def op_columns(self) -> dict[str, Any]:
        """The columns as StepResult keeps them: numbers in arrays, names in lists."""
        names = ("name", "kind", "category", "stream", "op", "group", "algo")
        return {
            c: self.ops[c].tolist() if c in names else self.ops[c].to_numpy() for c in OP_COLUMNS
        }


def _row(rank: int, i: int, kind: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rank": rank,
        "id": i,
        "name": f"op{i}",
        "kind": kind,
        "category": "",
        "stream": "compute" if kind == "compute" else "comm",
        "layer": -1,
        "microbatch": -1,
        "ready_s": 0.0,
        "start_s": 1e-6 * i,
        "end_s": 1e-6 * i + 3e-7,
        "size_B": 0.0,
        "op": "compute" if kind == "compute" else kind,
        "group": "",
        "peer": -1,
        "algo": "",
    }
    row.update(kw)
    return row


def _ops() -> pd.DataFrame:
    rows = [
        _row(0, 0, "compute", category="fwd", layer=3, microbatch=0),
        _row(0, 1, "collective", op="all_reduce", size_B=2.0**26, group="0,1,2,3", algo="ring"),
        _row(1, 2, "send", size_B=1e5, peer=3, stream="pp", name='sé"nd\\\n', microbatch=2),
        _row(3, 3, "recv", size_B=1e5, peer=1, stream="pp", ready_s=-1e-300),
        _row(3, 4, "compute", start_s=5.0, end_s=4.0, name="back\u2028wards"),  # negative span
        _row(1, 5, "collective", op="all_gather", size_B=1.5e16, group="0,2,5,7,9,11,13,15,17"),
        _row(0, 6, "compute", start_s=NAN, end_s=NAN, ready_s=NAN),  # never ran
        _row(0, 7, "collective", op="all_reduce", size_B=2.0**26, group="0,1,2,3", algo="tree"),
        _row(1, 8, "compute", start_s=INF, end_s=INF, stream="extra", category="x,y"),
        _row(3, 9, "compute", start_s=-0.0, end_s=-0.0, ready_s=1e-5, layer=0),
    ]
    return pd.DataFrame(rows, columns=list(OP_COLUMNS))


def _expected(result: Any) -> str:
    return ",".join(json.dumps(e, separators=(",", ":")) for e in _op_events(result))


def test_op_event_text_is_the_encoded_dicts(monkeypatch: Any) -> None:
    result = _Result(_ops())
    assert ",".join(op_event_text(result)) == _expected(result)  # type: ignore[arg-type]
    monkeypatch.setattr(opevents, "CHUNK", 3)  # streams and labels carried across chunks
    assert ",".join(op_event_text(result)) == _expected(result)  # type: ignore[arg-type]


def test_op_event_text_of_random_times() -> None:
    rng = np.random.default_rng(11)
    n = 400
    ops = pd.DataFrame(
        [_row(int(rng.integers(0, 4)), i, "compute") for i in range(n)], columns=list(OP_COLUMNS)
    )
    scale = 10.0 ** rng.integers(-12, 20, n)
    ops["start_s"] = rng.random(n) * scale
    ops["end_s"] = ops["start_s"] + rng.normal(0, 1, n) * scale
    result = _Result(ops, simulated_ranks=[0, 1, 2, 3])
    assert ",".join(op_event_text(result)) == _expected(result)  # type: ignore[arg-type]


def test_json_floats_as_the_encoder() -> None:
    values = np.array([0.0, -0.0, 1e-5, 1e16, 1.5e-300, 5e-324, NAN, INF, -INF, 1 / 3])
    assert json_floats(values) == [json.dumps(float(v)) for v in values]
