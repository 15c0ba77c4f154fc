"""The hardware catalog: GPUs and links with their spec-sheet figures and sources.

Data lives in ``simulator/data/hardware.yaml`` (figures written with units, each with the vendor
document it comes from); this module validates it once
(:class:`~simulator.hardware_schema.HardwareFile`, with the unit-typed aliases of
:mod:`simulator.core.schema`) into frozen dataclasses in SI units, remembered across processes
by :func:`simulator.core.validated.validated`.

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
from typing import TYPE_CHECKING

import yaml

from simulator.core.errors import InputError
from simulator.core.suggest import hint
from simulator.core.validated import validated
from simulator.resources import data_file

if TYPE_CHECKING:
    from simulator.hardware_schema import GpuEntry, HardwareFile, LinkEntry


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One accelerator. FLOP/s are dense peaks; ``None`` where the dtype has no tensor path.

    Attributes:
        name, description: catalog key and long name.
        bf16_flops, fp16_flops, tf32_flops, fp32_flops: dense peak FLOP/s.
        fp8_flops: dense peak FP8 tensor-core FLOP/s (``None``: no FP8 path, or none
            published in the catalogue).
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
    fp8_flops: float | None = None

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
        """Dense peak FLOP/s for ``dtype`` (fp8, bf16, fp16, tf32, fp32); falls back to fp16 for
        bf16 on GPUs without bf16 (Volta) and to fp32 for tf32. Raises ``InputError`` otherwise
        (fp8 on a GPU whose catalogue entry has no fp8 rate)."""
        table = {
            "fp8": self.fp8_flops,
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


@dataclass(frozen=True, slots=True)
class _Catalog:
    gpus: dict[str, GpuSpec]  # by lower-case name
    gpu_names: list[str]
    links: dict[str, LinkSpec]
    link_names: list[str]
    wan_latency_per_km_s: float
    wan_latency_per_km_source: str


@cache
def _catalog() -> _Catalog:
    path = data_file("hardware.yaml")
    text = path.read_text("utf-8")
    return validated("hardware", text, str(path), lambda: _parse_catalog(text, str(path)))


def _parse_catalog(text: str, file: str) -> _Catalog:
    """The catalog in ``text``, validated by :class:`~simulator.hardware_schema.HardwareFile`.

    pydantic is imported here, on a miss of :func:`~simulator.core.validated.validated` only
    (start-up time, docs/decisions.md 2026-12-05).
    """
    from simulator.core.schema_messages import validate_input
    from simulator.hardware_schema import HardwareFile

    # shipped and trusted: PyYAML's loader, as before
    data: HardwareFile = validate_input(HardwareFile, yaml.safe_load(text), file=file)
    return _Catalog(
        gpus={k.lower(): _gpu(k, v) for k, v in data.gpus.items()},
        gpu_names=list(data.gpus),
        links={k.lower(): _link(k, v) for k, v in data.links.items()},
        link_names=list(data.links),
        wan_latency_per_km_s=data.wan_latency_per_km,
        wan_latency_per_km_source=data.wan_latency_per_km_source,
    )


def _gpu(name: str, d: GpuEntry) -> GpuSpec:
    return GpuSpec(
        name=name,
        description=d.description,
        bf16_flops=d.flops.bf16,
        fp16_flops=d.flops.fp16,
        tf32_flops=d.flops.tf32,
        fp32_flops=d.flops.fp32,
        fp8_flops=d.flops.fp8,
        hbm_B=d.hbm,
        hbm_bandwidth_Bps=d.hbm_bandwidth,
        scaleup_link=d.scaleup_link,
        scaleup_bandwidth_Bps=d.scaleup_bandwidth,
        pcie=d.pcie,
        source=d.source,
        price_per_gpu_hour_usd=float(d.price_per_gpu_hour.usd),
        price_is_assumption=d.price_per_gpu_hour.assumption,
        price_source=d.price_per_gpu_hour.source,
    )


def _link(name: str, d: LinkEntry) -> LinkSpec:
    return LinkSpec(
        name=name,
        kind=d.kind,
        bandwidth_Bps=d.bandwidth,
        latency_s=d.latency,
        source=d.source,
        latency_is_assumption=d.latency_source.assumption,
        latency_source=d.latency_source.reason,
    )


def gpu_names() -> list[str]:
    """Catalog GPU names in file order."""
    return list(_catalog().gpu_names)


def link_names() -> list[str]:
    """Catalog link names in file order."""
    return list(_catalog().link_names)


def get_gpu(name: str) -> GpuSpec:
    """The :class:`GpuSpec` named ``name`` (case-insensitive); ``InputError`` if unknown."""
    spec = _catalog().gpus.get(str(name).lower())
    if spec is None:
        near = hint(name, gpu_names())
        raise InputError(
            f"unknown GPU {name!r}{near} (known: {', '.join(gpu_names())})", field="gpu"
        )
    return spec


def gpu_hbm_B(name: str) -> float | None:
    """HBM capacity of GPU ``name``, bytes; ``None`` when the catalog does not know the GPU."""
    spec = _catalog().gpus.get(str(name).lower())
    return None if spec is None else spec.hbm_B


def largest_gpu_hbm_B() -> float:
    """The largest HBM capacity of the catalog's GPUs, bytes: no message of one collective is
    larger (its buffer lives in one GPU's memory)."""
    return max((gpu_hbm_B(n) or 0.0) for n in gpu_names())


def get_link(name: str) -> LinkSpec:
    """The :class:`LinkSpec` named ``name`` (case-insensitive); ``InputError`` if unknown."""
    spec = _catalog().links.get(str(name).lower())
    if spec is None:
        raise InputError(f"unknown link {name!r} (known: {', '.join(link_names())})", field="link")
    return spec


def wan_latency_per_km_s() -> float:
    """One-way propagation delay of fibre per km, seconds (source in hardware.yaml)."""
    return float(_catalog().wan_latency_per_km_s)
