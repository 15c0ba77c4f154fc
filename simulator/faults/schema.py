"""The ``faults:`` section of a scenario: what breaks, what is slow, as validated data.

Network faults (applied to the topology, see :mod:`simulator.faults.network`):

* ``links``: a link ``down`` or ``degraded`` (``bandwidth_factor`` in (0, 1], ``added_latency``
  per direction), from the start or from ``at`` seconds into the step. ``link`` selects links
  by id (``12``), by endpoints (``leaf3-spine1``: both directions; ``leaf3->spine1``: one) or
  by a pattern over node names (``leaf3->spine*``: every uplink of leaf 3; shell globs).
* ``nics``: NIC nodes down (``node3.nic5``, patterns allowed); the ranks behind them send
  through a peer GPU of their host and its NIC (NCCL's PXN), so the host's remaining NICs carry
  its share.
* ``switches``: switch nodes down (``spine1``, ``leaf*``).
* ``background``: another job's traffic on selected links, a fraction ``load`` of their
  capacity, constant or switching ``on``/``off`` periodically (seconds).

Compute perturbations (applied per rank and per step, see :mod:`simulator.faults.compute`):

* ``slow_ranks``: a compute factor (``2.0`` = twice as slow) for chosen ranks.
* ``jitter``: seeded per-step, per-rank factors from a named distribution: ``lognormal``
  (median 1, ``sigma`` of the log) or ``exponential`` (``1 + Exp(mean)``: an exponential tail).
* ``stalls``: a rank loses ``duration`` seconds every ``every`` steps (garbage collection,
  checkpoint writes), starting at step ``first``.

Ranks are given as a list of ints or a string of ranges (``"0-7,12"``). Unknown keys are
rejected; names that match nothing are reported when the faults meet a topology.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from simulator.core.bare_units import unit_latency
from simulator.core.units import MAX_COUNT, UnitError, parse_time
from simulator.limits import MAX_RANKS

#: The largest rank a fault may name (a job has at most ``simulator.limits.MAX_RANKS``).
MAX_RANK = MAX_RANKS - 1


def _time(v: Any) -> float:

    try:
        return float(parse_time(v))
    except UnitError as exc:
        raise ValueError(str(exc)) from exc


#: Longest time a fault field may hold, seconds: one day, past any training step commsim
#: simulates (the slowest shipped scenarios run steps of seconds); a longer one is a unit slip.
#: ``duration: 1e308s`` made step times inf and ``--json`` failed on it (exit 70).
MAX_FAULT_TIME_S: Final[float] = 86_400.0
#: Largest factor a rank's compute may be slowed by (``compute_factor``, jitter's ``mean``):
#: 1,000. A rank 1,000x slower than its peers is a dead rank, not a straggler;
#: ``compute_factor: 1e308`` overflowed the timeline to inf.
MAX_COMPUTE_FACTOR: Final[float] = 1e3

TimeS = Annotated[float, BeforeValidator(_time), Field(ge=0, le=MAX_FAULT_TIME_S)]
PosTimeS = Annotated[float, BeforeValidator(_time), Field(gt=0, le=MAX_FAULT_TIME_S)]


def parse_ranks(v: Any) -> tuple[int, ...]:
    """``[0, 3]``, ``3`` or ``"0-7,12"`` -> sorted distinct ranks; ``ValueError`` otherwise."""
    if isinstance(v, bool):
        raise ValueError(f"expected ranks (a list of integers or '0-7,12'), got {v!r}")
    if isinstance(v, int):
        items: list[int] = [v]
    elif isinstance(v, str):
        items = []
        for part in v.replace(" ", "").split(","):
            lo, sep, hi = part.partition("-")
            if not lo.isdigit() or (sep and not hi.isdigit()):
                raise ValueError(f"expected ranks like '0-7,12', got {v!r}")
            a, b = int(lo), int(hi) if sep else int(lo)
            if b < a:
                raise ValueError(f"empty rank range {part!r}")
            if b > MAX_RANK:  # before listing them: "0-1000000000000" listed 10^12 ranks
                raise ValueError(f"rank {b:,} is past the largest job ({MAX_RANK:,})")
            items.extend(range(a, b + 1))
    elif isinstance(v, list | tuple):
        items = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, int):
                raise ValueError(f"expected integer ranks, got {x!r}")
            items.append(x)
    else:
        raise ValueError(f"expected ranks (a list of integers or '0-7,12'), got {v!r}")
    if any(r < 0 for r in items):
        raise ValueError("ranks must be >= 0")
    if any(r > MAX_RANK for r in items):
        raise ValueError(f"rank {max(items):,} is past the largest job ({MAX_RANK:,})")
    return tuple(sorted(set(items)))


Ranks = Annotated[tuple[int, ...], BeforeValidator(parse_ranks)]


class _Model(BaseModel):
    # allow_inf_nan: an infinite compute_factor made step times nan (exit 1)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool(cls, v: Any, info: Any) -> Any:
        """``true`` is not a number: ``compute_factor: true`` was a factor of 1, ``link: true``
        link 1, ``every: true`` every step (pydantic's lax mode reads a bool as 0/1)."""
        if isinstance(v, bool):
            raise ValueError(f"expected a number or a name, got {str(v).lower()}")
        return v


class LinkState(StrEnum):
    """What a link fault does."""

    DOWN = "down"
    DEGRADED = "degraded"


class LinkFault(_Model):
    """A link down or degraded, from ``at`` seconds into the step (0: from the start)."""

    link: int | str
    state: LinkState = LinkState.DOWN
    bandwidth_factor: Annotated[float, Field(gt=0, le=1, strict=True)] = 1.0
    added_latency: Annotated[TimeS, BeforeValidator(unit_latency)] = 0.0
    at: TimeS = 0.0


class NodeFault(_Model):
    """A NIC or switch (name or pattern) down from ``at`` seconds into the step."""

    node: str
    at: TimeS = 0.0


class Background(_Model):
    """Another job's traffic: ``load`` of the selected links' capacity, on/off or constant."""

    link: int | str
    load: Annotated[float, Field(gt=0, lt=1, strict=True)]
    on: PosTimeS | None = None
    off: PosTimeS | None = None
    start: TimeS = 0.0

    @field_validator("off")
    @classmethod
    def _both(cls, v: float | None, info: Any) -> float | None:
        if (v is None) != (info.data.get("on") is None):
            raise ValueError("give both on and off (an on/off source) or neither (constant)")
        return v


class SlowRanks(_Model):
    """Ranks whose compute takes ``compute_factor`` times as long (> 0; 2.0 = twice as slow)."""

    ranks: Ranks
    compute_factor: Annotated[float, Field(gt=0, le=MAX_COMPUTE_FACTOR, strict=True)]


class Distribution(StrEnum):
    """Named jitter distributions (factors on a rank's compute time in one step)."""

    LOGNORMAL = "lognormal"  # exp(N(0, sigma^2)): median 1
    EXPONENTIAL = "exponential"  # 1 + Exp(mean): a heavy right tail, never faster


class Jitter(_Model):
    """Seeded per-step, per-rank compute factors (``ranks``: default every rank)."""

    distribution: Distribution = Distribution.LOGNORMAL
    sigma: Annotated[float, Field(gt=0, le=3, strict=True)] = 0.05
    mean: Annotated[float, Field(gt=0, le=MAX_COMPUTE_FACTOR, strict=True)] = 0.05
    ranks: Ranks | None = None


class Stall(_Model):
    """A host stall: ``ranks`` lose ``duration`` every ``every`` steps from step ``first``."""

    ranks: Ranks
    every: Annotated[int, Field(gt=0, le=MAX_COUNT)]
    duration: PosTimeS
    first: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0


class FaultsConfig(_Model):
    """Everything that goes wrong in a scenario (empty: the ideal step)."""

    links: list[LinkFault] = []
    nics: list[NodeFault] = []
    switches: list[NodeFault] = []
    background: list[Background] = []
    slow_ranks: list[SlowRanks] = []
    jitter: Jitter | None = None
    stalls: list[Stall] = []

    @property
    def network(self) -> bool:
        """True when some fault changes the network."""
        return bool(self.links or self.nics or self.switches or self.background)

    @property
    def compute(self) -> bool:
        """True when some fault changes compute times."""
        return bool(self.slow_ranks or self.jitter or self.stalls)

    @property
    def empty(self) -> bool:
        """True when nothing goes wrong."""
        return not (self.network or self.compute)

    def ranks_named(self) -> list[tuple[str, int]]:
        """``(field, rank)`` of every rank the compute faults name (checked against the job)."""
        out: list[tuple[str, int]] = []
        for i, s in enumerate(self.slow_ranks):
            out += [(f"faults.slow_ranks.{i}.ranks", r) for r in s.ranks]
        if self.jitter is not None and self.jitter.ranks is not None:
            out += [("faults.jitter.ranks", r) for r in self.jitter.ranks]
        for i, st in enumerate(self.stalls):
            out += [(f"faults.stalls.{i}.ranks", r) for r in st.ranks]
        return out
