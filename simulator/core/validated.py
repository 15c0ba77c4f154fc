"""Validated inputs remembered across processes, so that start-up skips pydantic when it can.

Importing pydantic and building the schema models costs about 0.1 s per process, more than
half of what a small simulation takes (docs/decisions.md, 2026-12-05). Most runs read the same
files again: the shipped topology, the ``nccl`` profile, the hardware catalog.
:func:`validated` runs ``produce`` (parse, validate with pydantic, convert to commsim's own
frozen dataclasses) once per distinct input and keeps the product, pickled, in the user's cache
directory. A later process that reads the same input gets the product back without importing
pydantic.

The key of an entry is the SHA-256 of everything the product depends on:

* the input (``key``: a file's text, or a parsed mapping by its ``repr``, which tells ``1``,
  ``1.0``, ``True`` and ``"1"`` apart) and the file name shown in messages;
* the source of every module of the ``simulator`` package (any edit of commsim, a schema or a
  converter included, starts afresh), and the versions of pydantic and PyYAML (the text of
  their version modules) and of Python.

A changed file, or changed code, is validated again. Only successes are kept (a bad input
raises from ``produce`` every time, with the same message). A product whose pickle refers to
pydantic (a schema instance) is not kept, since reading it back would import pydantic anyway.

Where: ``$COMMSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/commsim``, else ``~/.cache/commsim``
(subfolder ``validated``). ``COMMSIM_NO_CACHE=1`` turns it off. An entry that cannot be read
(truncated, another Python) is a miss; a folder that cannot be written keeps nothing; neither is
ever an error. Entries are written to a temporary file and renamed, so concurrent processes see
a whole entry or none. The folder holds pickles: like ``__pycache__``, it must be writable by
its owner only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Final, TypeVar

_T = TypeVar("_T")

#: The ``simulator`` package folder, whose sources are part of every key.
PACKAGE_DIR: Final[Path] = Path(__file__).resolve().parent.parent
#: Most entries kept; beyond, the older half is removed (an entry is a few KB).
MAX_ENTRIES: Final[int] = 1000
#: Third-party packages whose version changes a product (validation, YAML parsing).
_VERSIONED: Final[tuple[tuple[str, str], ...]] = (
    ("pydantic", "version.py"),
    ("yaml", "__init__.py"),
)


def cache_dir() -> Path | None:
    """The folder entries live in, or ``None`` when the cache is turned off (or there is no
    home directory to put it in)."""
    if os.environ.get("COMMSIM_NO_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("COMMSIM_CACHE_DIR")
    if root:
        return Path(root) / "validated"
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        base = Path(xdg) if xdg else Path.home() / ".cache"
    except RuntimeError:  # no home directory known: nothing kept
        return None
    return base / "commsim" / "validated"


@cache
def code_fingerprint() -> bytes:
    """SHA-256 of the package sources, the third-party versions and Python's (once a process:
    the code a process runs does not change while it runs)."""
    h = hashlib.sha256(sys.version.encode())
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = Path(dirpath, name)
                h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0")
                h.update(path.read_bytes())
    for package, version_file in _VERSIONED:
        spec = importlib.util.find_spec(package)
        origin = spec.origin if spec is not None else None
        h.update(package.encode() + b"\0")
        if origin is not None:
            h.update(Path(origin).with_name(version_file).read_bytes())
    return h.digest()


def entry_key(kind: str, key: object, file: str) -> str:
    """The name of the entry for input ``key`` of ``kind`` read from ``file`` (hex SHA-256)."""
    h = hashlib.sha256(code_fingerprint())
    for part in (kind, file, key if isinstance(key, str) else repr(key)):
        h.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def plain(value: object) -> bool:
    """Whether ``value`` is data whose ``repr`` says all of it (what YAML and JSON give:
    strings, numbers, booleans, ``None``, lists and mappings of them)."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(plain(k) and plain(v) for k, v in value.items())
    return False


def validated(kind: str, key: object, file: str, produce: Callable[[], _T]) -> _T:
    """``produce()``, or the product an earlier process kept for the same ``kind``, ``key``
    (the input), ``file`` and code (see the module docstring). A ``key`` that is not
    :func:`plain` data is not looked up nor kept."""
    folder = cache_dir()
    if folder is None or not plain(key):
        return produce()
    path = folder / entry_key(kind, key, file)
    try:
        with path.open("rb") as fh:
            product: _T = pickle.load(fh)
        return product
    except Exception:  # missing, truncated or foreign entry: a miss
        pass
    product = produce()
    _store(path, product)
    return product


def _store(path: Path, product: object) -> None:
    """Keep ``product`` at ``path`` (atomically), unless it refers to pydantic or cannot be
    pickled or written."""
    try:
        blob = pickle.dumps(product, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not picklable: nothing kept
        return
    if b"pydantic" in blob:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Above :data:`MAX_ENTRIES` entries, remove the older half (by modification time)."""
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda p: p.stat().st_mtime_ns)
        for old in entries[: len(entries) // 2]:
            old.unlink(missing_ok=True)
    except OSError:
        return
