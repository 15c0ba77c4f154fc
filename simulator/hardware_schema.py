"""The hardware catalog's file format (``simulator/data/hardware.yaml``) as pydantic models.

Read by :mod:`simulator.hardware`, which imports this module only when the catalog is not in
the validated cache (:mod:`simulator.core.validated`): pydantic stays out of a start-up that
does not need it. Figures use the unit-typed aliases of :mod:`simulator.core.schema`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from simulator.core.schema import (
    BandwidthBps,
    BandwidthBps0,
    Flag,
    Flops,
    LatencyS,
    SchemaModel,
    SizeB,
)


class FlopsEntry(SchemaModel):
    """Dense peak FLOP/s per dtype; fp32 always, the others where the GPU has them."""

    fp32: Flops
    bf16: Flops | None = None
    fp16: Flops | None = None
    tf32: Flops | None = None
    fp8: Flops | None = None


class PriceEntry(SchemaModel):
    usd: Annotated[float, Field(ge=0, strict=True)]
    assumption: Flag
    source: str


class GpuEntry(SchemaModel):
    description: str
    flops: FlopsEntry
    hbm: SizeB
    hbm_bandwidth: BandwidthBps
    scaleup_link: str | None
    scaleup_bandwidth: BandwidthBps0
    pcie: str
    source: str
    price_per_gpu_hour: PriceEntry


class LatencySourceEntry(SchemaModel):
    assumption: Flag
    reason: str


class LinkEntry(SchemaModel):
    kind: str
    bandwidth: BandwidthBps
    latency: LatencyS
    source: str
    latency_source: LatencySourceEntry


class HardwareFile(SchemaModel):
    """``simulator/data/hardware.yaml``: GPUs and links by catalog name, figures with units."""

    gpus: dict[str, GpuEntry]
    links: dict[str, LinkEntry]
    wan_latency_per_km: LatencyS
    wan_latency_per_km_source: str
