"""One collective alone on a topology: :func:`simulate_collective` and its result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.collectives.backend import BackendProfile
from simulator.collectives.choice import check_group
from simulator.collectives.context import SimContext
from simulator.collectives.transport import run_alone
from simulator.collectives.types import busbw_factor
from simulator.core.arrays import FloatArray
from simulator.core.errors import InputError
from simulator.core.gcpause import paused_gc
from simulator.core.jsonvalue import JsonObject
from simulator.core.vocab import Algorithm, CollectiveOp, Fidelity, coerce
from simulator.network import FlowRecord
from simulator.topology import Topology


@dataclass(frozen=True)
class CollectiveResult:
    """Outcome of one collective; bandwidths as nccl-tests defines them.

    Attributes:
        time_s: from launch to the last byte, seconds.
        algbw_Bps: ``size_B / time_s``, bytes/second.
        busbw_Bps: ``algbw_Bps * busbw_factor(op, n_ranks)``, bytes/second.
        algo, protocol, channels: what ran (``auto`` resolved).
        op, size_B, n_ranks, fidelity, backend: what was asked.
        n_flows: flows put on the fabric (0 at analytical fidelity).
        flows: the fabric's flow records (empty at analytical fidelity).
        link_bytes_B: payload bytes per link id.
    """

    time_s: float
    algbw_Bps: float
    busbw_Bps: float
    algo: str
    op: str
    size_B: float
    n_ranks: int
    protocol: str
    channels: int
    fidelity: str
    backend: str
    n_flows: int
    flows: list[FlowRecord] = field(default_factory=list, repr=False)
    link_bytes_B: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)

    def to_dict(self) -> JsonObject:
        """The JSON-able summary (no per-flow or per-link arrays)."""
        return {
            "time_s": self.time_s,
            "algbw_Bps": self.algbw_Bps,
            "busbw_Bps": self.busbw_Bps,
            "algo": self.algo,
            "protocol": self.protocol,
            "channels": self.channels,
            "op": self.op,
            "size_B": self.size_B,
            "n_ranks": self.n_ranks,
            "fidelity": self.fidelity,
            "backend": self.backend,
            "n_flows": self.n_flows,
        }


def simulate_collective(
    topology: Topology,
    op: CollectiveOp | str,
    size_B: float,
    ranks: Sequence[int] | None = None,
    algo: Algorithm | str = "auto",
    backend: BackendProfile | str = "nccl",
    fidelity: Fidelity | str = "flow",
    chunks: int = 1,
    channels: int | None = None,
    root: int = 0,
    record: bool = True,
) -> CollectiveResult:
    """Run one collective of ``size_B`` bytes on ``ranks`` (default: all) of ``topology``.

    Raises :class:`InputError` on a bad op, algorithm, fidelity, backend or rank list.
    """
    op = coerce(CollectiveOp, op, field="op")
    fid = coerce(Fidelity, fidelity, field="fidelity")
    ctx = SimContext(topology, backend, ranks=topology.num_ranks if ranks is None else len(ranks))
    profile = ctx.profile
    if not (size_B >= 0 and np.isfinite(size_B)):
        raise InputError(f"size must be a finite number of bytes >= 0, got {size_B}", field="size")
    group = check_group(topology, range(topology.num_ranks) if ranks is None else ranks)
    with paused_gc():  # many acyclic objects (simulator/core/gcpause.py)
        tr, info = run_alone(
            ctx, op, group, size_B, algo, fidelity=fid, chunks=chunks, root=root,
            channels=channels, record=record,
        )  # fmt: skip
    t = float(tr.env.now)
    n = len(group)
    algbw = size_B / t if t > 0 else 0.0  # nothing moved (one rank): report 0, not inf
    return CollectiveResult(
        time_s=t,
        algbw_Bps=algbw,
        busbw_Bps=algbw * busbw_factor(op, n),
        algo=info.algo,
        op=op.value,
        size_B=float(size_B),
        n_ranks=n,
        protocol=info.protocol,
        channels=info.channels,
        fidelity=fid.value,
        backend=profile.name,
        n_flows=info.n_flows,
        flows=list(tr.fabric.records) if record else [],
        link_bytes_B=info.link_payload_B
        if info.link_payload_B is not None
        else np.zeros(len(topology.links)),
    )
