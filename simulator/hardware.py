"""The hardware catalog: GPUs and links with their spec-sheet figures and sources.

Data lives in ``simulator/data/hardware.yaml`` (figures written with units, each with the vendor
document it comes from); this module reads it once into frozen dataclasses in SI units.

* :func:`get_gpu` -> :class:`GpuSpec` (dense peak FLOP/s per dtype, HBM capacity/bandwidth,
  scale-up link and its per-direction bandwidth per GPU, price per GPU-hour as an assumption).
* :func:`get_link` -> :class:`LinkSpec` (per-direction bandwidth of one port/link, hop latency).
* :func:`gpu_names`, :func:`link_names`, :func:`wan_latency_per_km_s`.

Names are matched case-insensitively; unknown names raise :class:`~simulator.core.errors.InputError`
listing the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from simulator.core.errors import InputError
from simulator.core.units import parse_bandwidth, parse_flops, parse_size, parse_time
from simulator.resources import data_file


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One accelerator. FLOP/s are dense peaks; ``None`` where the dtype has no tensor path.

    Attributes:
        name, description: catalog key and long name.
        bf16_flops, fp16_flops, tf32_flops, fp32_flops: dense peak FLOP/s.
        hbm_B: memory capacity, bytes (SI: 80 GB = 80e9).
        hbm_bandwidth_Bps: memory bandwidth, B/s.
        scaleup_link: catalog link name of the GPU-GPU fabric (``nvlink3``...), ``None`` if none.
        scaleup_bandwidth_Bps: per-GPU scale-up bandwidth **per direction**, B/s (0 if none).
        pcie: catalog link name of the host interface (``pcie4``...).
        source: vendor documents of the figures.
        price_per_gpu_hour_usd: editable default; ``price_is_assumption`` and ``price_source``
            say where it comes from.
    """

    name: str
    description: str
    bf16_flops: float | None
    fp16_flops: float | None
    tf32_flops: float | None
    fp32_flops: float
    hbm_B: float
    hbm_bandwidth_Bps: float
    scaleup_link: str | None
    scaleup_bandwidth_Bps: float
    pcie: str
    source: str
    price_per_gpu_hour_usd: float
    price_is_assumption: bool
    price_source: str

    @property
    def nvlink_generation(self) -> int | None:
        """NVLink generation (2..5), ``None`` for GPUs without NVLink."""
        if self.scaleup_link and self.scaleup_link.startswith("nvlink"):
            return int(self.scaleup_link.removeprefix("nvlink"))
        return None

    @property
    def nvlink_bandwidth_Bps(self) -> float:
        """Per-GPU NVLink bandwidth per direction, B/s (0 without NVLink)."""
        return self.scaleup_bandwidth_Bps if self.nvlink_generation else 0.0

    def peak_flops(self, dtype: str = "bf16") -> float:
        """Dense peak FLOP/s for ``dtype`` (bf16, fp16, tf32, fp32); falls back to fp16 for bf16
        on GPUs without bf16 (Volta) and to fp32 for tf32. Raises ``InputError`` otherwise."""
        table = {
            "bf16": self.bf16_flops or self.fp16_flops,
            "fp16": self.fp16_flops,
            "tf32": self.tf32_flops or self.fp32_flops,
            "fp32": self.fp32_flops,
        }
        value = table.get(dtype)
        if value is None:
            raise InputError(f"no {dtype} rate for GPU {self.name}", field="dtype")
        return value


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One link / port technology: per-direction bandwidth (B/s) and one-hop latency (s)."""

    name: str
    kind: str
    bandwidth_Bps: float
    latency_s: float
    source: str
    latency_is_assumption: bool
    latency_source: str


@cache
def _catalog() -> dict[str, Any]:
    text = data_file("hardware.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    gpus = {k.lower(): _gpu(k, v) for k, v in data["gpus"].items()}
    links = {k.lower(): _link(k, v) for k, v in data["links"].items()}
    return {
        "gpus": gpus,
        "gpu_names": list(data["gpus"]),
        "links": links,
        "link_names": list(data["links"]),
        "wan_latency_per_km_s": parse_time(data["wan_latency_per_km"]),
        "wan_latency_per_km_source": data["wan_latency_per_km_source"],
    }


def _gpu(name: str, d: dict[str, Any]) -> GpuSpec:
    fl = d["flops"]
    price = d["price_per_gpu_hour"]

    def opt(key: str) -> float | None:
        return parse_flops(fl[key]) if key in fl else None

    return GpuSpec(
        name=name,
        description=d["description"],
        bf16_flops=opt("bf16"),
        fp16_flops=opt("fp16"),
        tf32_flops=opt("tf32"),
        fp32_flops=parse_flops(fl["fp32"]),
        hbm_B=parse_size(d["hbm"]),
        hbm_bandwidth_Bps=parse_bandwidth(d["hbm_bandwidth"]),
        scaleup_link=d["scaleup_link"],
        scaleup_bandwidth_Bps=parse_bandwidth(d["scaleup_bandwidth"]),
        pcie=d["pcie"],
        source=d["source"],
        price_per_gpu_hour_usd=float(price["usd"]),
        price_is_assumption=bool(price["assumption"]),
        price_source=price["source"],
    )


def _link(name: str, d: dict[str, Any]) -> LinkSpec:
    lat = d["latency_source"]
    return LinkSpec(
        name=name,
        kind=d["kind"],
        bandwidth_Bps=parse_bandwidth(d["bandwidth"]),
        latency_s=parse_time(d["latency"]),
        source=d["source"],
        latency_is_assumption=bool(lat["assumption"]),
        latency_source=lat["reason"],
    )


def gpu_names() -> list[str]:
    """Catalog GPU names in file order."""
    return list(_catalog()["gpu_names"])


def link_names() -> list[str]:
    """Catalog link names in file order."""
    return list(_catalog()["link_names"])


def get_gpu(name: str) -> GpuSpec:
    """The :class:`GpuSpec` named ``name`` (case-insensitive); ``InputError`` if unknown."""
    spec = _catalog()["gpus"].get(str(name).lower())
    if spec is None:
        raise InputError(f"unknown GPU {name!r} (known: {', '.join(gpu_names())})", field="gpu")
    return spec


def get_link(name: str) -> LinkSpec:
    """The :class:`LinkSpec` named ``name`` (case-insensitive); ``InputError`` if unknown."""
    spec = _catalog()["links"].get(str(name).lower())
    if spec is None:
        raise InputError(f"unknown link {name!r} (known: {', '.join(link_names())})", field="link")
    return spec


def wan_latency_per_km_s() -> float:
    """One-way propagation delay of fibre per km, seconds (source in hardware.yaml)."""
    return float(_catalog()["wan_latency_per_km_s"])
