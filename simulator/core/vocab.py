"""The vocabulary every layer shares: collective operations and algorithms, fidelity, numeric
formats and recomputation policies, and :func:`coerce` to read any of them from user input.

These enums are ``StrEnum``: a member compares equal to its value (``Algorithm.RING == "ring"``)
and serialises as that string in JSON and YAML.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from simulator.core.errors import InputError


class CollectiveOp(StrEnum):
    """Collective operations. Sizes follow nccl-tests' convention (see ``Collective``)."""

    ALL_REDUCE = "all_reduce"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_GATHER = "all_gather"
    BROADCAST = "broadcast"
    REDUCE = "reduce"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"
    BARRIER = "barrier"


class Algorithm(StrEnum):
    """Collective algorithms (``auto`` lets the backend profile choose per size and topology).

    ``nvls`` is the in-switch all-reduce of NVLink SHARP switches
    (:mod:`simulator.collectives.nvls`); ``nvls_tree`` is NVLS inside each node with a tree
    between nodes (:mod:`simulator.collectives.nvls_tree`).
    """

    RING = "ring"
    TREE = "tree"
    HALVING_DOUBLING = "halving_doubling"
    DIRECT = "direct"
    HIERARCHICAL = "hierarchical"
    NVLS = "nvls"
    NVLS_TREE = "nvls_tree"
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


class DType(StrEnum):
    """Numeric formats of parameters, activations and gradients."""

    FP32 = "fp32"
    TF32 = "tf32"
    FP16 = "fp16"
    BF16 = "bf16"
    FP8 = "fp8"

    @property
    def bytes(self) -> int:
        """Bytes per element."""
        return {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1}[self.value]


class Recompute(StrEnum):
    """Activation recomputation (checkpointing) policy."""

    NONE = "none"
    SELECTIVE = "selective"
    FULL = "full"


_E = TypeVar("_E", bound=StrEnum)


def coerce(enum: type[_E], value: str | _E, *, field: str) -> _E:
    """``value`` as a member of ``enum``; :class:`InputError` naming ``field`` if unknown."""
    if isinstance(value, enum):
        return value
    key = str(value).strip().lower().replace("-", "_")
    try:
        return enum(key)
    except ValueError:
        # "allreduce", "AllGather": NCCL's and gloo's spellings, without the separator
        squashed = [m for m in enum if m.value.replace("_", "") == key.replace("_", "")]
        if len(squashed) == 1:
            return squashed[0]
        choices = ", ".join(m.value for m in enum)
        from simulator.core.suggest import hint

        near = hint(value, [m.value for m in enum])
        raise InputError(
            f"unknown value {value!r} (choose from {choices}){near}", field=field
        ) from None
