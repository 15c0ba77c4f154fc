"""Memory per GPU: parameters, gradients, optimizer states, activations.

Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO Sec. 3.1): 16-bit parameters (2 B), gradients
(``grad_bytes``), and 12 B of fp32 optimizer state per parameter (master weight, momentum,
variance). ZeRO-1 shards the optimizer state over ``dp``, ZeRO-2 also the gradients, ZeRO-3/FSDP
also the parameters. Activations: the profile's per-layer bytes (Korthikanti et al. 2022,
Eq. 1-6, recomputation and sequence parallelism included) times the layers of the first stage
times the micro-batches it holds at once: all ``m`` for GPipe, ``pp`` for 1F1B (Korthikanti
Sec. 4.2.3), and for interleaved 1F1B Megatron's warm-up depth ``(pp-1)*2 + (v-1)*pp + 1`` model
chunks of ``L/(pp v)`` layers. Buffers, fragmentation and the CUDA context are not counted.
"""

from __future__ import annotations

from simulator.workload.profile import LayerProfile
from simulator.workload.strategies.options import DataParallelMode, PipelineSchedule, StrategyConfig

OPTIMIZER_BYTES_PER_PARAM = 12.0  # fp32 master weight + Adam m + v (ZeRO paper Sec. 3.1)


def memory_per_gpu(
    profile: LayerProfile, strategy: StrategyConfig, dp: int, microbatches: int
) -> dict[str, float]:
    """Bytes per GPU of the first pipeline stage (the fullest): params, grads, optimizer,
    activations, total. ``profile`` must already be at the strategy's TP degree."""
    pp, v = strategy.pp, strategy.pipeline.virtual_stages
    per_stage = profile.num_layers // pp
    layers = profile.layers[:per_stage]
    params = sum(lc.params + lc.expert_params / strategy.ep for lc in layers)
    params += profile.embed_params + (profile.head_params if pp == 1 else 0.0)
    mode = strategy.data_parallel.mode
    p_div = dp if mode in (DataParallelMode.ZERO3, DataParallelMode.FSDP) else 1
    g_div = (
        dp if mode in (DataParallelMode.ZERO2, DataParallelMode.ZERO3, DataParallelMode.FSDP) else 1
    )
    o_div = dp if mode is not DataParallelMode.DDP else 1
    sched = strategy.pipeline.schedule
    if pp == 1:
        in_flight_layers = float(per_stage)  # one micro-batch at a time (accumulation)
    elif sched is PipelineSchedule.GPIPE:
        in_flight_layers = float(per_stage * microbatches)
    elif sched is PipelineSchedule.INTERLEAVED and v > 1:
        chunks = min((pp - 1) * 2 + (v - 1) * pp + 1, microbatches * v)
        in_flight_layers = float(chunks * profile.num_layers // (pp * v))
    else:
        in_flight_layers = float(per_stage * min(pp, microbatches))
    act_per_layer = profile.layers[0].activation_B if profile.layers else 0.0
    out = {
        "params": params * profile.param_bytes / p_div,
        "grads": params * profile.grad_bytes / g_div,
        "optimizer": params * OPTIMIZER_BYTES_PER_PARAM / o_div,
        "activations": act_per_layer * in_flight_layers,
    }
    out["total"] = sum(out.values())
    return out
