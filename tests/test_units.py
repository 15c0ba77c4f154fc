"""simulator.core.units: a table of cases, errors, and format -> parse round trips."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.units import (
    UnitError,
    format_bandwidth,
    format_flops,
    format_size,
    format_time,
    parse_bandwidth,
    parse_flops,
    parse_size,
    parse_time,
)

SIZES = [
    ("64MiB", 64 * 2**20),
    ("1GiB", 2**30),
    ("1.5 GB", 1.5e9),
    ("4KiB", 4096),
    ("4 kiB", 4096),
    ("512B", 512),
    ("1 kB", 1000),
    ("1KB", 1000),
    ("2 TB", 2e12),
    ("1 TiB", 2**40),
    ("100 Mbit", 12.5e6),
    ("8b", 1),
    ("8 bits", 1),
    ("3 bytes", 3),
    ("1e3 MB", 1e9),
    (".5GiB", 2**29),
    ("  7  ", 7),
    (1024, 1024),
    (2.5, 2.5),
]

BANDWIDTHS = [
    ("400Gbps", 50e9),
    ("400 Gb/s", 50e9),
    ("400 Gbit/s", 50e9),
    ("50 GB/s", 50e9),
    ("900GB/s", 900e9),
    ("25GBps", 25e9),
    ("400Mbit/s", 50e6),
    ("400Mbps", 50e6),
    ("10 GiB/s", 10 * 2**30),
    ("1 GiBps", 2**30),
    ("100 Kbps", 12.5e3),
    ("100 kbps", 12.5e3),
    ("1 Tbps", 125e9),
    ("8 bps", 1.0),
    ("1 B/s", 1.0),
    ("1 bytes/s", 1.0),
    ("200 Gb / s", 25e9),
    (12.5e9, 12.5e9),
]

TIMES = [
    ("1.5us", 1.5e-6),
    ("1.5µs", 1.5e-6),
    ("1.5μs", 1.5e-6),
    ("1.5 us", 1.5e-6),
    ("2 ms", 2e-3),
    ("10ns", 1e-8),
    ("1s", 1.0),
    ("3 ps", 3e-12),
    ("2 min", 120.0),
    ("0.5", 0.5),
    (0.25, 0.25),
]

FLOPS = [
    ("312 TFLOPS", 312e12),
    ("989.4 TFLOP/s", 989.4e12),
    ("19.5 TFLOPs", 19.5e12),
    ("1 PFLOPS", 1e15),
    ("5 tflops", 5e12),
    ("100 GFLOP/s", 100e9),
    (1e12, 1e12),
]


@pytest.mark.parametrize(("text", "expected"), SIZES)
def test_parse_size(text: str | float, expected: float) -> None:
    assert parse_size(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("text", "expected"), BANDWIDTHS)
def test_parse_bandwidth(text: str | float, expected: float) -> None:
    assert parse_bandwidth(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_parse_time(text: str | float, expected: float) -> None:
    assert parse_time(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("text", "expected"), FLOPS)
def test_parse_flops(text: str | float, expected: float) -> None:
    assert parse_flops(text) == pytest.approx(expected, rel=1e-12)


def test_bits_are_not_bytes() -> None:
    assert parse_bandwidth("400Gbps") * 8 == parse_bandwidth("400GBps")


def test_size_as_bandwidth_needs_per_second() -> None:
    with pytest.raises(UnitError, match=r"/s or ps"):
        parse_bandwidth("400GB")
    with pytest.raises(UnitError, match=r"/s or ps"):
        parse_bandwidth("400 Gbit")


def test_bandwidth_as_size_is_rejected() -> None:
    with pytest.raises(UnitError, match="bandwidth, not a size"):
        parse_size("1GB/s")


@pytest.mark.parametrize(
    ("parser", "bad"),
    [
        (parse_size, "64 MiBs"),
        (parse_size, "lots"),
        (parse_size, "-1 GB"),
        (parse_size, "1 XB"),
        (parse_size, True),
        (parse_size, None),
        (parse_bandwidth, "fast"),
        (parse_bandwidth, "10 Gbpm"),
        (parse_time, "1 fortnight"),
        (parse_time, "1 us us"),
        (parse_time, "nan"),
        (parse_flops, "312 TOPS"),
    ],
)
def test_bad_inputs_raise_unit_error(parser: object, bad: object) -> None:
    with pytest.raises(UnitError):
        parser(bad)  # type: ignore[operator]


def test_unit_error_is_value_error_and_names_input() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        parse_time("1 fortnight")


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        (format_size, 2**26, "64 MiB"),
        (format_size, 512, "512 B"),
        (format_size, 0, "0 B"),
        (format_bandwidth, 50e9, "50 GB/s"),
        (format_bandwidth, 12.5e6, "12.5 MB/s"),
        (format_time, 1.5e-6, "1.5 us"),
        (format_time, 2e-3, "2 ms"),
        (format_time, 90.0, "90 s"),
        (format_flops, 312e12, "312 TFLOP/s"),
    ],
)
def test_format(fmt: object, value: float, text: str) -> None:
    assert fmt(value) == text  # type: ignore[operator]


_positive = st.floats(min_value=1e-15, max_value=1e21, allow_nan=False, allow_infinity=False)


@given(_positive)
def test_size_round_trip(x: float) -> None:
    assert math.isclose(parse_size(format_size(x)), x, rel_tol=5e-4)


@given(_positive)
def test_bandwidth_round_trip(x: float) -> None:
    assert math.isclose(parse_bandwidth(format_bandwidth(x)), x, rel_tol=5e-4)


@given(_positive)
def test_time_round_trip(x: float) -> None:
    assert math.isclose(parse_time(format_time(x)), x, rel_tol=5e-4)


@given(_positive)
def test_flops_round_trip(x: float) -> None:
    assert math.isclose(parse_flops(format_flops(x)), x, rel_tol=5e-4)


@given(st.floats(min_value=0, max_value=1e6), st.sampled_from(["", " "]))
def test_parse_size_of_formatted_number_with_unit(x: float, sep: str) -> None:
    assert math.isclose(parse_size(f"{x!r}{sep}MiB"), x * 2**20, rel_tol=1e-12, abs_tol=1e-300)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_bandwidth, "1e308Gbit/s"),
        (parse_size, "1e305TiB"),
        (parse_time, "1e307h"),
        (parse_flops, "1e300TFLOPS"),
    ],
)
def test_a_unit_that_overflows_is_refused(parse: Callable[[str], float], text: str) -> None:
    with pytest.raises(UnitError, match="too large"):
        parse(text)
