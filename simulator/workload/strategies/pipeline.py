"""Pipeline-parallel schedules: the order in which a stage runs forward/backward passes.

Each schedule returns, per stage, a list of :class:`Slot` (``F`` or ``B``, micro-batch, model
chunk). Chunk ``c`` of stage ``s`` holds model chunk ``c * pp + s`` (interleaving, Narayanan et
al. 2021 Sec. 2.2.2); without interleaving every stage has one chunk.

* GPipe (Huang et al. 2019): all forwards, then all backwards (reverse micro-batch order).
* 1F1B (PipeDream-Flush, Narayanan et al. 2021 Sec. 2.2.1): ``min(pp - s - 1, m)`` warm-up
  forwards, then alternate one forward and one backward, then the remaining backwards.
* Interleaved 1F1B (Narayanan et al. 2021 Sec. 2.2.2; Megatron-LM
  ``forward_backward_pipelining_with_interleaving``): warm-up ``(pp - s - 1) * 2 + (v - 1) * pp``
  forward slots, micro-batches visited in groups of ``pp`` per chunk. Needs ``m % pp == 0``.

With zero-cost communication and equal stage times all give the bubble fraction
``(p - 1) / (m + p - 1)`` (``(p-1)/v`` in place of ``p-1`` interleaved).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Pass(StrEnum):
    """Forward or backward."""

    F = "F"
    B = "B"


@dataclass(frozen=True, slots=True)
class Slot:
    """One pass of one micro-batch through one model chunk of a stage."""

    kind: Pass
    microbatch: int
    chunk: int = 0


def gpipe(pp: int, m: int, stage: int) -> list[Slot]:
    """GPipe: all forwards, then all backwards."""
    del pp, stage
    return [Slot(Pass.F, i) for i in range(m)] + [Slot(Pass.B, i) for i in range(m)]


def one_f_one_b(pp: int, m: int, stage: int) -> list[Slot]:
    """1F1B (PipeDream-Flush)."""
    warm = min(pp - stage - 1, m)
    out = [Slot(Pass.F, i) for i in range(warm)]
    f, b = warm, 0
    while f < m:
        out.append(Slot(Pass.F, f))
        f += 1
        out.append(Slot(Pass.B, b))
        b += 1
    out += [Slot(Pass.B, i) for i in range(b, m)]
    return out


def interleaved(pp: int, m: int, stage: int, v: int) -> list[Slot]:
    """Interleaved 1F1B with ``v`` model chunks per stage."""
    if v == 1:
        return one_f_one_b(pp, m, stage)
    if m % pp:
        raise ValueError(f"interleaved schedule needs micro-batches ({m}) divisible by pp ({pp})")
    total = m * v

    def fwd(k: int) -> Slot:
        chunk = (k // pp) % v
        mb = (k // (pp * v)) * pp + k % pp
        return Slot(Pass.F, mb, chunk)

    def bwd(k: int) -> Slot:
        chunk = v - 1 - (k // pp) % v
        mb = (k // (pp * v)) * pp + k % pp
        return Slot(Pass.B, mb, chunk)

    warm = min((pp - stage - 1) * 2 + (v - 1) * pp, total)
    out = [fwd(k) for k in range(warm)]
    f, b = warm, 0
    while f < total:
        out.append(fwd(f))
        f += 1
        out.append(bwd(b))
        b += 1
    out += [bwd(k) for k in range(b, total)]
    return out


def schedule(name: str, pp: int, m: int, stage: int, v: int = 1) -> list[Slot]:
    """The slots of ``stage`` for schedule ``name`` (``gpipe``, ``1f1b``, ``interleaved``)."""
    if name == "gpipe":
        return gpipe(pp, m, stage)
    if name == "1f1b":
        return one_f_one_b(pp, m, stage)
    if name == "interleaved":
        return interleaved(pp, m, stage, v)
    raise ValueError(f"unknown pipeline schedule {name!r}")


def bubble_fraction(pp: int, m: int, v: int = 1) -> float:
    """Idle fraction of a stage with zero-cost communication: ``((p-1)/v) / (m + (p-1)/v)``."""
    idle = (pp - 1) / v
    return idle / (m + idle)
