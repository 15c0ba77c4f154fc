"""Writing outputs without losing anything the user had: checked directories, atomic files.

* :func:`check_out_dir` refuses (``InputError``, exit 2) a DIR that is a file, lies under a file,
  or is non-empty without commsim's marker file :data:`MARKER`, unless ``--force``.
* :func:`prepare_out_dir` creates DIR and writes the marker (so a half-written DIR is ours).
* :func:`atomic_write_text` and :func:`atomic_path` write to a temporary file beside the target
  and rename it over the target only when the write succeeded (``os.replace`` is atomic on
  POSIX): a reader sees the old file or the new one, never half of one.
* :func:`unique_names` turns variant names into folder names that never collide.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from simulator.core.errors import InputError
from simulator.limits import is_forced

#: File that marks a directory as written by commsim (its files may be overwritten).
MARKER = ".commsim-output"
MARKER_TEXT = "written by commsim; files here may be overwritten by the next commsim run\n"


def _file_above(path: Path) -> Path | None:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def check_no_dead_link(path: Path, field: str) -> None:
    """Refuse a path that is, or lies under, a symbolic link leading nowhere (dangling, or a
    loop): ``mkdir`` raised ``FileExistsError`` and writing would follow the link elsewhere
    (until 2026-12-06 ``--chakra-out`` was a traceback, ``replay --out`` a "malformed trace")."""
    for p in [path, *path.parents]:
        if p.is_symlink() and not p.exists():
            raise InputError(
                f"{p} is a symbolic link that leads nowhere (dangling, or a loop)",
                file=str(path),
                field=field,
            )


def check_out_dir(out: Path, field: str = "--out") -> None:
    """Refuse a DIR that commsim must not write into (see the module docstring)."""
    check_no_dead_link(out, field)
    blocker = _file_above(out)
    if blocker is not None:
        what = "exists and is not a directory" if blocker == out else f"{blocker} is a file"
        raise InputError(what, file=str(out), field=field)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file() and not is_forced():
        raise InputError(
            "directory is not empty and was not written by commsim; choose a new or empty "
            "directory (--force writes into it)",
            file=str(out),
            field=field,
        )


def prepare_out_dir(out: Path, field: str = "--out") -> None:
    """Create DIR (parents too) and write the marker; ``InputError`` if that fails."""
    check_out_dir(out, field)
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / MARKER, MARKER_TEXT)
    except OSError as exc:
        raise InputError(
            f"cannot create: {exc.strerror or exc}", file=str(out), field=field
        ) from None


def check_new_file(path: Path, field: str) -> None:
    """Refuse to replace an existing file the user gave (unless ``--force``)."""
    check_no_dead_link(path, field)
    blocker = _file_above(path.parent)
    if blocker is not None:
        raise InputError(f"{blocker} is a file", file=str(path), field=field)
    if path.is_dir():
        raise InputError("is a directory, expected a file name", file=str(path), field=field)
    if path.exists() and not is_forced():
        raise InputError(
            "file exists; choose another name (--force overwrites it)", file=str(path), field=field
        )


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read by setting it back at once
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """Permission bits for a file written over ``target``: the old file's when it exists, else
    those of a plain ``open(target, "w")`` (0o666 less the umask). ``mkstemp`` makes 0o600,
    which left every ``--out`` file and plot unreadable to the user's group (until 2026-12-06)."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffix); rename it over ``target`` on
    success, remove it on failure."""
    target = Path(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_text(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def safe_name(name: str, index: int) -> str:
    """A folder name from a variant name: its last ``/`` part, unsafe characters as ``_``."""
    tail = name.rsplit("/", 1)[-1]
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", tail).strip("._")
    return clean or f"variant{index}"


def unique_names(names: Sequence[str]) -> list[str]:
    """Folder names for ``names``: :func:`safe_name`, then ``-2``, ``-3``... on a collision
    (compared case-insensitively, for case-insensitive file systems)."""
    out: list[str] = []
    taken: set[str] = set()
    for i, name in enumerate(names):
        base = safe_name(name, i)
        cand, k = base, 1
        while cand.lower() in taken:
            k += 1
            cand = f"{base}-{k}"
        taken.add(cand.lower())
        out.append(cand)
    return out
