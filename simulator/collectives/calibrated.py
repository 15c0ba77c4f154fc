"""Calibrated backend profiles by name, picked for the job's rank count.

``commsim measure``/``rig calibrate`` fit a gloo profile per rank count on the emulated rig
(simulator/measure/calibrate.py, docs/rig.md): gloo's per-message cost there depends on how many
ranks share the machine's cores, so ``gloo-rig.yaml`` holds the 2-rank fit and
``gloo-rig-<N>rank.yaml`` the N-rank one, all in ``simulator/data/calibration/``. Asking for the
family by name (``--backend gloo-rig``) resolves to the fit of the job's own rank count; a rank
count without a fit of its own gets the 2-rank fit, and :func:`resolve` says so (the caller
reports it: :class:`CalibrationFallbackWarning`).
"""

from __future__ import annotations

import re
from pathlib import Path

from simulator.resources import shipped_dir

#: Where calibrated profiles live (the same directory simulator/measure/calibrate.py writes).
CALIBRATION_DIR = shipped_dir("calibration")
#: The rank count of a family's base file (``gloo-rig.yaml``: fitted on rig-2host).
BASE_RANKS = 2

_RANKED = re.compile(r"^(?P<family>.+)-(?P<n>\d+)rank$")


class CalibrationFallbackWarning(UserWarning):
    """A calibrated family has no fit for the job's rank count; another fit was used."""


def families() -> list[str]:
    """Names of the calibrated families shipped (``gloo-rig``)."""
    return sorted(p.stem for p in CALIBRATION_DIR.glob("*.yaml") if not _RANKED.match(p.stem))


def fitted_ranks(family: str) -> dict[int, Path]:
    """Rank count -> profile file of one family (the base file counts as ``BASE_RANKS``)."""
    out: dict[int, Path] = {}
    base = CALIBRATION_DIR / f"{family}.yaml"
    if base.is_file():
        out[BASE_RANKS] = base
    for p in CALIBRATION_DIR.glob(f"{family}-*rank.yaml"):
        m = _RANKED.match(p.stem)
        if m and m.group("family") == family:
            out[int(m.group("n"))] = p
    return out


def resolve(name: str, ranks: int | None) -> tuple[Path, str | None] | None:
    """The profile file for calibrated family ``name`` and a job of ``ranks`` ranks.

    Returns ``(path, note)``: ``note`` is ``None`` when the file was fitted with exactly that
    many ranks, else one sentence naming the profile used instead. ``None`` when ``name`` is
    not a calibrated family (or a family member's own name such as ``gloo-rig-4rank``, which
    resolves to its file with no note).
    """
    member = CALIBRATION_DIR / f"{name}.yaml"
    if _RANKED.match(name) and member.is_file():
        return member, None
    fits = fitted_ranks(name)
    if not fits:
        return None
    if ranks is not None and ranks in fits:
        return fits[ranks], None
    used = BASE_RANKS if BASE_RANKS in fits else min(fits)
    have = ", ".join(str(n) for n in sorted(fits))
    job = "an unknown number of" if ranks is None else str(ranks)
    note = (
        f"no {name} profile is calibrated for {job} ranks (fitted: {have}); "
        f"using {fits[used].stem} ({used} ranks)"
    )
    return fits[used], note
