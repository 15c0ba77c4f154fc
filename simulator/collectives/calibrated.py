"""Calibrated backend profiles by name, picked for the job's rank count.

``commsim measure``/``rig calibrate`` fit a gloo profile per rank count on the emulated rig
(simulator/rig/calibrate.py, docs/rig.md): gloo's per-message cost there depends on how many
ranks share the machine's cores, so ``gloo-rig.yaml`` holds the 2-rank fit and
``gloo-rig-<N>rank.yaml`` the N-rank one, all in ``simulator/data/calibration/``. Asking for the
family by name (``--backend gloo-rig``) resolves to the fit of the job's own rank count; a rank
count without a fit of its own gets the fit of the nearest rank count (the larger of two equally
near), and :func:`resolve` says so (the caller reports it: :class:`CalibrationFallbackWarning`).
Nearest, not the 2-rank fit: how many ranks share the cores is what the fits differ by, and
the 2-rank fit is the outlier (gloo's all_gather at 0.66 of the ring bound against 0.95 with 3
and 4 ranks). Held out on 5- and 6-rank rigs it predicted all_gather >= 1 MiB 35-43 % slow,
the 4-rank fit -6 to -0.5 % (docs/decisions.md, 2026-12-05, "nearest rank count").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from simulator.core.errors import InputNote
from simulator.resources import shipped_dir

#: Where calibrated profiles live (the same directory simulator/rig/calibrate.py writes).
CALIBRATION_DIR = shipped_dir("calibration")
#: The rank count of a family's base file (``gloo-rig.yaml``: fitted on rig-2host).
BASE_RANKS = 2

_RANKED = re.compile(r"^(?P<family>.+)-(?P<n>\d+)rank$")


class CalibrationFallbackWarning(InputNote):
    """A calibrated family has no fit for the job's rank count; another fit was used."""


def host_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where the platform
    has none): the cores an emulated rig's ranks share, since every rank is a process here."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def families() -> list[str]:
    """Names of the calibrated families shipped (``gloo-rig``)."""
    return sorted(p.stem for p in CALIBRATION_DIR.glob("*.yaml") if not _RANKED.match(p.stem))


def fitted_ranks(family: str, directory: Path | None = None) -> dict[int, Path]:
    """Rank count -> profile file of one family (the base file counts as ``BASE_RANKS``), in
    ``directory`` (default :data:`CALIBRATION_DIR`)."""
    where = CALIBRATION_DIR if directory is None else directory
    out: dict[int, Path] = {}
    base = where / f"{family}.yaml"
    if base.is_file():
        out[BASE_RANKS] = base
    for p in where.glob(f"{family}-*rank.yaml"):
        m = _RANKED.match(p.stem)
        if m and m.group("family") == family:
            out[int(m.group("n"))] = p
    return out


def nearest_fit(fits: dict[int, Path], ranks: int | None) -> int:
    """The fitted rank count to use for a job of ``ranks`` ranks: the nearest one, the larger
    of two equally near; the base fit (``BASE_RANKS``) when ``ranks`` is unknown."""
    if ranks is None:
        return BASE_RANKS if BASE_RANKS in fits else min(fits)
    return min(fits, key=lambda n: (abs(n - ranks), -n))


def resolve(
    name: str, ranks: int | None, directory: Path | None = None
) -> tuple[Path, str | None] | None:
    """The profile file for calibrated family ``name`` and a job of ``ranks`` ranks, looked up
    in ``directory`` (default :data:`CALIBRATION_DIR`).

    Returns ``(path, note)``: ``note`` is ``None`` when the file was fitted with exactly that
    many ranks, else one sentence naming the profile used instead. ``None`` when ``name`` is
    not a calibrated family (or a family member's own name such as ``gloo-rig-4rank``, which
    resolves to its file with no note).
    """
    member = (CALIBRATION_DIR if directory is None else directory) / f"{name}.yaml"
    if _RANKED.match(name) and member.is_file():
        return member, None
    fits = fitted_ranks(name, directory)
    if not fits:
        return None
    if ranks is not None and ranks in fits:
        return fits[ranks], None
    used = nearest_fit(fits, ranks)
    have = ", ".join(str(n) for n in sorted(fits))
    job = "an unknown number of" if ranks is None else str(ranks)
    note = (
        f"no {name} profile is calibrated for {job} ranks (fitted: {have}); "
        f"using {fits[used].stem} ({used} ranks)"
    )
    return fits[used], note
