"""Finding the data that ships with commsim: the one resolver for shipped files.

* ``topologies/`` and ``scenarios/``: a source checkout (editable install) reads the
  repository's top-level folders; a wheel carries them under ``simulator/_shipped/`` (symlinks
  in the checkout, copied into the wheel).
* package data under ``simulator/data/`` (:func:`data_file`): ``backends/`` (a kind of its own
  for :func:`resolve`), ``calibration/``, ``hardware.yaml``, ``published.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from simulator.core.errors import InputError

_PKG = Path(__file__).resolve().parent


#: kinds of shipped YAML kept as package data (the others are top-level folders of the repo)
_DATA_KINDS = ("backends", "calibration")


def data_file(*parts: str) -> Path:
    """A path under the package's ``data/`` folder (``data_file("hardware.yaml")``)."""
    return _PKG.joinpath("data", *parts)


def shipped_dir(kind: str) -> Path:
    """The folder holding the shipped ``kind`` ("topologies", "scenarios", "backends", ...)."""
    if kind in _DATA_KINDS:
        return data_file(kind)
    for candidate in (_PKG.parent / kind, _PKG / "_shipped" / kind):
        if candidate.is_dir():
            return candidate
    raise InputError(f"no shipped {kind} folder found next to {_PKG}")


def shipped_names(kind: str) -> list[str]:
    """Names (file stems) of the shipped YAML files of ``kind``, sorted."""
    return sorted(p.stem for p in shipped_dir(kind).glob("*.yaml"))


def resolve(kind: str, name_or_path: str | Path, *, what: str, field: str | None = None) -> Path:
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
    if p.exists() and p.parent != Path("."):  # a directory, a FIFO, a device: not a YAML file
        kind_s = "a directory" if p.is_dir() else "not a regular file"
        raise InputError(f"is {kind_s}; expected a YAML file", file=str(name_or_path), field=field)
    from simulator.core.suggest import hint

    names = ", ".join(shipped_names(kind)) or "(none)"
    near = hint(stem, shipped_names(kind))
    raise InputError(
        f"no such file, and no shipped {what} of that name{near} (shipped: {names})",
        file=str(name_or_path),
        field=field,
    )
