"""Bad variants of a real Kineto trace are refused in one line naming the file and the field.

The input is ``tests/fixtures/real/hta-a100-ddp`` (HTA's NCCL 2.17 A100 DDP trace, 2 steps;
provenance in its README) with one thing changed, as a damaged or hand-edited file would.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main

SRC = Path(__file__).parent / "fixtures" / "real" / "hta-a100-ddp" / "rank-0.json.gz"


def _doc() -> dict[str, Any]:
    with gzip.open(SRC) as fh:
        return json.load(fh)


def _index(doc: dict[str, Any], pred: Any) -> int:
    return next(i for i, e in enumerate(doc["traceEvents"]) if pred(e))


def _nccl(e: dict[str, Any]) -> bool:
    return e.get("cat") == "kernel" and e["name"].startswith("nccl")


def _step(e: dict[str, Any]) -> bool:
    return str(e.get("name", "")).startswith("ProfilerStep#")


@pytest.mark.parametrize(
    ("which", "key", "value", "field"),
    [
        (_nccl, "ts", None, ".ts"),  # None: the key removed
        (_step, "dur", None, ".dur"),
        (_nccl, "args.In msg nelems", -5, ".args.In msg nelems"),
        (_nccl, "args.Group size", "2", ".args.Group size"),
    ],
)
def test_damaged_event_is_refused(which, key, value, field, tmp_path, capsys):
    """Until 2026-12-06: a kernel without ``ts`` sat at time 0, a ProfilerStep without
    ``dur`` halved the measured step (221.1 -> 109.9 ms) without a word, and a negative
    ``In msg nelems`` stopped the engine with "negative size_B" and no field named."""
    doc = _doc()
    i = _index(doc, which)
    ev = doc["traceEvents"][i]
    if key.startswith("args."):
        ev["args"][key[5:]] = value
    elif value is None:
        del ev[key]
    else:
        ev[key] = value
    d = tmp_path / "bad"
    d.mkdir()
    (d / SRC.name).write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert main(["replay", str(d), "--topology", "dgx-a100", "--mirror-ranks"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(err) == 1, err
    assert SRC.name in err[0] and f"traceEvents[{i}]{field}" in err[0] and "expected" in err[0]
