"""Backend profiles: what a communication library adds to the bare network.

A :class:`BackendProfile` says, for one library (NCCL, gloo, or a calibration of either):

* ``efficiency[kind]``: the fraction of a link's bandwidth the library turns into payload
  throughput (protocol headers, flags, flow control, copy engines). A transfer of ``B`` payload
  bytes is put on the fabric as ``B / (efficiency * protocol.bandwidth_factor)`` wire-equivalent
  bytes, using the efficiency of its path's bottleneck link kind, so contention with other
  traffic is shared on the true link capacity;
* ``protocols``: NCCL-style protocols (LL, Simple, ...), each a launch latency, a per-step
  latency per link kind (added to the path latency of every step) and a bandwidth factor;
  ``auto`` picks the fastest protocol, as NCCL's tuner does;
* ``algorithms[op]``: the algorithms ``auto`` may choose for ``op`` (fastest wins);
* ``channels``: parallel rings/trees (``0``: one per rank of the group on a host, so that
  every GPU's NIC carries a channel, as NCCL does on rail-optimized nodes);
* ``concurrency``: collectives of one process group that may run at once (gloo: worker
  threads; ``0`` = unlimited);
* ``reduce_scatter_as_all_reduce``: the library emulates reduce_scatter with a full
  all_reduce (plus a local copy), as torch's ProcessGroupGloo does;
* ``local_copy[op]``: optional; a local copy after the network phases, ``size_B / rate``
  seconds (torch's ProcessGroupGloo all_gather gathers into a fresh flat buffer and then
  copies it into the output tensors; a calibration fits the rate);
* ``op_efficiency[op]``: optional; a further fraction of the throughput that ``op`` reaches,
  on top of ``efficiency`` (gloo's all_gather between 2 ranks reaches about 0.63 of what its
  all_reduce does, at 400 and at 200 Mbit/s alike; a calibration fits it);
* ``send_buffer``: optional bytes; a point-to-point send returns to its caller once no more
  than this much of its message is left to deliver (the transport buffers the rest: TCP's
  socket buffers and the queues on the path), while its receive completes on delivery. 0 (the
  default): the send completes on delivery too. On the rig, a 16 MiB gloo send returned
  37.7 ms before the receive completed at 400 Mbit/s (1.9 MB), 68 ms at 200 Mbit/s (1.7 MB);
  a calibration fits it from the ``send_sender`` microbenchmark;
* ``tree_max_algbw``: optional ceiling on a tree all-reduce's algorithm bandwidth
  (``two_hosts``: groups on at most 2 hosts, ``more_hosts``: beyond), for libraries whose tree
  is limited by the GPU rather than the links (NCCL's ``maxTreeBw``);
* ``nvls``: optional; in-switch all-reduce (NCCL's NVLS on NVLink SHARP switches):
  ``efficiency[link]`` is the fraction of the link-efficiency throughput NVLS reaches, per
  scale-up link of the GPU (catalog name, ``nvlink4``...; a link not listed has no NVLS), and
  ``protocol`` the one protocol it runs with (see :mod:`simulator.collectives.nvls`), and
  optionally ``latency``, NVLS's whole latency on one node, replacing the protocol's base and
  per-step latencies (NCCL's tuner does the same for NVLS).

Profiles are YAML files (``simulator/data/backends/NAME.yaml``); a calibration file written
by ``simulator/rig/calibrate.py`` has the same schema and loads with :func:`load_backend` given
its path.
Unknown or missing keys raise :class:`InputError` naming the file and the field.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError
from simulator.core.units import UnitError, parse_bandwidth, parse_size, parse_time
from simulator.core.vocab import Algorithm, CollectiveOp, coerce
from simulator.resources import resolve, shipped_dir, shipped_names
from simulator.topology import LinkKind

BACKENDS_DIR = shipped_dir("backends")


@dataclass(frozen=True, slots=True)
class ProtocolProfile:
    """One protocol of a backend (NCCL's LL / LL128 / Simple).

    Attributes:
        name: label (``"LL"``, ``"simple"``).
        base_latency_s: once per collective (launch, setup), seconds.
        step_latency_s: per algorithm step, by the link kind of the step's path, seconds;
            added to the path's own latency.
        bandwidth_factor: multiplies the link efficiency (LL sends flags with the data).
    """

    name: str
    base_latency_s: float
    step_latency_s: Mapping[LinkKind, float]
    bandwidth_factor: float


@dataclass(frozen=True, slots=True)
class NvlsProfile:
    """In-switch all-reduce of a backend (``nvls`` in the YAML; see the module docstring).

    Attributes:
        efficiency: per catalog scale-up link name, the fraction in (0, 1] of the throughput
            the link efficiency gives that NVLS reaches.
        protocol: the name of the only protocol NVLS runs with.
        latency_s: NVLS's latency on one node, seconds, instead of the protocol's base and
            step latencies; ``None``: the protocol's own (base + 2 steps).
    """

    efficiency: Mapping[str, float]
    protocol: str
    latency_s: float | None = None


@dataclass(frozen=True)
class BackendProfile:
    """A communication library's behaviour; see the module docstring for every field."""

    name: str
    description: str
    efficiency: Mapping[LinkKind, float]
    protocols: tuple[ProtocolProfile, ...]
    algorithms: Mapping[CollectiveOp, tuple[Algorithm, ...]]
    channels: int
    concurrency: int
    reduce_scatter_as_all_reduce: bool
    tree_max_algbw_Bps: tuple[float, float] | None = None
    nvls: NvlsProfile | None = None
    source: str = ""
    local_copy_Bps: Mapping[CollectiveOp, float] | None = None
    op_efficiency: Mapping[CollectiveOp, float] | None = None
    send_buffer_B: float = 0.0

    def op_factor(self, op: CollectiveOp) -> float:
        """The fraction of the throughput ``op`` reaches beyond ``efficiency`` (1 if none)."""
        return (self.op_efficiency or {}).get(op, 1.0)

    def local_copy_s(self, op: CollectiveOp, size_B: float) -> float:
        """Seconds of local copying ``op`` of ``size_B`` adds after its transfers (0 if none)."""
        rate = (self.local_copy_Bps or {}).get(op)
        return size_B / rate if rate else 0.0

    def max_algbw_Bps(self, algo: Algorithm, n_hosts: int) -> float | None:
        """The profile's ceiling on ``algo``'s algorithm bandwidth for a group on ``n_hosts``."""
        if algo is not Algorithm.TREE or self.tree_max_algbw_Bps is None:
            return None
        return self.tree_max_algbw_Bps[0 if n_hosts <= 2 else 1]

    def protocol(self, name: str) -> ProtocolProfile:
        """The protocol called ``name``; :class:`InputError` if the profile has none."""
        for p in self.protocols:
            if p.name == name:
                return p
        raise InputError(f"backend {self.name} has no protocol {name!r}", field="protocols")


_TOP_KEYS = {
    "name": True,
    "description": False,
    "efficiency": True,
    "protocols": True,
    "algorithms": True,
    "channels": True,
    "concurrency": True,
    "reduce_scatter_as_all_reduce": True,
    "tree_max_algbw": False,
    "nvls": False,
    "local_copy": False,
    "op_efficiency": False,
    "send_buffer": False,
}
_PROTO_KEYS = {"base_latency", "step_latency", "bandwidth_factor"}


def _check_keys(d: Any, allowed: set[str], required: set[str], *, file: str, field: str) -> None:
    if not isinstance(d, dict):
        raise InputError("expected a mapping", file=file, field=field or None)
    for k in d:
        if k not in allowed:
            raise InputError(
                f"unknown key (allowed: {', '.join(sorted(allowed))})",
                file=file,
                field=f"{field}.{k}" if field else str(k),
            )
    for k in sorted(required - set(d)):
        raise InputError("missing key", file=file, field=f"{field}.{k}" if field else k)


def _fraction(x: Any, *, file: str, field: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0.0 < float(x) <= 1.0:
        raise InputError(f"expected a number in (0, 1], got {x!r}", file=file, field=field)
    return float(x)


def _per_op(
    data: dict[str, Any], key: str, conv: Any, ops: set[str], *, file: str
) -> dict[CollectiveOp, float] | None:
    """The optional mapping ``key: {op: value}`` of ``data``, each value read by ``conv``."""
    if data.get(key) is None:
        return None
    _check_keys(data[key], ops, set(), file=file, field=key)
    return {CollectiveOp(k): conv(v, file=file, field=f"{key}.{k}") for k, v in data[key].items()}


def _per_kind(d: Any, conv: Any, *, file: str, field: str) -> dict[LinkKind, float]:
    kinds = {k.value for k in LinkKind}
    _check_keys(d, kinds, kinds, file=file, field=field)
    return {LinkKind(k): conv(v, file=file, field=f"{field}.{k}") for k, v in d.items()}


def _time(x: Any, *, file: str, field: str) -> float:
    try:
        t = parse_time(x)
    except (UnitError, TypeError) as exc:
        raise InputError(str(exc), file=file, field=field) from None
    if t < 0:
        raise InputError(f"expected a time >= 0, got {x!r}", file=file, field=field)
    return t


def _bandwidth(x: Any, *, file: str, field: str) -> float:
    try:
        b = parse_bandwidth(x)
    except (UnitError, TypeError) as exc:
        raise InputError(str(exc), file=file, field=field) from None
    if not b > 0:
        raise InputError(f"expected a bandwidth > 0, got {x!r}", file=file, field=field)
    return b


def _size(x: Any, *, file: str, field: str) -> float:
    try:
        b = parse_size(x)
    except (UnitError, TypeError) as exc:
        raise InputError(str(exc), file=file, field=field) from None
    if b < 0:
        raise InputError(f"expected a size >= 0, got {x!r}", file=file, field=field)
    return b


def _count(x: Any, *, file: str, field: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise InputError(f"expected an integer >= 0, got {x!r}", file=file, field=field)
    return x


def parse_backend(data: object, *, file: str) -> BackendProfile:
    """Validate a backend mapping (as read from YAML) into a :class:`BackendProfile`."""
    if not isinstance(data, dict):
        raise InputError("expected a mapping", file=file)
    _check_keys(
        data, set(_TOP_KEYS), {k for k, req in _TOP_KEYS.items() if req}, file=file, field=""
    )
    efficiency = _per_kind(data["efficiency"], _fraction, file=file, field="efficiency")
    protos_in = data["protocols"]
    if not isinstance(protos_in, dict) or not protos_in:
        raise InputError("expected a non-empty mapping NAME: {...}", file=file, field="protocols")
    protocols = []
    for pname, p in protos_in.items():
        f = f"protocols.{pname}"
        _check_keys(p, _PROTO_KEYS, _PROTO_KEYS, file=file, field=f)
        protocols.append(
            ProtocolProfile(
                name=str(pname),
                base_latency_s=_time(p["base_latency"], file=file, field=f"{f}.base_latency"),
                step_latency_s=_per_kind(
                    p["step_latency"], _time, file=file, field=f"{f}.step_latency"
                ),
                bandwidth_factor=_fraction(
                    p["bandwidth_factor"], file=file, field=f"{f}.bandwidth_factor"
                ),
            )
        )
    ops = {o.value for o in CollectiveOp}
    _check_keys(data["algorithms"], ops, ops, file=file, field="algorithms")
    algorithms: dict[CollectiveOp, tuple[Algorithm, ...]] = {}
    for op_name, algos in data["algorithms"].items():
        f = f"algorithms.{op_name}"
        if not isinstance(algos, list) or not algos:
            raise InputError("expected a non-empty list of algorithms", file=file, field=f)
        try:
            chosen = tuple(coerce(Algorithm, a, field=f) for a in algos)
        except InputError as err:
            raise err.located(file=file) from None
        if Algorithm.AUTO in chosen:
            raise InputError("'auto' cannot be a candidate", file=file, field=f)
        algorithms[CollectiveOp(op_name)] = chosen
    rs_ar = data["reduce_scatter_as_all_reduce"]
    if not isinstance(rs_ar, bool):
        raise InputError(
            f"expected true or false, got {rs_ar!r}",
            file=file,
            field="reduce_scatter_as_all_reduce",
        )
    tree_cap = None
    if data.get("tree_max_algbw") is not None:
        f = "tree_max_algbw"
        keys = {"two_hosts", "more_hosts"}
        _check_keys(data[f], keys, keys, file=file, field=f)
        tree_cap = (
            _bandwidth(data[f]["two_hosts"], file=file, field=f"{f}.two_hosts"),
            _bandwidth(data[f]["more_hosts"], file=file, field=f"{f}.more_hosts"),
        )
    send_buffer = 0.0
    if data.get("send_buffer") is not None:
        send_buffer = _size(data["send_buffer"], file=file, field="send_buffer")
    local_copy = _per_op(data, "local_copy", _bandwidth, ops, file=file)
    op_eff = _per_op(data, "op_efficiency", _fraction, ops, file=file)
    nvls = None
    if data.get("nvls") is not None:
        _check_keys(
            data["nvls"],
            {"efficiency", "protocol", "latency"},
            {"efficiency", "protocol"},
            file=file,
            field="nvls",
        )
        eff_in = data["nvls"]["efficiency"]
        if not isinstance(eff_in, dict) or not eff_in:
            raise InputError(
                "expected a mapping LINK: fraction", file=file, field="nvls.efficiency"
            )
        nvls = NvlsProfile(
            efficiency={
                str(k).lower(): _fraction(v, file=file, field=f"nvls.efficiency.{k}")
                for k, v in eff_in.items()
            },
            protocol=str(data["nvls"]["protocol"]),
            latency_s=(
                _time(data["nvls"]["latency"], file=file, field="nvls.latency")
                if data["nvls"].get("latency") is not None
                else None
            ),
        )
        if nvls.protocol not in {p.name for p in protocols}:
            raise InputError(
                f"no protocol {nvls.protocol!r} in protocols", file=file, field="nvls.protocol"
            )
    return BackendProfile(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        efficiency=efficiency,
        protocols=tuple(protocols),
        algorithms=algorithms,
        channels=_count(data["channels"], file=file, field="channels"),
        concurrency=_count(data["concurrency"], file=file, field="concurrency"),
        reduce_scatter_as_all_reduce=rs_ar,
        tree_max_algbw_Bps=tree_cap,
        nvls=nvls,
        source=file,
        local_copy_Bps=local_copy,
        op_efficiency=op_eff,
        send_buffer_B=send_buffer,
    )


def shipped_backends() -> list[str]:
    """Names of the backend profiles shipped with commsim."""
    return shipped_names("backends")


def _load_path(path: str) -> BackendProfile:
    from simulator.safeyaml import load_yaml_file

    return parse_backend(load_yaml_file(path), file=path)


def load_backend(
    name_or_path: str | Path | BackendProfile, *, ranks: int | None = None
) -> BackendProfile:
    """A backend profile: a shipped NAME (``nccl``, ``gloo``), a calibrated family's NAME
    (``gloo-rig``: the fit for ``ranks``, see :mod:`simulator.collectives.calibrated`), a YAML
    PATH, or a profile.

    A calibrated family without a fit for ``ranks`` loads its 2-rank fit and warns
    (:class:`~simulator.collectives.calibrated.CalibrationFallbackWarning`) naming it.

    A name or path is read from disk at every call (nothing cached: a file edited between two
    simulations is read again); a simulation loads its profile once, in its
    :class:`~simulator.collectives.context.SimContext`.

    Raises :class:`InputError` (listing the shipped names) when neither exists, or naming the
    file and field when the YAML is wrong.
    """
    if isinstance(name_or_path, BackendProfile):
        return name_or_path
    from simulator.collectives import calibrated

    p = Path(name_or_path)
    stem = p.name.removesuffix(".yaml")
    shipped = shipped_dir("backends") / f"{stem}.yaml"
    if not p.is_file() and p.parent == Path(".") and not shipped.is_file():
        found = calibrated.resolve(stem, ranks)
        if found is not None:
            path, note = found
            if note is not None:
                warnings.warn(note, calibrated.CalibrationFallbackWarning, stacklevel=2)
            return _load_path(str(path))
    return _load_path(str(resolve("backends", name_or_path, what="backend", field="backend")))
