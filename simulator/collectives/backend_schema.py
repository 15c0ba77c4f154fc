"""The backend profile file format as pydantic models (read by
:func:`simulator.collectives.backend.parse_backend`).

What each field means is in :mod:`simulator.collectives.backend`'s docstring. Durations,
bandwidths and sizes use the unit-typed aliases of :mod:`simulator.core.schema` (``5us``,
``400Gbps``, ``1.5MiB``); fractions are in (0, 1]. Unknown keys are rejected with the closest
known key. The rules across fields (every link kind and every op listed, ``nvls.protocol`` one
of ``protocols``) are :mod:`~simulator.collectives.backend`'s.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Final

from pydantic import BeforeValidator, Field

from simulator.core.errors import InputError
from simulator.core.schema import (
    BandwidthBps,
    Efficiency,
    Flag,
    LatencyS,
    NonNegInt,
    PosInt,
    SchemaModel,
    SizeB,
    SizeB0,
    TimeS,
)
from simulator.core.schema_messages import validate_input
from simulator.core.vocab import Algorithm, CollectiveOp, coerce
from simulator.topology import LinkKind


def _algorithms(value: object) -> tuple[Algorithm, ...]:
    """A non-empty list of algorithm names (``ring``, ``Halving-Doubling``...), ``auto`` refused."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("expected a non-empty list of algorithms")
    out = []
    for a in value:
        try:
            algo = coerce(Algorithm, a if isinstance(a, Algorithm) else str(a), field="")
        except InputError as err:
            known = [m.value for m in Algorithm if m is not Algorithm.AUTO]
            close = difflib.get_close_matches(str(a), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(err.message + hint) from None
        if algo is Algorithm.AUTO:
            raise ValueError("'auto' cannot be a candidate")
        out.append(algo)
    return tuple(out)


Algorithms = Annotated[tuple[Algorithm, ...], BeforeValidator(_algorithms)]
"""The algorithms ``auto`` may choose among for one op."""

#: Longest per-hop wait or floor a profile may hold, seconds. The largest fitted one is
#: gloo-rig-4rank's reduce_scatter wait, 9.7 ms (simulator/data/calibration/gloo-rig-4rank.yaml);
#: 10 s is also the slowest link latency a topology may hold
#: (simulator/topology/graph_builder.py MAX_LINK_LATENCY_S), so a hop of more is a unit slip
#: (``1e30s`` priced every step at 10^30 s).
MAX_HOP_S: Final[float] = 10.0
HopS = Annotated[TimeS, Field(le=MAX_HOP_S)]
"""A per-hop wait or floor in seconds, in [0, :data:`MAX_HOP_S`]."""


class ProtocolSpec(SchemaModel):
    """One protocol (``protocols.NAME``): latencies and the bandwidth factor."""

    base_latency: LatencyS
    step_latency: dict[LinkKind, LatencyS]
    bandwidth_factor: Efficiency


class TreeCapSpec(SchemaModel):
    """``tree_max_algbw``: a tree all-reduce's algorithm-bandwidth ceiling by group span."""

    two_hosts: BandwidthBps
    more_hosts: BandwidthBps


#: Most channels a profile may give: 32x NCCL's compile-time ``MAXCHANNELS`` (32 in NCCL 2.x's
#: src/include/device.h). 10^30 channels made every collective plan 10^30 rings (a hang).
MAX_PROFILE_CHANNELS = 1024


class NvlsSpec(SchemaModel):
    """``nvls``: in-switch all-reduce, per scale-up link (catalog name) a fraction; optionally
    NCCL's NVLS channels per scale-up link and its largest chunk (bytes), which give the
    kernel's pipeline fill (:func:`simulator.collectives.nvls.nvls_pipeline_share`)."""

    efficiency: Annotated[dict[str, Efficiency], Field(min_length=1)]
    protocol: str
    latency: LatencyS | None = None
    channels: dict[str, Annotated[PosInt, Field(le=MAX_PROFILE_CHANNELS)]] | None = None
    chunk_size: SizeB | None = None
    tree_net_latency: LatencyS | None = None


class OversubscriptionSpec(SchemaModel):
    """``oversubscription``: the per-hop wait for a core of a job with more ranks than the fit.

    ``ranks``: the rank count the profile was fitted with (the law applies beyond it);
    ``cores``: the fit machine's cores (recorded, for the reader: the law reads the predicting
    host's own); ``hop_wait[op]``: seconds, the wait ``w`` of the law in
    :func:`simulator.collectives.backend.oversubscribed_hop_s`.
    """

    ranks: PosInt
    cores: PosInt
    hop_wait: Annotated[dict[CollectiveOp, HopS], Field(min_length=1)]
    source: str = ""


class BackendFile(SchemaModel):
    """A backend profile file (``simulator/data/backends/NAME.yaml`` or a calibration)."""

    name: str
    description: str = ""
    efficiency: dict[LinkKind, Efficiency]
    protocols: Annotated[dict[str, ProtocolSpec], Field(min_length=1)]
    algorithms: dict[CollectiveOp, Algorithms]
    channels: Annotated[NonNegInt, Field(le=MAX_PROFILE_CHANNELS)]
    concurrency: NonNegInt
    reduce_scatter_as_all_reduce: Flag
    tree_max_algbw: TreeCapSpec | None = None
    nvls: NvlsSpec | None = None
    local_copy: dict[CollectiveOp, BandwidthBps] | None = None
    op_efficiency: dict[CollectiveOp, Efficiency] | None = None
    send_buffer: SizeB0 | None = None
    hop_floor: dict[CollectiveOp, HopS] | None = None  # the fit searches up to seconds
    oversubscription: OversubscriptionSpec | None = None

    def edited(self, **changes: object) -> BackendFile:
        """A copy with ``changes`` (field name -> value), validated again like a file
        (:class:`~simulator.core.errors.InputError` naming the field on a bad value)."""
        return validate_input(BackendFile, {**dict(self), **changes}, file="(edited profile)")

    def to_yaml(self) -> dict[str, object]:
        """The profile as a YAML mapping that reads back to the same values: durations in
        microseconds to the nanosecond (``"12.345us"``), sizes in whole bytes (``"3692059B"``),
        bandwidths and fractions as numbers (B/s, dimensionless); ``None`` fields left out."""
        out: dict[str, object] = {}
        for key, value in self.model_dump(mode="json", exclude_none=True).items():
            out[key] = value
        for pname, proto in self.protocols.items():
            out_proto = {
                "base_latency": microseconds(proto.base_latency),
                "step_latency": {k.value: microseconds(t) for k, t in proto.step_latency.items()},
                "bandwidth_factor": proto.bandwidth_factor,
            }
            protos = out["protocols"]
            assert isinstance(protos, dict)
            protos[pname] = out_proto
        if self.nvls is not None and self.nvls.latency is not None:
            nvls = out["nvls"]
            assert isinstance(nvls, dict)
            nvls["latency"] = microseconds(self.nvls.latency)
        if self.nvls is not None and self.nvls.tree_net_latency is not None:
            nvls = out["nvls"]
            assert isinstance(nvls, dict)
            nvls["tree_net_latency"] = microseconds(self.nvls.tree_net_latency)
        if self.nvls is not None and self.nvls.chunk_size is not None:
            nvls = out["nvls"]
            assert isinstance(nvls, dict)
            nvls["chunk_size"] = f"{round(self.nvls.chunk_size)}B"
        if self.send_buffer is not None:
            out["send_buffer"] = f"{round(self.send_buffer)}B"
        if self.hop_floor is not None:
            out["hop_floor"] = {k.value: microseconds(t) for k, t in self.hop_floor.items()}
        if self.oversubscription is not None:
            over = out["oversubscription"]
            assert isinstance(over, dict)
            over["hop_wait"] = {
                k.value: microseconds(t) for k, t in self.oversubscription.hop_wait.items()
            }
        return out


def microseconds(time_s: float) -> str:
    """``12.345e-6`` -> ``"12.345us"``, ``20e-6`` -> ``"20us"`` (to the nanosecond)."""
    return f"{time_s * 1e6:.3f}".rstrip("0").rstrip(".") + "us"
