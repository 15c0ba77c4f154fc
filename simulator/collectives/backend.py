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
* ``hop_floor[op]``: optional seconds; the least time one dependent step (hop) of ``op``'s
  algorithm takes, whatever its bytes: a phase of depth ``d`` drains in no less than
  ``d * hop_floor[op]``, a floor under its transfer time, not added to it (its latencies are
  still added). On the rig, 4 ranks and their gloo threads share 2 cores, and each hop of a
  ring all_reduce waits for a core: a 4 KiB all_reduce takes 8 ms, while a 4 KiB broadcast
  takes 0.7 ms and 256 KiB all_reduces are no slower than 4 KiB ones (docs/rig.md); a
  calibration fits one value per op. ``reduce_scatter`` has its own even when it is scheduled
  as an all_reduce. A point-to-point send through the transport pays no backend latency; its
  receive completes no sooner than ``hop_floor[send_recv]`` after the transfer started
  (:meth:`~simulator.collectives.transport.Transport.send_recv`);
* ``oversubscription``: optional; the per-hop wait for a core of a job with more ranks than
  the profile was fitted with, on a host with fewer cores than ranks (the emulated rig: every
  rank is a process on the same machine). ``ranks`` (the fit's rank count), ``cores`` (the fit
  machine's, recorded) and ``hop_wait[op]``, seconds: a job of ``N`` ranks on a host of ``C``
  cores gets ``hop_floor[op] = hop_wait[op] * (1 - C / N)`` (the larger of that and the
  profile's own floor) when ``N`` exceeds ``ranks`` and ``C`` (:func:`oversubscribed_hop_s`,
  :meth:`BackendProfile.at_ranks`); the fitted rank counts themselves are left as fitted.
  ``hop_wait[send_recv]`` is the wait of a point-to-point receive (a pipeline's activations
  while the other ranks compute), fitted on recorded training steps;
* ``tree_max_algbw``: optional ceiling on a tree all-reduce's algorithm bandwidth
  (``two_hosts``: groups on at most 2 hosts, ``more_hosts``: beyond), for libraries whose tree
  is limited by the GPU rather than the links (NCCL's ``maxTreeBw``);
* ``nvls``: optional; in-switch all-reduce (NCCL's NVLS on NVLink SHARP switches):
  ``efficiency[link]`` is the fraction of the link-efficiency throughput NVLS reaches, per
  scale-up link of the GPU (catalog name, ``nvlink4``...; a link not listed has no NVLS), and
  ``protocol`` the one protocol it runs with (see :mod:`simulator.collectives.nvls`), and
  optionally ``latency``, NVLS's whole latency on one node, replacing the protocol's base and
  per-step latencies (NCCL's tuner does the same for NVLS), and ``channels[link]`` with
  ``chunk_size``, NCCL's NVLS channels and largest chunk, which set how much of a message one
  pipeline loop of NCCL's NVLS kernel carries (the pipeline fill, see
  :func:`simulator.collectives.nvls.nvls_pipeline_share`).

Profiles are YAML files (``simulator/data/backends/NAME.yaml``) validated by the pydantic
:class:`~simulator.collectives.backend_schema.BackendFile`; a calibration file written by
``simulator/rig/calibrate.py`` has the same schema and loads with :func:`load_backend` given
its path.
Unknown or missing keys raise :class:`InputError` naming the file and the field (a misspelt
key gets the closest known one).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from simulator.collectives import calibrated
from simulator.core.errors import InputError
from simulator.core.validated import validated
from simulator.core.vocab import Algorithm, CollectiveOp
from simulator.resources import resolve, shipped_dir, shipped_names
from simulator.safeyaml import load_yaml_text, read_text
from simulator.topology import LinkKind

if TYPE_CHECKING:
    from simulator.collectives.backend_schema import BackendFile

BACKENDS_DIR = shipped_dir("backends")
_K = TypeVar("_K", bound=Enum)


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
        channels: per catalog scale-up link name, the channels (CTAs) NCCL runs NVLS on;
            with ``chunk_B`` it gives the kernel's pipeline fill; ``None``: no fill modelled.
        chunk_B: NCCL's largest NVLS chunk, bytes (``NCCL_NVLS_CHUNKSIZE``); ``None``: no fill.
        tree_net_latency_s: NVLSTree's latency per tree level and direction between nodes,
            seconds (NCCL's ``hwLat[NET][NVLS_TREE]``); ``None``: no NVLSTree.
    """

    efficiency: Mapping[str, float]
    protocol: str
    latency_s: float | None = None
    channels: Mapping[str, int] | None = None
    chunk_B: float | None = None
    tree_net_latency_s: float | None = None


@dataclass(frozen=True, slots=True)
class Oversubscription:
    """How a calibrated profile extends to jobs with more ranks than its fit (``oversubscription``
    in the YAML; see the module docstring).

    Attributes:
        ranks: the rank count the profile was fitted with; the law applies to larger jobs only.
        cores: cores of the machine the law was fitted on (recorded; the law uses the
            predicting host's own, :func:`simulator.collectives.calibrated.host_cores`).
        hop_wait_s: per op, seconds: the wait ``w`` of :func:`oversubscribed_hop_s`.
    """

    ranks: int
    cores: int
    hop_wait_s: Mapping[CollectiveOp, float]


def oversubscribed_hop_s(wait_s: float, ranks: int, cores: int) -> float:
    """The least time (s) one dependent hop takes when ``ranks`` processes share ``cores``
    cores: ``wait_s * (1 - cores / ranks)``, 0 when every rank has a core.

    A hop of a collective needs the processes it wakes to run; with ``N`` runnable ranks on
    ``C`` cores a woken rank finds every core taken about ``1 - C/N`` of the time and then waits
    for one (a scheduler slice, milliseconds; ``wait_s`` is fitted per op). Fitted on the
    rig's 2..8-rank microbenchmarks (docs/rig.md, "More ranks than cores").
    """
    if ranks <= cores or ranks < 1:
        return 0.0
    return wait_s * (1.0 - cores / ranks)


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
    hop_floor_s: Mapping[CollectiveOp, float] | None = None
    oversubscription: Oversubscription | None = None

    def at_ranks(self, ranks: int, cores: int) -> BackendProfile:
        """This profile for a job of ``ranks`` ranks on a host of ``cores`` cores: with
        ``oversubscription``'s floors when ``ranks`` exceeds the fit's rank count and
        ``cores`` (each op's floor the larger of the law's and the profile's own), else
        itself. Idempotent: floors are replaced by a maximum, never added."""
        over = self.oversubscription
        if over is None or ranks <= over.ranks or ranks <= cores:
            return self
        floors = dict(self.hop_floor_s or {})
        for op, wait in over.hop_wait_s.items():
            floors[op] = max(floors.get(op, 0.0), oversubscribed_hop_s(wait, ranks, cores))
        return replace(self, hop_floor_s=floors)

    def hop_floor(self, op: CollectiveOp) -> float:
        """Seconds each dependent step of ``op`` takes at least (0 if the profile has none)."""
        return (self.hop_floor_s or {}).get(op, 0.0)

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


def _all_keys(given: Mapping[_K, object], enum: type[_K], *, file: str, field: str) -> None:
    """Every member of ``enum`` must be a key of ``given`` (the first missing one is named)."""
    for member in enum:
        if member not in given:
            raise InputError("missing key", file=file, field=f"{field}.{member.value}")


def parse_backend(data: object, *, file: str) -> BackendProfile:
    """Validate a backend mapping (as read from YAML) into a :class:`BackendProfile`.

    pydantic is imported here, when :func:`_load_path` misses the validated cache or a caller
    hands a mapping (start-up time, docs/decisions.md 2026-12-05).
    """
    from simulator.collectives.backend_schema import BackendFile
    from simulator.core.schema_messages import validate_input

    if not isinstance(data, dict):
        raise InputError("expected a mapping", file=file)
    spec = validate_input(BackendFile, data, file=file)
    return profile_from_spec(spec, file=file)


def profile_from_spec(spec: BackendFile, *, file: str) -> BackendProfile:
    """The :class:`BackendProfile` of a validated file; checks the rules across fields."""
    _all_keys(spec.efficiency, LinkKind, file=file, field="efficiency")
    for pname, p in spec.protocols.items():
        _all_keys(p.step_latency, LinkKind, file=file, field=f"protocols.{pname}.step_latency")
    _all_keys(spec.algorithms, CollectiveOp, file=file, field="algorithms")
    protocols = tuple(
        ProtocolProfile(
            name=pname,
            base_latency_s=p.base_latency,
            step_latency_s=dict(p.step_latency),
            bandwidth_factor=float(p.bandwidth_factor),
        )
        for pname, p in spec.protocols.items()
    )
    nvls = None
    if spec.nvls is not None:
        if spec.nvls.protocol not in spec.protocols:
            raise InputError(
                f"no protocol {spec.nvls.protocol!r} in protocols", file=file, field="nvls.protocol"
            )
        _check_link_names(spec.nvls.efficiency, file, "nvls.efficiency")
        _check_link_names(spec.nvls.channels or {}, file, "nvls.channels")
        nvls = NvlsProfile(
            efficiency={k.lower(): float(v) for k, v in spec.nvls.efficiency.items()},
            protocol=spec.nvls.protocol,
            latency_s=spec.nvls.latency,
            channels=(
                {k.lower(): int(v) for k, v in spec.nvls.channels.items()}
                if spec.nvls.channels is not None
                else None
            ),
            chunk_B=spec.nvls.chunk_size,
            tree_net_latency_s=spec.nvls.tree_net_latency,
        )
    cap = spec.tree_max_algbw
    return BackendProfile(
        name=spec.name,
        description=spec.description,
        efficiency={k: float(v) for k, v in spec.efficiency.items()},
        protocols=protocols,
        algorithms=dict(spec.algorithms),
        channels=spec.channels,
        concurrency=spec.concurrency,
        reduce_scatter_as_all_reduce=spec.reduce_scatter_as_all_reduce,
        tree_max_algbw_Bps=None if cap is None else (cap.two_hosts, cap.more_hosts),
        nvls=nvls,
        source=file,
        local_copy_Bps=None if spec.local_copy is None else dict(spec.local_copy),
        op_efficiency=(
            None
            if spec.op_efficiency is None
            else {k: float(v) for k, v in spec.op_efficiency.items()}
        ),
        send_buffer_B=spec.send_buffer or 0.0,
        hop_floor_s=None if spec.hop_floor is None else dict(spec.hop_floor),
        oversubscription=_oversubscription(spec),
    )


def _oversubscription(spec: BackendFile) -> Oversubscription | None:
    """The ``oversubscription`` section of a validated file, typed (None if absent)."""
    over = spec.oversubscription
    if over is None:
        return None
    return Oversubscription(ranks=over.ranks, cores=over.cores, hop_wait_s=dict(over.hop_wait))


def shipped_backends() -> list[str]:
    """Names of the backend profiles shipped with commsim."""
    return shipped_names("backends")


def _load_path(path: str) -> BackendProfile:
    """The profile in file ``path``: read at every call, validated once per distinct text
    (:func:`~simulator.core.validated.validated`)."""
    text = read_text(path, path)
    return validated(
        "backend", text, path, lambda: parse_backend(load_yaml_text(text, path), file=path)
    )


def load_backend(
    name_or_path: str | Path | BackendProfile, *, ranks: int | None = None
) -> BackendProfile:
    """A backend profile: a shipped NAME (``nccl``, ``gloo``), a calibrated family's NAME
    (``gloo-rig``: the fit for ``ranks``, see :mod:`simulator.collectives.calibrated`), a YAML
    PATH, or a profile.

    With ``ranks`` given, a profile with an ``oversubscription`` law gets its floors for that
    many ranks on this host's cores (:meth:`BackendProfile.at_ranks`).

    A calibrated family without a fit for ``ranks`` loads the fit of the nearest rank count
    and warns (:class:`~simulator.collectives.calibrated.CalibrationFallbackWarning`) naming it.

    A name or path is read from disk at every call (nothing cached: a file edited between two
    simulations is read again); a simulation loads its profile once, in its
    :class:`~simulator.collectives.context.SimContext`.

    Raises :class:`InputError` (listing the shipped names) when neither exists, or naming the
    file and field when the YAML is wrong.
    """
    profile = _load_named(name_or_path, ranks)
    return profile if ranks is None else profile.at_ranks(ranks, calibrated.host_cores())


def _load_named(name_or_path: str | Path | BackendProfile, ranks: int | None) -> BackendProfile:
    """:func:`load_backend` before its oversubscription law is applied."""
    if isinstance(name_or_path, BackendProfile):
        return name_or_path
    p = Path(name_or_path)
    stem = p.name.removesuffix(".yaml")
    shipped = shipped_dir("backends") / f"{stem}.yaml"
    if not p.is_file() and p.parent == Path(".") and not shipped.is_file():
        found = calibrated.resolve(stem, ranks)
        if found is not None:
            path, note = found
            if note is not None:
                warnings.warn(note, calibrated.CalibrationFallbackWarning, stacklevel=3)
            return _load_path(str(path))
    return _load_path(str(resolve("backends", name_or_path, what="backend", field="backend")))


def _check_link_names(table: Mapping[str, object], file: str, field: str) -> None:
    """Every key of an ``nvls`` table is a catalogue link (``nvlink4``): a misspelt one
    (``nvlnk4``, ``a``) was read as "no NVLS on this link" and NVLS was silently never used."""
    from simulator.core.suggest import hint
    from simulator.hardware import link_names

    known = link_names()
    for key in table:
        if key.lower() not in known:
            raise InputError(
                f"unknown link {key!r}{hint(key, known)} (catalogue links: {', '.join(known)})",
                file=file,
                field=f"{field}.{key}",
            )
