"""Enums and small pure helpers shared by every collective algorithm.

``busbw_factor`` follows nccl-tests' PERFORMANCE.md: the bus bandwidth of a collective is its
algorithm bandwidth (``size_B / time_s``) times a factor that makes it comparable with the
bandwidth of the slowest link, whatever the number of ranks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from simulator.errors import InputError
from simulator.workload.ir import CollectiveOp


class Algorithm(StrEnum):
    """Collective algorithms (``auto`` lets the backend profile choose per size and topology).

    ``nvls`` is the in-switch all-reduce of NVLink SHARP switches (:mod:`.nvls`).
    """

    RING = "ring"
    TREE = "tree"
    HALVING_DOUBLING = "halving_doubling"
    DIRECT = "direct"
    HIERARCHICAL = "hierarchical"
    NVLS = "nvls"
    AUTO = "auto"


class Fidelity(StrEnum):
    """How finely a collective is simulated.

    * ``analytical``: closed-form alpha-beta time from the schedule's per-link load, no fabric.
    * ``flow``: every algorithm *phase* as concurrent flows on the shared fabric (default).
    * ``chunk``: every algorithm step and chunk as its own flows, steps in sequence.
    """

    ANALYTICAL = "analytical"
    FLOW = "flow"
    CHUNK = "chunk"


_E = TypeVar("_E", bound=StrEnum)


def coerce(enum: type[_E], value: str | _E, *, field: str) -> _E:
    """``value`` as a member of ``enum``; :class:`InputError` naming ``field`` if unknown."""
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower().replace("-", "_"))
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise InputError(f"unknown value {value!r} (choose from {choices})", field=field) from None


def busbw_factor(op: CollectiveOp | str, n: int) -> float:
    """busbw / algbw as nccl-tests' PERFORMANCE.md defines it for ``n`` ranks.

    all_reduce ``2(n-1)/n``; all_gather, reduce_scatter, all_to_all ``(n-1)/n``;
    broadcast, reduce, send_recv ``1``; barrier ``1`` (it moves no payload).
    """
    op = coerce(CollectiveOp, op, field="op")
    if n < 1:
        raise InputError(f"a collective needs at least one rank, got {n}", field="ranks")
    if op is CollectiveOp.ALL_REDUCE:
        return 2.0 * (n - 1) / n
    if op in (CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_TO_ALL):
        return (n - 1) / n
    return 1.0
