"""Prices per GPU-hour for ``commsim plan``: the catalogue's assumptions, or the user's file.

A price file is YAML, one entry per GPU (catalogue names, case-insensitive: V100, A100-40GB,
A100-80GB, H100-SXM, H200, B200, MI300X, L40S), USD per GPU-hour::

    # my-prices.yaml: our contract
    A100-80GB: 1.60
    H100-SXM: {usd: 2.40, source: "2026 reserved-instance contract"}

GPUs the file does not name keep the shipped assumption
(``simulator/data/hardware.yaml``, ``price_per_gpu_hour``). Mistakes raise
:class:`~simulator.core.errors.InputError` naming the file and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.hardware import get_gpu
from simulator.safeyaml import load_yaml_file

#: Dearest price a file may give, USD per GPU-hour: 10,000, ~1,000x the catalogue's dearest
#: assumption (simulator/data/hardware.yaml). ``A100-80GB: 1e308`` printed a 300-digit cost per
#: step that broke the table (exit 0).
MAX_USD_PER_GPU_HOUR = 1e4


@dataclass(frozen=True, slots=True)
class Price:
    """USD per GPU-hour and where it comes from."""

    usd_per_gpu_hour: float
    source: str


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read a price file (see the module docstring); keys are catalogue GPU names."""
    file = str(path)
    data = load_yaml_file(path)  # bounded, regular files only, duplicate keys refused
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping of GPU name -> USD per GPU-hour", file=file)
    out: dict[str, Price] = {}
    for name, value in data.items():
        try:
            gpu = get_gpu(str(name)).name
        except InputError as err:
            raise InputError(str(err), file=file, field=str(name)) from None
        usd, source = _entry(value, file, str(name))
        out[gpu] = Price(usd, source or f"{file} (user price file)")
    return out


def _entry(value: Any, file: str, field: str) -> tuple[float, str]:
    source = ""
    if isinstance(value, dict):
        unknown = set(value) - {"usd", "source"}
        if unknown or "usd" not in value:
            raise InputError(
                "expected a number or {usd: NUMBER, source: TEXT}", file=file, field=field
            )
        source = str(value.get("source", ""))
        value = value["usd"]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_USD_PER_GPU_HOUR  # an infinite price makes every cost inf
    ):
        raise InputError(
            f"expected a positive price in USD per GPU-hour, at most {MAX_USD_PER_GPU_HOUR:,.0f}, "
            f"got {value!r}",
            file=file,
            field=field,
        )
    return float(value), source


def price_of(gpu: str, prices: dict[str, Price] | None = None) -> Price | None:
    """The user's price for ``gpu`` if given, else the catalogue's assumption (None: unknown)."""
    try:
        spec = get_gpu(gpu)
    except InputError:
        return None
    if prices and spec.name in prices:
        return prices[spec.name]
    return Price(spec.price_per_gpu_hour_usd, f"assumption: {spec.price_source}")
