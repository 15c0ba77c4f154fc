"""Strings with units at the edges, SI floats inside.

Parsers turn the strings users write in YAML and on the command line into SI floats:

* :func:`parse_size` -> bytes: ``"64MiB"``, ``"1.5 GB"``, ``"4KiB"``, ``"512B"``, ``"100 Mbit"``.
* :func:`parse_bandwidth` -> bytes/second: ``"400Gbps"`` (= 50e9), ``"400 Gb/s"``, ``"50 GB/s"``,
  ``"25GBps"``, ``"400Mbit/s"``, ``"10 GiB/s"``.
* :func:`parse_time` -> seconds: ``"1.5us"``, ``"1.5µs"``, ``"2 ms"``, ``"10ns"``, ``"1s"``.
* :func:`parse_flops` -> FLOP/s: ``"312 TFLOPS"``, ``"989.4 TFLOP/s"``.

Rules (the classic bugs of this field are bits vs bytes and SI vs binary prefixes):

* ``B``/``byte`` is a byte, ``b``/``bit`` is a bit (1/8 byte). ``Gbps`` is gigabits per second,
  ``GBps`` and ``GB/s`` gigabytes per second.
* SI prefixes are powers of 1000 (``k``/``K``, ``M``, ``G``, ``T``, ``P``, ``E``); binary prefixes
  powers of 1024 (``Ki``, ``Mi``, ``Gi``, ``Ti``, ``Pi``, ``Ei``).
* A rate is written with ``/s`` or ``ps``; a size given where a bandwidth is expected
  (``"400GB"``) is an error, never silently read as per second.
* Spaces between number and unit are allowed; plain numbers (``int``/``float``, or a numeric
  string) are taken as already in SI units.

Formatters (:func:`format_size`, :func:`format_bandwidth`, :func:`format_time`,
:func:`format_flops`) produce display strings with four significant digits that the parsers read
back (to that precision).

Every parser raises :class:`UnitError` (a ``ValueError``) naming the input and what was expected.
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = [
    "MAX_BANDWIDTH_BPS",
    "MAX_COUNT",
    "MAX_SIZE_B",
    "MIN_BANDWIDTH_BPS",
    "UnitError",
    "format_bandwidth",
    "format_flops",
    "format_size",
    "format_time",
    "parse_bandwidth",
    "parse_flops",
    "parse_size",
    "parse_time",
]


MAX_COUNT: Final[int] = 2**31 - 1
"""The largest value of an integer field: the int32 range of the trace formats read and written
(Chakra ET counts, NCCL's ``int`` counts), and a count no machine builds one object per unit of
(a tuple of 2^31 pointers alone is 16 GiB). Not a size limit: ``simulator.limits`` refuses big
jobs far below it; this bound holds even with ``--force`` (``decoder_layers: 10^30`` ended in an
``OverflowError``: a tuple that long cannot exist)."""

#: Largest size any file may give, bytes: 1 EiB (2^60), ~10^4x the memory of the largest
#: shipped cluster (1,024 GPUs x 80 GB = 8e13 B). A size past it is a slip: ``bucket_size: 1e308``
#: or ``2**63`` ran as one bucket without a word.
MAX_SIZE_B: Final[float] = float(2**60)

#: Fastest bandwidth any file may give, bytes/s: 1 PB/s, ~1,000x the fastest link there is
#: (NVLink 5: 900 GB/s per direction per GPU, NVIDIA GB200 NVL72 datasheet). A value past it is
#: a unit slip (1e30 B/s, written as bits or as a bare number).
MAX_BANDWIDTH_BPS: Final[float] = 1e15
#: Slowest bandwidth any file may give, bytes/s: 1 kB/s (8 kbit/s, a seventh of a 56k dial-up
#: modem; the slowest shipped link is the rig's 100 Mbit/s). A value below it is a unit slip
#: (``1 bps`` for ``1 Gbps``, ``1e-300 Gbps``): ``bandwidth: 1e-300 Gbps`` predicted a step of
#: 10^296 s, with exit 0.
MIN_BANDWIDTH_BPS: Final[float] = 1e3


class UnitError(ValueError):
    """A quantity string could not be read: the message names the input and the expected form."""


_SI: Final[dict[str, float]] = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
_BINARY: Final[dict[str, float]] = {
    "Ki": 2.0**10,
    "ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_PREFIXES: Final[dict[str, float]] = {**_SI, **_BINARY}

_NUMBER = r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_QUANTITY_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>.*?)\s*$")

# <prefix><B|b|byte|bytes|bit|bits>
_DATA_UNIT_RE = re.compile(r"^(?P<prefix>[kKMGTPE]i?|)(?P<base>bytes?|bits?|B|b)$")
# <data unit>(/s|ps); "ps" never follows "bytes"/"bits" in common usage, but "Bps"/"bps" do.
_RATE_UNIT_RE = re.compile(
    r"^(?P<prefix>[kKMGTPE]i?|)(?P<base>bytes?|bits?|B|b)\s*(?P<per>/\s*s(?:ec)?|ps)$"
)
_FLOPS_UNIT_RE = re.compile(r"^(?P<prefix>[kKMGTPE]|)(?:flops?|flop/s|flops/s)$", re.IGNORECASE)

_TIME_UNITS: Final[dict[str, float]] = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,  # MICRO SIGN U+00B5
    "μs": 1e-6,  # GREEK SMALL LETTER MU U+03BC
    "ns": 1e-9,
    "ps": 1e-12,
    "min": 60.0,
    "h": 3600.0,
}


def _split(x: object, what: str, example: str) -> tuple[float, str] | float:
    """Return a plain SI number as a float, or ``(number, unit)`` for a string with a unit."""
    if isinstance(x, bool):
        raise UnitError(f"{what}: expected a number or a string like {example!r}, got {x!r}")
    if isinstance(x, int | float):
        try:
            return _check_number(float(x), x, what)
        except OverflowError:  # an int too large for a float
            raise UnitError(f"{what}: {x!r} must be a finite number") from None
    if not isinstance(x, str):
        raise UnitError(f"{what}: expected a number or a string like {example!r}, got {x!r}")
    m = _QUANTITY_RE.match(x)
    if not m:
        raise UnitError(f"{what}: cannot read {x!r}; expected a number and a unit like {example!r}")
    value = _check_number(float(m.group("num")), x, what)
    return value, m.group("unit")


def _check_number(value: float, original: object, what: str) -> float:
    if math.isnan(value) or value < 0 or math.copysign(1.0, value) < 0:  # -0: a sign slip
        raise UnitError(f"{what}: {original!r} must be a non-negative number")
    if math.isinf(value):
        raise UnitError(f"{what}: {original!r} must be a finite number")
    return value


def _finite(value: float, original: object, what: str) -> float:
    """``value`` (a number times its unit's factor), refused when the product overflowed."""
    if not math.isfinite(value):
        raise UnitError(f"{what}: {original!r} is too large (not a finite number of base units)")
    return value


def _data_factor(prefix: str, base: str, original: object, what: str) -> float:
    """Bytes per unit of ``<prefix><base>`` (base: B/byte or b/bit).

    ``kib`` (all lower case, as ``gib`` would be) is refused: it reads as kibibits (1/8 of what
    ``KiB`` is) while whoever writes it in lower case means bytes as often as bits.
    """
    if prefix == "ki" and base == "b":
        raise UnitError(
            f"{what}: {original!r} is ambiguous: write 'KiB' (kibibytes) or 'Kibit' (kibibits)"
        )
    per_unit = 1.0 if base in ("B", "byte", "bytes") else 1.0 / 8.0
    return _PREFIXES[prefix] * per_unit


def parse_size(x: str | float) -> float:
    """Read a size; return bytes (float).

    ``"64MiB"`` -> 67108864.0, ``"1.5 GB"`` -> 1.5e9, ``"100 Mbit"`` -> 12.5e6; numbers pass
    through as bytes. Raises :class:`UnitError` on anything else (a rate such as ``"1GB/s"``
    included).
    """
    what = "size"
    split = _split(x, what, "64MiB")
    if isinstance(split, float):
        return split
    value, unit = split
    if unit == "":
        return value
    m = _DATA_UNIT_RE.match(unit)
    if not m:
        if _RATE_UNIT_RE.match(unit):
            raise UnitError(f"{what}: {x!r} is a bandwidth, not a size; write e.g. '64MiB'")
        raise UnitError(
            f"{what}: unknown unit {unit!r} in {x!r}; use B/KB/MB/GB (SI), KiB/MiB/GiB (binary) "
            "or bits (b, Mbit)"
        )
    size = _finite(value * _data_factor(m.group("prefix"), m.group("base"), x, what), x, what)
    if m.group("base") in ("b", "bit", "bits") and size != math.floor(size):
        # "3b" is 0.375 bytes: a slip for "3B" far more often than a size in bits
        raise UnitError(
            f"{what}: {x!r} is {size:g} bytes, not a whole number (b is bits, B is bytes)"
        )
    return size


def parse_bandwidth(x: str | float) -> float:
    """Read a bandwidth; return bytes/second (float).

    ``"400Gbps"`` -> 50e9 (bits!), ``"50 GB/s"`` -> 50e9, ``"25GBps"`` -> 25e9,
    ``"400Mbit/s"`` -> 50e6, ``"1 GiB/s"`` -> 2**30; numbers pass through as B/s.
    A size without ``/s`` or ``ps`` (``"400GB"``) raises :class:`UnitError`.
    """
    what = "bandwidth"
    split = _split(x, what, "400Gbps")
    if isinstance(split, float):
        return split
    value, unit = split
    if unit == "":
        return value
    m = _RATE_UNIT_RE.match(unit)
    if not m:
        if _DATA_UNIT_RE.match(unit):
            raise UnitError(
                f"{what}: {x!r} is a size; a bandwidth needs /s or ps (e.g. '{value:g} {unit}/s' "
                f"for bytes or '400Gbps' for bits per second)"
            )
        raise UnitError(
            f"{what}: unknown unit {unit!r} in {x!r}; write e.g. '400Gbps' (bits/s), "
            "'50 GB/s' or '25GBps' (bytes/s), '10 GiB/s'"
        )
    return _finite(value * _data_factor(m.group("prefix"), m.group("base"), x, what), x, what)


def parse_time(x: str | float) -> float:
    """Read a duration; return seconds (float).

    ``"1.5us"``/``"1.5µs"`` -> 1.5e-6, ``"2 ms"`` -> 2e-3, ``"10ns"`` -> 1e-8, ``"1s"`` -> 1.0;
    numbers pass through as seconds.
    """
    what = "time"
    split = _split(x, what, "1.5us")
    if isinstance(split, float):
        return split
    value, unit = split
    if unit not in _TIME_UNITS:
        raise UnitError(
            f"{what}: unknown unit {unit!r} in {x!r}; use s, ms, us (or µs), ns, ps, min or h"
        )
    return _finite(value * _TIME_UNITS[unit], x, what)


def parse_flops(x: str | float) -> float:
    """Read a compute rate; return FLOP/s (float).

    ``"312 TFLOPS"`` -> 312e12, ``"989.4 TFLOP/s"`` -> 989.4e12; numbers pass through.
    """
    what = "flops"
    split = _split(x, what, "312 TFLOPS")
    if isinstance(split, float):
        return split
    value, unit = split
    if unit == "":
        return value
    m = _FLOPS_UNIT_RE.match(unit)
    if not m:
        raise UnitError(f"{what}: unknown unit {unit!r} in {x!r}; write e.g. '312 TFLOPS'")
    return _finite(value * _SI[m.group("prefix").upper()], x, what)


# --------------------------------------------------------------------------- formatting


def _format(value: float, steps: list[tuple[float, str]], unit_zero: str) -> str:
    """Pick the largest step whose factor is <= |value|; four significant digits."""
    if not math.isfinite(value):
        return f"{value} {unit_zero}"
    if value == 0:
        return f"0 {unit_zero}"
    mag = abs(value)
    factor, label = steps[-1]
    for f, lab in steps:
        if mag >= f * (1 - 5e-5):  # 999.99 rounds to 1000: show as 1 of the next unit
            factor, label = f, lab
            break
    return f"{value / factor:.4g} {label}"


_SIZE_STEPS = [
    (2.0**60, "EiB"),
    (2.0**50, "PiB"),
    (2.0**40, "TiB"),
    (2.0**30, "GiB"),
    (2.0**20, "MiB"),
    (2.0**10, "KiB"),
    (1.0, "B"),
]
_BW_STEPS = [
    (1e18, "EB/s"),
    (1e15, "PB/s"),
    (1e12, "TB/s"),
    (1e9, "GB/s"),
    (1e6, "MB/s"),
    (1e3, "kB/s"),
    (1.0, "B/s"),
]
_TIME_STEPS = [(1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"), (1e-12, "ps")]
_FLOPS_STEPS = [
    (1e18, "EFLOP/s"),
    (1e15, "PFLOP/s"),
    (1e12, "TFLOP/s"),
    (1e9, "GFLOP/s"),
    (1e6, "MFLOP/s"),
    (1e3, "kFLOP/s"),
    (1.0, "FLOP/s"),
]


def format_size(size_B: float) -> str:
    """Bytes for display with binary prefixes: ``format_size(2**26)`` -> ``"64 MiB"``."""
    return _format(size_B, _SIZE_STEPS, "B")


def format_bandwidth(bandwidth_Bps: float) -> str:
    """Bytes/second for display with SI prefixes: ``format_bandwidth(50e9)`` -> ``"50 GB/s"``."""
    return _format(bandwidth_Bps, _BW_STEPS, "B/s")


def format_time(time_s: float) -> str:
    """Seconds for display: ``format_time(1.5e-6)`` -> ``"1.5 us"`` (seconds at most)."""
    if math.isfinite(time_s) and abs(time_s) >= 1.0:
        return f"{time_s:.4g} s"
    return _format(time_s, _TIME_STEPS, "s")


def format_flops(flops: float) -> str:
    """FLOP/s for display: ``format_flops(312e12)`` -> ``"312 TFLOP/s"``."""
    return _format(flops, _FLOPS_STEPS, "FLOP/s")
