"""Files commsim writes atomically get the permissions a plain write would give them.

``tempfile.mkstemp`` creates 0o600 files; renamed over the target, every ``--out`` table, plot
and JSON came out unreadable to the user's group and others (until 2026-12-06), unlike
``sweep.json`` written with ``open``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.outputs import atomic_path, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_new_file_gets_0666_less_the_umask(tmp_path: Path, umask_022: None) -> None:
    atomic_write_text(tmp_path / "a.json", "{}")
    atomic_write_bytes(tmp_path / "b.png", b"x")
    with atomic_path(tmp_path / "c.csv") as tmp:
        tmp.write_text("a,b\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert {_mode(tmp_path / n) for n in ("a.json", "b.png", "c.csv")} == {_mode(plain)}
    assert _mode(plain) == 0o644


def test_other_umask_is_followed(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.json") == 0o600


def test_rewritten_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert _mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left
