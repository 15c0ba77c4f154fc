"""Finding the data that ships with commsim: ``topologies/`` and ``scenarios/``.

A source checkout (editable install) reads the repository's top-level folders; a wheel carries
them under ``simulator/_shipped/`` (symlinks in the checkout, copied into the wheel).
"""

from __future__ import annotations

from pathlib import Path

from simulator.core.errors import InputError

_PKG = Path(__file__).resolve().parent


def shipped_dir(kind: str) -> Path:
    """The folder holding the shipped ``kind`` ("topologies" or "scenarios")."""
    for candidate in (_PKG.parent / kind, _PKG / "_shipped" / kind):
        if candidate.is_dir():
            return candidate
    raise InputError(f"no shipped {kind} folder found next to {_PKG}")


def shipped_names(kind: str) -> list[str]:
    """Names (file stems) of the shipped YAML files of ``kind``, sorted."""
    return sorted(p.stem for p in shipped_dir(kind).glob("*.yaml"))


def resolve(kind: str, name_or_path: str | Path, *, what: str) -> Path:
    """Resolve a user's NAME or PATH to an existing YAML file.

    A path that exists wins; otherwise ``NAME`` (with or without ``.yaml``) is looked up among
    the shipped ``kind``. Raises :class:`InputError` listing the shipped names when not found.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name
    if p.parent == Path("."):
        candidate = shipped_dir(kind) / f"{stem}.yaml"
        if candidate.is_file():
            return candidate
    names = ", ".join(shipped_names(kind)) or "(none)"
    raise InputError(
        f"no such file, and no shipped {what} of that name (shipped: {names})",
        file=str(name_or_path),
    )
