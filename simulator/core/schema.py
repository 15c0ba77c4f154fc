"""The schema toolkit: a frozen pydantic base and unit-typed field aliases.

Every user-facing file format validated with pydantic builds on these, so a size may be written
``"25MiB"`` or ``26214400`` anywhere and is read by :func:`simulator.core.units.parse_size`
(bandwidths by :func:`~simulator.core.units.parse_bandwidth`, durations by
:func:`~simulator.core.units.parse_time`). Validation errors become one
:class:`~simulator.core.errors.InputError` through
:func:`simulator.core.schema_messages.validate_input`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from simulator.core.bare_units import unit_bandwidth, unit_latency
from simulator.core.units import (
    MAX_BANDWIDTH_BPS,
    MAX_COUNT,
    MAX_SIZE_B,
    MIN_BANDWIDTH_BPS,
    UnitError,
    parse_bandwidth,
    parse_flops,
    parse_size,
    parse_time,
)


def _parsed(parse: Callable[[Any], float]) -> Callable[[Any], float]:
    """A pydantic before-validator: ``parse`` (a units parser) with its ``UnitError`` turned
    into the ``ValueError`` pydantic reports against the field."""

    def validate(v: Any) -> float:
        try:
            return float(parse(v))
        except UnitError as exc:
            raise ValueError(str(exc)) from exc

    return validate


_size = _parsed(parse_size)
_bandwidth = _parsed(parse_bandwidth)
_time = _parsed(parse_time)
_flops = _parsed(parse_flops)


SizeB = Annotated[float, BeforeValidator(_size), Field(gt=0, le=MAX_SIZE_B)]
"""A size in bytes, in (0, 1 EiB] (``"25MiB"``, ``"1 GB"`` or a number of bytes)."""
SizeB0 = Annotated[float, BeforeValidator(_size), Field(ge=0, le=MAX_SIZE_B)]
"""A size in bytes, in [0, 1 EiB] (``"1.5MiB"``, ``0``)."""
# (the validator listed last runs first: the unit check sees what the user wrote)
BandwidthBps = Annotated[
    float,
    BeforeValidator(_bandwidth),
    BeforeValidator(unit_bandwidth),
    Field(ge=MIN_BANDWIDTH_BPS, le=MAX_BANDWIDTH_BPS),
]
"""A bandwidth in bytes/s, in [1 kB/s, 1 PB/s] (:data:`~simulator.core.units.MIN_BANDWIDTH_BPS`,
``MAX_BANDWIDTH_BPS``; ``"400Gbps"`` is 50e9, ``"50 GB/s"``, or a number of B/s; a bare number
below 1e6 is refused as a unit left out, :mod:`simulator.core.bare_units`)."""
BandwidthBps0 = Annotated[
    float, BeforeValidator(_bandwidth), BeforeValidator(unit_bandwidth), Field(ge=0)
]
"""A bandwidth in bytes/s, >= 0 (``"0GB/s"``: none, as for a GPU without a scale-up link)."""
Flops = Annotated[float, BeforeValidator(_flops), Field(gt=0)]
"""A compute rate in FLOP/s, > 0 (``"312 TFLOPS"`` or a number)."""
TimeS = Annotated[float, BeforeValidator(_time), Field(ge=0)]
"""A duration in seconds, >= 0 (``"1.5us"``, ``"2 ms"``, or a number of seconds)."""
LatencyS = Annotated[float, BeforeValidator(_time), BeforeValidator(unit_latency), Field(ge=0)]
"""A latency in seconds, >= 0, as :data:`TimeS`; a bare number of 1 or more is refused as a unit
left out (``latency: 5`` meaning 5 us, :mod:`simulator.core.bare_units`)."""
PosInt = Annotated[int, Field(gt=0, le=MAX_COUNT, strict=True)]
"""An integer in 1..:data:`MAX_COUNT` (strict: ``true`` is not 1 and ``2.5`` is not 2, unlike
pydantic's lax mode)."""
NonNegInt = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
"""An integer in 0..:data:`MAX_COUNT` (strict)."""
Fraction = Annotated[float, Field(gt=0, le=1, strict=True)]
"""A dimensionless fraction in (0, 1] (strict: ``true`` is not 1.0)."""
#: Lowest efficiency a file may give (a backend's share of a link, a protocol's bandwidth factor,
#: a model FLOP utilisation): 0.001, 250x below the lowest shipped one (NCCL's LL bandwidth
#: factor, 0.25). ``efficiency: {nvlink: 1e-300}`` or ``mfu: 1e-300`` predicted steps of
#: 10^296 s with exit 0.
MIN_EFFICIENCY: Final[float] = 1e-3
Efficiency = Annotated[float, Field(ge=MIN_EFFICIENCY, le=1, strict=True)]
"""An efficiency (a share of a peak rate) in [:data:`MIN_EFFICIENCY`, 1] (strict)."""
PosFloat = Annotated[float, Field(gt=0, strict=True)]
"""A finite number > 0 (strict)."""
Flag = Annotated[bool, Field(strict=True)]
"""``true`` or ``false`` only (not 1, 0 or ``"yes"`` the string)."""
Name = Annotated[str, Field(pattern=r"\S")]
"""A name with at least one character that is not a space (``''`` named a variant's output
folder nothing and a node group's GPU the topology's default)."""


class SchemaModel(BaseModel):
    """Base of every validated input section: unknown keys rejected, instances frozen, and
    ``.inf``/``.nan`` refused in every float field."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False
    )
