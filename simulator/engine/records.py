"""What the engine records, and its conversion into pandas tables.

The runner writes op times into :class:`OpTimes` (flat lists indexed by global op index,
cheap to fill); tables are built from them only when asked for. pandas is imported only when
a table is built (``commsim run --json`` builds none: about 0.15 s of its start-up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator.core.arrays import FloatArray, IntArray
from simulator.core.ir import Collective, Compute
from simulator.engine.streams import Plan
from simulator.network import FlowRecord
from simulator.topology import Topology

if TYPE_CHECKING:
    import pandas as pd

#: Columns of :attr:`StepResult.ops`, in order.
OP_COLUMNS: tuple[str, ...] = (
    "rank",
    "id",
    "name",
    "kind",
    "category",
    "stream",
    "layer",
    "microbatch",
    "ready_s",
    "start_s",
    "end_s",
    "size_B",
    "op",
    "group",
    "peer",
    "algo",
)

#: Columns of :attr:`StepResult.flows`, in order.
FLOW_COLUMNS: tuple[str, ...] = ("src", "dst", "tag", "size_B", "start_s", "end_s", "links")

#: One column of the links table: per directed link, a value (ints, names or floats).
LinkColumn = list[int] | list[str] | list[float] | FloatArray

#: Columns of :attr:`StepResult.links`, in order.
LINK_COLUMNS: tuple[str, ...] = (
    "link",
    "src",
    "dst",
    "kind",
    "capacity_Bps",
    "latency_s",
    "bytes_B",
    "bytes_per_step_B",
    "busy_s",
    "utilisation",
    "busy_fraction",
    "peak",
)


@dataclass(slots=True)
class OpTimes:
    """Per-op times in seconds of simulated time (``nan`` until set).

    ``ready_s``: all predecessors done (the op is reached); ``start_s``: the op runs (for a
    collective or send/recv: the rendezvous is complete and transfers start); ``end_s``: done.
    ``algo``: algorithm a collective ran with (``""`` otherwise).
    """

    ready_s: list[float]
    start_s: list[float]
    end_s: list[float]
    algo: list[str]

    @classmethod
    def empty(cls, n: int) -> OpTimes:
        """Times for ``n`` ops, all unset."""
        return cls([math.nan] * n, [math.nan] * n, [math.nan] * n, [""] * n)


def ops_table(plan: Plan, times: OpTimes) -> pd.DataFrame:
    """One row per op of every simulated rank (columns :data:`OP_COLUMNS`)."""
    import pandas as pd

    return pd.DataFrame(op_columns(plan, times), columns=list(OP_COLUMNS))


#: One column of the ops table: int64 or float64 values, or names.
OpColumn = IntArray | FloatArray | list[str]


def op_columns(plan: Plan, times: OpTimes) -> dict[str, OpColumn]:
    """The columns of :func:`ops_table` (:data:`OP_COLUMNS`, one value per op): int64 and
    float64 arrays and lists of ``str``, without pandas (``run --out`` writes them as they are)."""
    ops = plan.ops
    n = len(ops)
    size_B = [0.0] * n
    op_name = ["compute"] * n
    group = [""] * n
    peer = [-1] * n
    groups: dict[tuple[int, ...], str] = {}  # groups repeat: join each once
    for g, op in enumerate(ops):
        if isinstance(op, Compute):
            continue
        size_B[g] = float(op.size_B)
        if isinstance(op, Collective):
            op_name[g] = op.op._value_
            key = tuple(op.group)
            text = groups.get(key)
            if text is None:
                text = groups[key] = ",".join(map(str, key))
            group[g] = text
        else:  # Send | Recv
            op_name[g] = op.kind._value_
            peer[g] = op.peer

    def ints(values: list[int]) -> IntArray:
        return np.array(values, dtype=np.int64)

    return {
        "rank": ints(plan.rank),
        "id": ints([op.id for op in ops]),
        "name": [op.name for op in ops],
        "kind": [op.kind._value_ for op in ops],  # .value: a descriptor call per op
        "category": [op.category for op in ops],
        "stream": [op.stream for op in ops],
        "layer": ints([op.layer for op in ops]),
        "microbatch": ints([op.microbatch for op in ops]),
        "ready_s": np.array(times.ready_s, dtype=float),
        "start_s": np.array(times.start_s, dtype=float),
        "end_s": np.array(times.end_s, dtype=float),
        "size_B": np.array(size_B, dtype=float),
        "op": op_name,
        "group": group,
        "peer": ints(peer),
        "algo": list(times.algo),
    }


def flows_table(records: list[FlowRecord]) -> pd.DataFrame:
    """One row per fabric flow (columns :data:`FLOW_COLUMNS`; ``links``: space-separated ids)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "src": [int(r.src) for r in records],
            "dst": [int(r.dst) for r in records],
            "tag": [str(r.tag) for r in records],
            "size_B": [float(r.size_B) for r in records],
            "start_s": [float(r.start_s) for r in records],
            "end_s": [float(r.end_s) for r in records],
            "links": [" ".join(map(str, r.links)) for r in records],
        },
        columns=list(FLOW_COLUMNS),
    )


def links_table(
    topology: Topology,
    bytes_B: FloatArray,
    busy_s: FloatArray,
    peak: FloatArray,
    makespan_s: float,
    steps: int,
) -> pd.DataFrame:
    """One row per directed link (columns :data:`LINK_COLUMNS`): :func:`link_columns` as a
    table."""
    import pandas as pd

    cols = link_columns(topology, bytes_B, busy_s, peak, makespan_s, steps)
    return pd.DataFrame(cols, columns=list(LINK_COLUMNS))


def link_columns(
    topology: Topology,
    bytes_B: FloatArray,
    busy_s: FloatArray,
    peak: FloatArray,
    makespan_s: float,
    steps: int,
) -> dict[str, LinkColumn]:
    """The columns of :func:`links_table` (:data:`LINK_COLUMNS`, one value per directed link).

    ``bytes_B`` and ``busy_s`` cover the whole simulated run (``steps`` training steps);
    ``utilisation = bytes_B / (capacity_Bps * makespan_s)`` (mean over the run),
    ``busy_fraction = busy_s / makespan_s`` (share of time with at least one flow),
    ``peak``: highest instantaneous share of capacity in use.
    """
    links = topology.links
    cap = np.asarray(topology.capacity_Bps, dtype=float)
    span = makespan_s if makespan_s > 0 else math.inf
    b = np.asarray(bytes_B, dtype=float)
    busy = np.asarray(busy_s, dtype=float)
    return {
        "link": [int(lk.id) for lk in links],
        "src": [str(lk.src) for lk in links],
        "dst": [str(lk.dst) for lk in links],
        "kind": [str(getattr(lk.kind, "value", lk.kind)) for lk in links],
        "capacity_Bps": cap,
        "latency_s": [float(lk.latency_s) for lk in links],
        "bytes_B": b,
        "bytes_per_step_B": b / max(steps, 1),
        "busy_s": busy,
        "utilisation": b / (cap * span),
        "busy_fraction": busy / span,
        "peak": np.asarray(peak, dtype=float),
    }
