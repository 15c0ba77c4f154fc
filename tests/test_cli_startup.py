"""Start-up of the short commands: only the invoked command's module is imported, and on
inputs validated before (simulator.core.validated) neither pydantic nor a schema module is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import contextlib, io, sys
from simulator.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(sys.argv[1:])
keep = ("pydantic", "simulator.cli.", "simulator.traces")
loaded = sorted(m for m in sys.modules if m.startswith(keep) or m.endswith("schema"))
print(rc, " ".join(loaded))
"""


def _loaded(args: list[str], cache: Path) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COMMSIM_CACHE_DIR": str(cache)}
    env.pop("COMMSIM_NO_CACHE", None)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    return int(out[0]), set(out[1:])


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (
            ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1MiB"],
            "collective",
        ),
        (["topology", "show", "dgx-a100"], "topology"),
    ],
)
def test_known_inputs_start_without_pydantic(args: list[str], command: str, tmp_path: Path) -> None:
    rc, first = _loaded(args, tmp_path)
    assert rc == 0 and "pydantic" in first  # an empty cache: validated by the schemas
    rc, second = _loaded(args, tmp_path)
    assert rc == 0
    assert "pydantic" not in second
    assert not {m for m in second if m.endswith("schema") or m.startswith("pydantic")}
    commands = {m for m in second if m.count(".") == 2 and m.startswith("simulator.cli.")}
    assert f"simulator.cli.{command}" in commands
    assert not commands & {"simulator.cli.record", "simulator.cli.run", "simulator.cli.sweep"}
    assert not {m for m in second if m.startswith("simulator.traces")}
