"""A sweep's results on disk, one file per point, so nothing finished is ever lost.

``DIR/sweep.spec.json`` records what the sweep is (scenario, base overrides, varied keys and
values, fidelity); ``DIR/points/NNNNN.json`` holds grid point ``NNNNN``'s row, written
atomically the moment the point finishes. ``--resume`` reads them back and runs only the rest;
it refuses a DIR that holds a different sweep, naming the part that differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.outputs import atomic_write_text

SPEC_FILE = "sweep.spec.json"
POINTS_DIR = "points"
#: Rows with these error kinds are run again on ``--resume`` (the point itself was fine).
RETRY_KINDS = ("worker",)


class SweepStore:
    """Per-point result files of one sweep in ``out``."""

    def __init__(self, out: Path, spec: dict[str, Any], *, resume: bool) -> None:
        self.out = Path(out)
        self.points = self.out / POINTS_DIR
        spec_path = self.out / SPEC_FILE
        if resume:
            if not spec_path.is_file():
                raise InputError(
                    f"no {SPEC_FILE} here: nothing to resume", file=str(self.out), field="--resume"
                )
            try:
                old = json.loads(spec_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"unreadable: {exc}", file=str(spec_path)) from None
            for key, value in spec.items():
                if old.get(key) != value:
                    raise InputError(
                        f"this directory holds a different sweep ({key} was {old.get(key)!r}, "
                        f"now {value!r})",
                        file=str(self.out),
                        field="--resume",
                    )
        self.points.mkdir(parents=True, exist_ok=True)
        atomic_write_text(spec_path, json.dumps(spec, indent=2, sort_keys=True))
        self._resume = resume

    def _path(self, index: int) -> Path:
        return self.points / f"{index:05d}.json"

    def write(self, index: int, row: dict[str, Any]) -> None:
        """Write point ``index``'s row (atomic)."""
        atomic_write_text(self._path(index), json.dumps(row, indent=1, default=str))

    def done(
        self, grid: Sequence[dict[str, str]], timeout_s: float | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(index, row)`` of every point already finished (only when resuming). A point that
        timed out counts as finished only when this run's ``timeout_s`` (seconds, ``None``: no
        limit) is no longer than the limit it ran under: ``--resume --timeout 600`` runs the
        points that ran out of a 60 s limit again."""
        if not self._resume:
            return
        for index in range(len(grid)):
            p = self._path(index)
            if not p.is_file():
                continue
            try:
                row = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a damaged file: the point runs again
            if not isinstance(row, dict) or row.get("error_kind") in RETRY_KINDS:
                continue
            if row.get("error_kind") == "timeout" and _longer(timeout_s, row.get("timeout_s")):
                continue
            yield index, row


def _longer(timeout_s: float | None, ran_under: object) -> bool:
    """Whether a limit of ``timeout_s`` is longer than ``ran_under`` (a row's ``timeout_s``;
    a row from before it was recorded counts as shorter)."""
    if not isinstance(ran_under, int | float):
        return True
    return timeout_s is None or timeout_s > ran_under
