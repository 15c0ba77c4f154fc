"""What an algorithm really sends: transfers, steps, phases, schedules.

A :class:`Schedule` is what every algorithm module builds, purely (no topology, no simpy):

* a :class:`Transfer` is ``size_B`` bytes from global rank ``src`` to ``dst`` on ``channel``
  (the channel is the ECMP key when routed, like NCCL's channels pick different paths);
* a *step* is a tuple of transfers that happen at the same time;
* a :class:`Phase` is a run of steps that the backend pipelines (a ring all-reduce is one
  phase of ``2(n-1)`` steps). It carries both views of the same traffic:
  ``flows`` (bytes summed per ``(src, dst, channel)`` over the phase: what ``flow`` fidelity
  puts on the fabric), ``depth`` (the number of sequential steps: what latency costs) and
  ``steps()`` (every step, built lazily: what ``chunk`` fidelity runs);
* phases run in sequence.

Units: bytes (``_B``). Sizes follow nccl-tests' convention (see
:class:`simulator.core.ir.Collective`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter

from simulator.core.vocab import Algorithm, CollectiveOp


@dataclass(frozen=True, slots=True)
class Transfer:
    """``size_B`` bytes from global rank ``src`` to global rank ``dst`` on ``channel``."""

    src: int
    dst: int
    size_B: float
    channel: int = 0


Step = tuple[Transfer, ...]

_KEY = attrgetter("src", "dst", "channel")
_SIZE = attrgetter("size_B")


@dataclass(frozen=True)
class Phase:
    """Steps an algorithm pipelines; see the module docstring.

    Attributes:
        name: label for records (``"ring"``, ``"intra.reduce_scatter"``, ...).
        flows: the phase's bytes per ``(src, dst, channel)``, summed over its steps.
        depth: sequential steps on the critical path (each costs one per-step latency).
        step_fn: builds the steps (lazily: a 1024-rank ring has 2 million transfers).
        reduce_B: bytes each rank reduces (adds) during the phase (0 for pure data movement).
    """

    name: str
    flows: tuple[Transfer, ...]
    depth: int
    step_fn: Callable[[], list[Step]] = field(repr=False, compare=False)
    reduce_B: float = 0.0

    def steps(self) -> list[Step]:
        """Every step of the phase, in order."""
        return self.step_fn()

    @property
    def bytes_B(self) -> float:
        """Total bytes the phase moves (sum over its transfers)."""
        return float(sum(map(_SIZE, self.flows)))  # the same additions, read in C


@dataclass(frozen=True)
class Schedule:
    """A collective expanded by an algorithm: phases run one after the other.

    Attributes:
        algo: the algorithm that built it (never ``auto``).
        op: the collective.
        group: global ranks, in the order the algorithm used them.
        size_B: the collective's size (nccl-tests convention).
        phases: in execution order.
        channels: how many parallel channels the bytes were split over.
    """

    algo: Algorithm
    op: CollectiveOp
    group: tuple[int, ...]
    size_B: float
    phases: tuple[Phase, ...]
    channels: int = 1

    @property
    def bytes_B(self) -> float:
        """Total bytes moved by all transfers of all phases."""
        return float(sum(p.bytes_B for p in self.phases))

    @property
    def depth(self) -> int:
        """Sequential steps over all phases."""
        return sum(p.depth for p in self.phases)


def aggregate(transfers: Iterable[Transfer]) -> tuple[Transfer, ...]:
    """Sum bytes per ``(src, dst, channel)``, keeping first-seen order (deterministic).

    When every key occurs once and every size is a positive float (``0.0 + x`` is ``x``
    bit for bit), the sums are the transfers themselves: they are returned as they are
    (frozen, so sharing them is safe) instead of rebuilt.
    """
    ts = tuple(transfers)
    sizes = list(map(_SIZE, ts))  # read in C (a 16,384-rank tree has 262,128 transfers)
    if (
        len(set(map(_KEY, ts))) == len(ts)
        and set(map(type, sizes)) <= {float}
        and all(map((0.0).__lt__, sizes))  # x > 0.0 (false for NaN)
    ):
        return ts
    acc: dict[tuple[int, int, int], float] = {}
    for t in ts:
        key = (t.src, t.dst, t.channel)
        acc[key] = acc.get(key, 0.0) + t.size_B
    return tuple(Transfer(s, d, b, c) for (s, d, c), b in acc.items())


def phase_from_steps(name: str, steps: Sequence[Step], *, reduce_B: float = 0.0) -> Phase:
    """A phase from explicit steps (for algorithms with few transfers per step)."""
    frozen = [tuple(s) for s in steps if s]
    return Phase(
        name=name,
        flows=aggregate(chain.from_iterable(frozen)),
        depth=len(frozen),
        step_fn=lambda: list(frozen),
        reduce_B=reduce_B,
    )


def uniform_phase(
    name: str, hops: Sequence[Transfer], depth: int, *, reduce_B: float = 0.0
) -> Phase:
    """A phase whose every step repeats the same hops (rings, chains pipelined).

    ``hops`` carry the bytes of *one step*; the phase's flows carry ``depth`` times that.
    """
    one = tuple(hops)
    flows = aggregate(Transfer(t.src, t.dst, t.size_B * depth, t.channel) for t in one)
    return Phase(
        name=name,
        flows=flows,
        depth=depth,
        step_fn=lambda: [one] * depth,
        reduce_B=reduce_B,
    )


def pipeline(steps: Sequence[Step], chunks: int) -> list[Step]:
    """Split each step into ``chunks`` pieces and pipeline them (wavefronts).

    Wavefront ``w`` holds step ``w - c`` of chunk ``c`` for every valid ``c``, each transfer
    carrying ``1/chunks`` of its bytes: ``len(steps) + chunks - 1`` wavefronts in all.
    """
    if chunks <= 1:
        return list(steps)
    k = len(steps)
    out: list[Step] = []
    for w in range(k + chunks - 1):
        wave: list[Transfer] = []
        for c in range(chunks):
            s = w - c
            if 0 <= s < k:
                wave.extend(Transfer(t.src, t.dst, t.size_B / chunks, t.channel) for t in steps[s])
        out.append(tuple(wave))
    return out
