"""Which runs the validation ladder makes: strategy names, what-if topologies, model sizes.

Pure data and small helpers, no rig and no torch: :mod:`simulator.studies.rig_validation` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulator.core.errors import InputError
from simulator.core.suggest import hint
from simulator.traces.recipe import RecordStrategy


class Tier(StrEnum):
    """The three rungs of the validation ladder that run on the rig (DESIGN.md)."""

    REPLAY = "replay"  # record on T, replay on T
    TOPOLOGY = "topology"  # record on T1, predict T2, measure T2
    STRATEGY = "strategy"  # record DDP, predict another strategy, measure it


#: The tier name fault cases carry in ``validate.json`` (:mod:`simulator.studies.rig_faults`).
FAULT_TIER = "faults"


#: ``commsim validate --strategies`` names -> the recorder's strategy names.
STRATEGY_ALIASES: dict[str, str] = {
    "ddp": "ddp",
    "fsdp": "fsdp",
    "pp": "pp-1f1b",
    "tp": "tp",
    "ps": "ps-sync",
    "compress": "ddp-fp16",
}

#: Tier-2 what-if variants of each shipped rig topology (all in ``topologies/``).
WHAT_IF: dict[str, tuple[str, ...]] = {
    "rig-2host": ("rig-2host-halfnic",),
    "rig-4host-2rack": ("rig-4host-2rack-oversub",),
}

#: The strategy every tier-3 case is recorded with, and every tier-2 case at least.
BASE_STRATEGY = "ddp"

#: Strategies tier 2 also records on both topologies when they are among those validated: FSDP
#: blocks on its collectives inside hooks, which a replay must read as waits, not compute.
TOPOLOGY_STRATEGIES: tuple[str, ...] = (BASE_STRATEGY, "fsdp")


@dataclass(frozen=True)
class ModelShape:
    """Shape of the recorder's tiny GPT for a validation run.

    Chosen so that communication is most of a step at the rig's link rates: a d_model-256,
    4-layer GPT has about 3.3 M parameters (13 MB of fp32 gradients: 0.27 s at 400 Mbit/s),
    while 4 x 32 tokens per rank keep one step's compute near 0.1-0.2 s on one core, so the
    measurement depends more on the network than on how busy the shared CPU cores are. The
    batch stays a multiple of the recorder's 4 pipeline micro-batches.
    """

    n_layer: int = 4
    d_model: int = 256
    n_head: int = 4
    batch: int = 4
    seq_len: int = 32


def recorder_strategy(name: str) -> str:
    """The recorder's name for ``name`` (an alias above, or already a recorder name)."""

    key = name.strip().lower()
    rec = STRATEGY_ALIASES.get(key, key)
    valid = {s.value for s in RecordStrategy}
    if rec not in valid:
        choices = ", ".join([*STRATEGY_ALIASES, *sorted(valid - set(STRATEGY_ALIASES.values()))])
        near = hint(name, [*STRATEGY_ALIASES, *valid])
        raise InputError(
            f"unknown strategy {name!r}{near} (choose from {choices})", field="--strategies"
        )
    return rec


def parse_strategies(text: str) -> list[str]:
    """Comma-separated strategy names -> recorder names, in order, without repeats."""
    out: list[str] = []
    for part in text.split(","):
        if part.strip():
            rec = recorder_strategy(part)
            if rec not in out:
                out.append(rec)
    if not out:
        raise InputError("no strategy given", field="--strategies")
    return out
