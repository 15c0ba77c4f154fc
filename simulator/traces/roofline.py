"""Accelerator mode's second source of device times: a roofline of a declared GPU (no torch).

``commsim record/validate --device accel --durations roofline --gpu H100-SXM`` gives every
block and the LM head of the recorder's tiny GPT the duration the simulator's own compute model
gives that layer on that GPU: :func:`~simulator.workload.profile.profile_from_model` with
:func:`~simulator.workload.costmodel.cost_model_for` (the catalogue's dense peak FLOP/s and
HBM bandwidth, the published efficiency of that GPU, ``max(FLOPs / (peak x eff),
bytes / (HBM x mem_eff))`` per kernel, backward twice forward). So a recording and an
analytical prediction of the same layer use the same numbers.

The result has the keys of :func:`simulator.traces.accel.measure_device_times` (seconds per
token), so the device and the importer treat both sources alike.

``slowdown``: every duration is multiplied by it (time dilation). At the validation shape an
H100 layer takes microseconds while the rig's shaped links run at 0.4-1 Gbit/s, about a
thousand times slower than a GPU cluster's 400 Gbit/s per GPU; a declared slowdown of the
same order stretches compute as the rig stretches the network, so the step's
compute/communication ratio resembles a real cluster's. It is a declared scale, not a
measurement: latencies, host work (Python, autograd, the optimizer) and gloo's own overheads
are not dilated by it.
"""

from __future__ import annotations

import math
from typing import Any

from simulator.core.errors import InputError
from simulator.core.vocab import DType
from simulator.traces.models import GPTConfig
from simulator.traces.recipe import RecordConfig, RecordStrategy
from simulator.workload.costmodel import cost_model_for
from simulator.workload.modelspec import ModelSpec
from simulator.workload.profile import profile_from_model

#: The compute dtype of the roofline: the 16-bit training dtype every commsim scenario assumes
#: (the recorder's tensors stay fp32 on the host; only the device's durations use it).
ROOFLINE_DTYPE = DType.BF16


def tiny_gpt_spec(gpt: GPTConfig) -> ModelSpec:
    """The recorder's tiny GPT as a :class:`ModelSpec` (untied head, plain GELU MLP, 4h)."""
    return ModelSpec(
        name="gpt-tiny",
        layers=gpt.n_layer,
        hidden=gpt.d_model,
        heads=gpt.n_head,
        vocab=gpt.vocab,
        seq_len=gpt.seq_len,
        tie_embeddings=False,
    )


def tp_degree(cfg: RecordConfig) -> int:
    """The TP degree whose per-rank share a recording's device times take (1 unless tp)."""
    return cfg.world if cfg.strategy is RecordStrategy.TP else 1


def roofline_device_times(
    gpt: GPTConfig, gpu: str, slowdown: float = 1.0, tp: int = 1
) -> dict[str, Any]:
    """Per-token forward/backward seconds of every block and the head on ``gpu``, x ``slowdown``.

    With ``tp`` > 1 the blocks are one rank's share of a TP group (the profile at ``tp``) and
    ``"tp_ops"`` splits them over the device ops of :mod:`simulator.traces.accel_tp`: attention
    forward, MLP forward, MLP backward, and the attention backward less the q and k
    projections' backward (each ``2 x`` the forward GEMM ``2 b s h (h / tp)`` at the cost
    model's achieved FLOP/s), which run after their own all-reduces.

    Raises:
        InputError: unknown GPU (names the known ones, field ``--gpu``), or a ``slowdown``
            that is not a finite number > 0 (field ``--slowdown``).
    """
    if not (math.isfinite(slowdown) and slowdown > 0):
        raise InputError(f"must be a finite number > 0, got {slowdown}", field="--slowdown")
    try:
        cost = cost_model_for(gpu, ROOFLINE_DTYPE)
    except InputError as exc:
        raise InputError(exc.message, field="--gpu") from None
    tokens = gpt.batch * gpt.seq_len
    prof = profile_from_model(tiny_gpt_spec(gpt), cost, micro_batch=gpt.batch, tp=tp)
    per_token = slowdown / tokens
    times: dict[str, Any] = {
        "tokens": tokens,
        "block_fwd_s_per_token": [lc.fwd_s * per_token for lc in prof.layers],
        "block_bwd_s_per_token": [lc.bwd_s * per_token for lc in prof.layers],
        "head_fwd_s_per_token": prof.head_fwd_s * per_token,
        "head_bwd_s_per_token": prof.head_bwd_s * per_token,
        "method": (
            f"roofline of {cost.gpu} ({ROOFLINE_DTYPE.value}, peak {cost.peak_flops:.4g} FLOP/s "
            f"x efficiency {cost.efficiency:.3f}, HBM {cost.hbm_Bps:.4g} B/s x "
            f"{cost.memory_efficiency}: {cost.source}) x declared slowdown {slowdown:g}"
        ),
        "gpu": cost.gpu,
        "slowdown": slowdown,
    }
    if tp > 1:
        lin_bwd_s = 2.0 * cost.time_s(2.0 * tokens * gpt.d_model * gpt.d_model / tp)
        times["tp"] = tp
        times["tp_ops"] = {
            "proj_fwd": [lc.attn_fwd_s * per_token for lc in prof.layers],
            "fc2_fwd": [lc.mlp_fwd_s * per_token for lc in prof.layers],
            "fc1_bwd": [lc.mlp_bwd_s * per_token for lc in prof.layers],
            "v_bwd": [(lc.attn_bwd_s - 2 * lin_bwd_s) * per_token for lc in prof.layers],
            "k_bwd": [lin_bwd_s * per_token for _ in prof.layers],
            "q_bwd": [lin_bwd_s * per_token for _ in prof.layers],
        }
        times["method"] += f"; blocks: one rank's share at tp {tp}"
    return times
