"""``commsim topology list|show``: JSON contract, PNG, bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {row["name"]: row["description"] for row in data["topologies"]}
    assert names.get("fat-tree-1024")


def test_show_json_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "show", "dgx-a100-2node", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ranks"] == 16
    assert data["hosts"] == 2
    assert data["bisection_Bps"] == pytest.approx(8 * 25e9)
    assert data["bandwidth_per_gpu_Bps"]["nvlink"] == pytest.approx(300e9)
    assert data["links_by_kind"] == {"nvlink": 16, "pcie": 32, "infiniband": 16}


def test_show_text_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "t.png"
    assert main(["topology", "show", "roce-2to1", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "bisection bandwidth: 1.6 TB/s" in out
    assert "oversubscription 2:1" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_text_names_the_top_tier(capsys: pytest.CaptureFixture[str]) -> None:
    """One spine read "1 switches, ..., up 0 B/s"."""
    assert main(["topology", "show", "dgx-a100-8node"]) == 0
    out = capsys.readouterr().out
    assert "switch tier 1: 8 switches, down 1.6 TB/s, up 1.6 TB/s" in out
    assert "switch tier 2: 2 switches, down 1.6 TB/s, top tier" in out
    assert "up 0 B/s" not in out


def test_bad_topology_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes: [{name: a, kind: gpu, colour: red}]\nlinks: []\n")
    assert main(["topology", "show", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    expected = f"{bad}: nodes[0].colour: unknown key (allowed: name, kind, host)"
    assert err == f"commsim topology: error: {expected}"
    assert main(["topology", "show", "nope"]) == 2
