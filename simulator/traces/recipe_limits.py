"""Up-front bounds on a recording's size, so that an outsized flag is refused, not run.

``commsim record --steps 1000000000`` or ``--d-model 10000000`` used to start the ranks and be
stopped only by ``--timeout`` (or by the kernel's OOM killer, one rank's torch traceback later).
Each bound below says why it is where it is:

* **memory**: every rank is a process on this machine (also on a rig: its namespaces share the
  host), so the ranks' estimated resident memory (:func:`rank_memory_B`) must fit in this
  machine's physical memory.
* **steps**: each measured step is profiled; a tiny-GPT step writes about 1,800 trace events
  per rank (fixture ``tests/fixtures/traces/ddp-2-gloo``: 3,556 events, 2 ranks, 1 step), and
  the importer holds every event in memory, so :data:`MAX_STEPS` steps are ~1.8 M events a rank.
* **timeout**: a rank that hangs holds its processes (and on a rig its namespaces) until the
  timeout; :data:`MAX_TIMEOUT_S` (a day) is longer than any recording needs.
"""

from __future__ import annotations

import math
import os
from typing import Final

from simulator.core.errors import InputError
from simulator.traces.models import GPTConfig

#: Most measured (or warm-up) steps in one recording (see the module docstring).
MAX_STEPS: Final[int] = 1_000
#: Longest ``--timeout`` (s): one day.
MAX_TIMEOUT_S: Final[float] = 86_400.0
#: Resident memory of a rank before its model (B): torch + torch.distributed imported. Our own
#: measurement (2026-12-05, this machine, torch 2.13 CPU): ``ru_maxrss`` 222 MiB, rounded up.
RANK_BASE_B: Final[float] = 256 * 2**20
#: Bytes per parameter: fp32 weight, gradient, DDP's gradient bucket copy and SGD's momentum.
BYTES_PER_PARAM: Final[float] = 16.0
#: fp32 values kept per token and layer for backward, in units of d_model: LayerNorm inputs
#: (2), q/k/v/attention out/projection (5), fc1 and GELU outputs (4 + 4), fc2 (1): 16.
ACT_VALUES_PER_TOKEN_LAYER: Final[float] = 16.0


def gpt_params(gpt: GPTConfig) -> float:
    """Parameters of the tiny GPT (:func:`simulator.traces.models.build_gpt_tiny`), a float so
    that outsized shapes do not build huge integers."""
    d, layers = float(gpt.d_model), float(gpt.n_layer)
    per_block = 12.0 * d * d + 13.0 * d  # q, k, v, proj (4 d^2), fc1 + fc2 (8 d^2), biases, LNs
    return layers * per_block + (float(gpt.vocab) + float(gpt.seq_len)) * d + d * gpt.vocab


def rank_memory_B(gpt: GPTConfig) -> float:
    """Estimated resident memory of one rank (bytes): base, parameters and activations."""
    tokens = float(gpt.batch) * float(gpt.seq_len)
    acts = tokens * gpt.n_layer * ACT_VALUES_PER_TOKEN_LAYER * gpt.d_model * 4.0
    scores = float(gpt.batch) * gpt.n_head * float(gpt.seq_len) ** 2 * gpt.n_layer * 4.0
    logits = tokens * gpt.vocab * 4.0 * 2.0  # logits and their gradient
    return RANK_BASE_B + BYTES_PER_PARAM * gpt_params(gpt) + acts + scores + logits


def physical_memory_B() -> float:
    """This machine's physical memory (bytes); infinite where the OS does not say."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE")) * float(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def check_recording_size(world: int, gpt: GPTConfig, steps: int, warmup: int) -> None:
    """Raise :class:`InputError` naming the flag when the recording cannot fit this machine."""
    for flag, value in (("--steps", steps), ("--warmup", warmup)):
        if value > MAX_STEPS:
            raise InputError(
                f"{value:,} steps is more than the limit of {MAX_STEPS:,}: each profiled step "
                "writes ~1,800 trace events per rank",
                field=flag,
            )
    need = world * rank_memory_B(gpt)
    have = physical_memory_B()
    if need > have:
        raise InputError(
            f"{world} ranks of the tiny GPT (d_model {gpt.d_model}, {gpt.n_layer} layers, "
            f"batch {gpt.batch}, seq_len {gpt.seq_len}, vocab {gpt.vocab}) would need about "
            f"{need / 2**30:,.3g} GiB, more than this machine's {have / 2**30:,.3g} GiB",
            field=_largest_flag(gpt),
        )


def _largest_flag(gpt: GPTConfig) -> str:
    """The shape flag furthest above its default (the one most likely mistyped)."""
    base = GPTConfig()
    ratios = {
        "--d-model": gpt.d_model / base.d_model,
        "--layers": gpt.n_layer / base.n_layer,
        "--batch": gpt.batch / base.batch,
        "--seq-len": gpt.seq_len / base.seq_len,
    }
    worst = max(ratios, key=lambda k: ratios[k])
    return worst if ratios[worst] > 1.0 else "--world"


def check_timeout(
    value: float,
    flag: str = "--timeout",
    why: str = "a hung rank holds its processes until the timeout",
) -> None:
    """``--timeout`` (or ``flag``): a finite number of seconds in (0, :data:`MAX_TIMEOUT_S`];
    ``why`` is the limit's reason, said with it."""
    if not math.isfinite(value) or value <= 0:
        raise InputError(
            f"expected seconds > 0 and at most {MAX_TIMEOUT_S:,.0f} (a day), got {value:g}",
            field=flag,
        )
    if value > MAX_TIMEOUT_S:
        raise InputError(
            f"{value:g} s is more than the limit of {MAX_TIMEOUT_S:,.0f} s (a day); {why}",
            field=flag,
        )
