"""One bounded reader for every JSON trace file commsim imports (``.json`` or ``.json.gz``).

A trace is read whole (``json.loads``), so three inputs used to hang or exhaust memory: a
gzip "bomb" (200 MB of gzip that inflates to 3 GB was decompressed until the machine ran out),
a 2 GB (sparse) file (read for 16 s and then refused as "not JSON"), and a FIFO named like a
trace (``open`` blocks forever). Here the file must be a regular file, its text (inflated) is
read in chunks and refused past :data:`MAX_TRACE_TEXT_B`, and nesting deeper than Python's
recursion limit is refused as such, all naming the file.
"""

from __future__ import annotations

import gzip
import json
import stat
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from simulator.core.errors import InputError

#: Most bytes of JSON text (after gzip) one trace file may hold. Parsed, JSON takes ~5x its
#: text in Python objects (our measurement: tests/fixtures/traces/ddp-2-gloo rank0, 669 KB of
#: text, 5.2x peak under tracemalloc), so a 1 GiB trace needs ~5 GiB: as much as one import
#: should take of a 16-32 GiB workstation. Kineto traces of one profiled step of an 8-GPU job
#: are tens of MB.
MAX_TRACE_TEXT_B: Final[int] = 2**30
_CHUNK_B: Final[int] = 2**24


def read_json_file(
    path: str | Path,
    what: str = "trace",
    pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Parse ``path`` (gzip when it ends in ``.gz``); :class:`InputError` naming it otherwise.
    ``pairs_hook``: :func:`json.loads`' ``object_pairs_hook`` (each object's key/value pairs
    in file order, duplicates included)."""
    p = Path(path)
    text = _read_whole(p, what)
    try:
        return json.loads(text, object_pairs_hook=pairs_hook, parse_int=_int)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON: {exc}", file=str(p)) from None
    except _OutsizedInt as exc:
        raise InputError(str(exc), file=str(p)) from None
    except RecursionError:
        raise InputError(f"not a {what}: JSON nested too deeply", file=str(p)) from None


def read_json_documents(path: str | Path, what: str = "trace") -> list[Any]:
    """Every JSON value of ``path``, written one after another (Chakra's ``chakra_jsonizer``
    writes its messages so, with no separator); the same bounds as :func:`read_json_file`."""
    p = Path(path)
    text = _decoded(p, _read_whole(p, what))
    dec = json.JSONDecoder(parse_int=_int)
    out: list[Any] = []
    at = _skip_space(text, 0)
    try:
        while at < len(text):
            value, at = dec.raw_decode(text, at)
            out.append(value)
            at = _skip_space(text, at)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", file=str(p)) from None
    except RecursionError:
        raise InputError(f"not a {what}: JSON nested too deeply", file=str(p)) from None
    except _OutsizedInt as exc:
        raise InputError(str(exc), file=str(p)) from None
    return out


class _OutsizedInt(Exception):
    """An integer in the JSON text past the float range."""


def _int(text: str) -> int:
    """A JSON integer, refused past the float range: ``"world": 1000...0`` (5,000 digits) was
    "malformed trace: ValueError: Exceeds the limit (4300 digits)" naming neither the file nor
    the number, and 400 digits an ``OverflowError`` wherever it became a float."""
    if len(text.lstrip("-")) > 308:  # 10^308 is the float range's order
        value = int(text) if len(text) < 4000 else None
        if value is None or not _fits_float(value):
            raise _OutsizedInt(
                f"an integer of {len(text.lstrip('-')):,} digits, past the largest number "
                "commsim reads (about 1.8e308)"
            )
        return value
    return int(text)


def _fits_float(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _decoded(p: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not JSON: {exc}", file=str(p)) from None


def _read_whole(p: Path, what: str) -> bytes:
    """The checks of :func:`read_json_file` before parsing, then the (inflated) bytes."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise InputError(f"no such {what} file", file=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InputError(f"is {kind}; expected a {what} file (JSON)", file=str(p))
    if p.suffix != ".gz" and info.st_size > MAX_TRACE_TEXT_B:
        raise InputError(_too_big(p, what), file=str(p))
    return _read_bounded(p, what)


def _read_bounded(p: Path, what: str) -> bytes:
    """The file's bytes (inflated when gzip), refused past :data:`MAX_TRACE_TEXT_B`."""
    parts: list[bytes] = []
    total = 0
    try:
        opener: Any = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rb") as fh:
            while chunk := fh.read(_CHUNK_B):
                total += len(chunk)
                if total > MAX_TRACE_TEXT_B:
                    raise InputError(_too_big(p, what), file=str(p))
                parts.append(chunk)
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read (truncated or corrupt file?): {exc}", file=str(p)) from None
    except zlib.error as exc:
        raise InputError(f"corrupt gzip data: {exc}", file=str(p)) from None
    return b"".join(parts)


def _too_big(p: Path, what: str) -> str:
    inflated = " once inflated" if p.suffix == ".gz" else ""
    return (
        f"holds more than {MAX_TRACE_TEXT_B:,} bytes of JSON{inflated}, the most one {what} "
        "file may hold (parsed, JSON takes ~5x its size in memory)"
    )
