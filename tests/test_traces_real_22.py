"""Importers on real public inputs of kinds not covered before (real22; provenance in
tests/fixtures/real/README.md).

Expected values were read from the files themselves, not from the importer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.cli import main

REAL = Path(__file__).parent / "fixtures" / "real"


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "opts",
    [
        ["--mirror-ranks", "--world", "4"],
        ["--mirror-ranks", "--strategy", "pp-1f1b"],
        ["--strategy", "tp", "--world", "2"],
    ],
)
def test_resharding_a_foreign_trace_says_why_first(opts, capsys):
    """HTA's rank-0-only A100 DDP trace has no manifest, so it cannot be re-sharded. Until
    2026-12-06 it was imported first and refused for its partial rank set ("pass
    --mirror-ranks", even with --mirror-ranks given), and with a tp/pp strategy the error named
    a manifest.json the directory does not have."""
    d = REAL / "hta-a100-ddp"
    rc = main(["replay", str(d), "--topology", "dgx-a100", *opts])
    assert rc == 2
    line = _error(capsys)
    assert str(d) in line and "model:" in line and "commsim record" in line
    assert "--mirror-ranks" not in line and "manifest.json:" not in line


def test_chakra_linked_execution_trace_is_named_as_such(tmp_path, capsys):
    """An ET+ (Chakra's trace_link output: ASTRA-sim's et_plus/dlrm_eg_0_plus.json, whose
    1,936 nodes carry ``ts``/``dur``) was refused as "an execution trace holds no times"."""
    d = tmp_path / "etplus"
    d.mkdir()
    shutil.copy(REAL / "astra-etplus-dlrm" / "dlrm_eg_0_plus.json.gz", d)
    assert main(["replay", str(d), "--topology", "dgx-a100"]) == 2
    line = _error(capsys)
    assert str(d) in line and "dlrm_eg_0_plus.json.gz" in line
    assert "chakra_trace_link" in line and "holds no times" not in line
