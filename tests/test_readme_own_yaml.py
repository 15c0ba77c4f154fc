"""README's "Your own cluster and model": its two YAML files load and give the figures it
prints (a new user copies them first; until 2026-12-06 the README showed no file of either)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator.cli import main

README = Path(__file__).parents[1] / "README.md"


def _files() -> dict[str, str]:
    """``{file name: YAML text}`` of the README's YAML blocks that start ``# NAME.yaml:``."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    out = {}
    for block in blocks:
        head = re.match(r"# (\S+\.yaml):", block)
        if head:
            out[head.group(1)] = block
    return out


def test_readme_topology_and_scenario_run_as_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files()
    assert set(files) == {"my-2rail.yaml", "my-13b.yaml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["topology", "show", str(tmp_path / "my-2rail.yaml"), "--json"]) == 0
    topo = json.loads(capsys.readouterr().out)
    assert topo["gpus"] == 128 and topo["hosts"] == 16
    assert main(["run", str(tmp_path / "my-13b.yaml"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    text = README.read_text()
    assert f"gives\n{res['step_time_s']:.2f} s a step" in text
    assert f"and {res['memory_per_gpu_B']['total'] / 2**30:.2f} GiB per GPU" in text
    assert res["metadata"]["dp"] == 16
