"""Compute cost model: how long a kernel takes on a GPU, from its FLOPs and bytes moved.

A roofline with measured efficiencies: ``time = max(flops / (peak * efficiency),
bytes / (hbm_bandwidth * memory_efficiency))``. Peak FLOP/s and HBM bandwidth come from the
GPU catalogue (:mod:`simulator.hardware`, spec sheets); the efficiencies come from published
measurements listed in :data:`EFFICIENCIES`, each with its source. A scenario may override them
(``hardware.mfu``), and must then say where its figure comes from.

FP8 (``training.dtype: fp8``) is Transformer Engine's recipe: only the linear layers' GEMMs run
at the FP8 peak, with their own efficiency (:data:`FP8_EFFICIENCIES`, :data:`FP8_BY_SOFTWARE`);
the attention core, memory-bound kernels, LM head and optimizer keep the BF16 pricing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

from simulator.core.errors import InputError
from simulator.core.ir import Compute
from simulator.core.vocab import DType
from simulator.hardware import get_gpu
from simulator.workload.elementwise import (
    attention_core_bytes,
    fp8_cast_bytes,
    layer_elementwise_bytes,
)
from simulator.workload.modelspec import ModelSpec
from simulator.workload.software import DEFAULT_SOFTWARE, Software


@dataclass(frozen=True, slots=True)
class Efficiency:
    """Achieved fraction of peak for matmul-dominated transformer compute, with its source.

    ``prices_elementwise``: ``compute`` is a GEMM efficiency (the memory-bound kernels were taken
    out of the figure it comes from), so the memory-bound kernels of each layer
    (:mod:`simulator.workload.elementwise`) are priced separately from HBM bandwidth. ``False``
    means ``compute`` is an end-to-end figure (MFU) that already contains them.
    """

    compute: float
    memory: float
    source: str
    prices_elementwise: bool = False


_A100_BUBBLE = 31.5 / 543.5  # interleaved v=2, p=64, m=512 (see below)
_A100_LAYER_S = 102.6 / (512 * 2)  # end-to-end seconds per layer per micro-batch, 1T row
_A100_TP_COMM = 6 * 2 * (7 / 8) * (2048 * 25600 * 2) / 230e9 / _A100_LAYER_S
#: Spec-sheet HBM bandwidth of the A100 SXM4 80GB (the catalogue's, from the NVIDIA A100
#: datasheet: 2,039 GB/s) and the memory efficiency assumed below.
_A100_HBM_Bps = get_gpu("A100-80GB").hbm_bandwidth_Bps
_A100_MEMORY_EFFICIENCY = 0.8
_1T = ModelSpec(name="gpt-1t", layers=128, hidden=25600, heads=160, vocab=51200, seq_len=2048)
_1T_EW = layer_elementwise_bytes(_1T, 1, tp=8)
#: Share of the 1T row's layer time spent in memory-bound kernels: forward twice (full
#: recomputation) + backward, at the A100's memory rate.
_A100_ELEMENTWISE = (
    (2 * (_1T_EW.attn_fwd_B + _1T_EW.mlp_fwd_B) + _1T_EW.attn_bwd_B + _1T_EW.mlp_bwd_B)
    / (_A100_HBM_Bps * _A100_MEMORY_EFFICIENCY)
    / _A100_LAYER_S
)

#: Megatron-LM 2022 (Korthikanti et al. 2022, arXiv:2205.05198, Table 4): one transformer layer
#: of their 22B GPT (h = 6144, a = 64, s = 2048, micro-batch 4, TP 8 on a DGX A100), "Sequence
#: Parallelism" row: forward 7.2 ms. A *per-layer* timing, so no bubble, optimizer or pipeline
#: has to be backed out; the forward pass, because the backward overlaps communication with the
#: weight-gradient GEMMs (their Sec. 6.2). Taken out: the four sequence-parallel collectives
#: (all-gather / reduce-scatter of b s h x 2 B = 100.7 MB at 230 GB/s busbw, published.yaml
#: dgx-a100-allreduce-8gpu: 4 x 0.383 ms), and the memory-bound kernels and the attention-core
#: score traffic at the A100's memory rate (the same pricing the profile applies). What is left is
#: GEMM time: efficiency = GEMM FLOPs / (peak x that time). The "Sequence Parallelism" row
#: without it (forward 7.7 ms, two all-reduces) gives 0.685 the same way; the backward passes
#: 0.70 (no overlap assumed). The score GEMMs are memory-bound at this efficiency (checked in
#: tests/test_workload_elementwise.py), which the closed form below assumes.
_22B = ModelSpec(name="gpt-22b", layers=48, hidden=6144, heads=64, vocab=51200, seq_len=2048)
_22B_B, _22B_TP = 4, 8
_22B_FWD_S = 7.2e-3
_22B_TP_COMM_S = 4 * (_22B_B * 2048 * 6144 * 2) * (7 / 8) / 230e9
_22B_EW = layer_elementwise_bytes(_22B, _22B_B, tp=_22B_TP, sequence_parallel=True)
_22B_MEMORY_S = (
    _22B_EW.attn_fwd_B
    + _22B_EW.mlp_fwd_B
    + attention_core_bytes(_22B, _22B_B, tp=_22B_TP, act_bytes=2)
) / (_A100_HBM_Bps * _A100_MEMORY_EFFICIENCY)
_22B_GEMM_FLOPS = (
    _22B.attn_fwd_flops(_22B_B) + _22B.mlp_fwd_flops(_22B_B) - _22B.attn_core_fwd_flops(_22B_B)
) / _22B_TP
_A100_PEAK = get_gpu("A100-80GB").peak_flops("bf16")

#: NeMo 24.05 (Megatron-Core 2024) on H100: NVIDIA/dgxc-benchmarking nemo_megatron/README_175b.md
#: (simulator/data/published.yaml, reference dgxc-gpt3-175b-h100-128gpu-bf16): GPT-3 175B in BF16
#: on 128 H100, TP 4 x PP 8 x DP 4, interleaved with 12 chunks, micro-batch 1, global batch 256
#: (m = 64 micro-batches per pipeline), sequence parallelism, flash attention, no activation
#: recomputation: 8.309 s per step, i.e. 10.82 ms per layer per micro-batch on each GPU (12
#: layers per GPU). Taken out, as for A100 (what the simulator adds back itself):
#:  * pipeline bubble (p-1)/v / (m + (p-1)/v) = 0.583/64.583 = 0.9 %;
#:  * the 8 sequence-parallel collectives per layer per micro-batch (all-gather and
#:    reduce-scatter of b s h x 2 B = 50.3 MB over the TP group of 4, forward and backward; the
#:    simulator exposes all 8, simulator/workload/strategies/tensor.py) at the published H100
#:    NVLink busbw of 370 GB/s (published.yaml dgx-h100-reducescatter-8gpu): 0.82 ms;
#:  * the memory-bound kernels (simulator/workload/elementwise.py) at 0.8 x 3.35 TB/s: 0.24 ms.
#: What is left is GEMM time; efficiency = GEMM FLOPs / (dense BF16 peak x that time). The
#: recipe also overlaps its TP collectives with GEMMs (Transformer Engine userbuffers), which
#: the simulator does not model: that gain lands in this figure.
_H100_PEAK = get_gpu("H100-SXM").peak_flops("bf16")
_H100_HBM_Bps = get_gpu("H100-SXM").hbm_bandwidth_Bps
_H100_175B = ModelSpec(
    name="gpt3-175b",
    layers=96,
    hidden=12288,
    heads=96,
    vocab=50688,
    seq_len=2048,
    flash_attention=True,
)
_H100_P, _H100_V, _H100_TP, _H100_M = 8, 12, 4, 256 // 4
_H100_LAYER_S = 8.309 / (_H100_M * (96 // _H100_P))
_H100_BUBBLE = ((_H100_P - 1) / _H100_V) / (_H100_M + (_H100_P - 1) / _H100_V)
_H100_TP_COMM_S = 8 * (2048 * 12288 * 2) * ((_H100_TP - 1) / _H100_TP) / 370e9
_H100_EW = layer_elementwise_bytes(_H100_175B, 1, tp=_H100_TP, sequence_parallel=True)
_H100_MEMORY_S = (
    _H100_EW.attn_fwd_B + _H100_EW.mlp_fwd_B + _H100_EW.attn_bwd_B + _H100_EW.mlp_bwd_B
) / (_H100_HBM_Bps * _A100_MEMORY_EFFICIENCY)
#: The FLOPs its kernels execute: the causal flash-attention core at half its count, its
#: backward recomputing the scores (ModelSpec.layer_train_executed_flops; 1.2 % below the
#: layer's count 3 x 24 b s h^2 (1 + s/(6h))).
_H100_GEMM_FLOPS = _H100_175B.layer_train_executed_flops(1) / _H100_TP
_H100_GEMM_S = _H100_LAYER_S * (1.0 - _H100_BUBBLE) - _H100_TP_COMM_S - _H100_MEMORY_S
#: The same step priced as the recipe ran it (megatron-core-2024: the sequence-parallel
#: collectives beside the GEMMs, simulator/workload/software.py overlaps_tp_comm): nothing
#: of the TP time is on the critical path, so none is taken out (0.552).
_H100_GEMM_S_TP_HIDDEN = _H100_LAYER_S * (1.0 - _H100_BUBBLE) - _H100_MEMORY_S

#: Per-(GPU, software) efficiencies of transformer-layer compute (fraction of dense peak).
#: Derived from published timings of *other* runs than the ones we validate on, with what the
#: simulator adds itself (bubble, exposed TP communication, memory-bound kernels) taken out.
BY_SOFTWARE: dict[tuple[str, Software], Efficiency] = {
    # Narayanan et al. 2021 (SC'21, arXiv:2104.04473) Table 1, 1008B row (simulator/data/
    # published.yaml, reference megatron-gpt-1t-3072gpu): 163 TFLOP/s per A100 = 52.2% of the
    # 312 TFLOP/s bf16 peak, hardware FLOPs incl. full recomputation; 3072 GPUs, TP8 x PP64 x DP6,
    # global batch 3072, micro-batch 1 -> m = 512 micro-batches per pipeline, interleaved 1F1B
    # (Sec. 5.1) with v = 2 chunks (not stated in the paper; published.yaml's assumption).
    # That end-to-end figure contains what the simulator adds back on top of compute, so both
    # are taken out (see _A100_* above and docs/decisions.md):
    #  * pipeline bubble (p-1)/v / (m + (p-1)/v) = 31.5/543.5 = 5.8%;
    #  * exposed TP all-reduces (no sequence parallelism in 2021): 6 per layer per micro-batch
    #    (2 fwd, 2 bwd, 2 recomputed fwd) of b*s*h*2 B = 104.9 MB at 230 GB/s busbw (published.yaml
    #    dgx-a100-allreduce-8gpu) = 4.79 ms, against 100.2 ms per layer per micro-batch end to end
    #    (step time F/(163e12 * 3072) = 102.6 s over 512 micro-batches x 2 layers): 4.8%;
    #  * memory-bound kernels (layer norms, softmax/dropout over the scores, bias-gelu,
    #    bias-dropout-add; simulator/workload/elementwise.py): 6.96 GB per layer per
    #    micro-batch at 0.8 x 2039 GB/s = 4.27 ms: 4.3%.
    # 0.522 / (1 - 0.058 - 0.048 - 0.043) = 0.614: a GEMM efficiency. DP traffic (0.5% of that
    # step) is left in. memory=0.8 of spec HBM bandwidth is an assumption below a measured
    # ceiling: a plain device memcopy on an A100 40GB reaches 1355 of 1555 GB/s = 0.87
    # (PTsolvers/gpu-workshop-JuliaCon23 issue #7, luraess, 2023-07-25: "the memcopy measured
    # BW"), and kernels with reductions (softmax, layer norm) run below a copy. The 1.7B row
    # moves -3.2% / +5.2% for memory=0.7 / 0.9 (docs/published-fidelity.md).
    ("A100", Software.MEGATRON_LM_2021): Efficiency(
        compute=(163.0 / 312.0) / (1.0 - _A100_BUBBLE - _A100_TP_COMM - _A100_ELEMENTWISE),
        memory=_A100_MEMORY_EFFICIENCY,
        source="Narayanan et al. 2021 Table 1, 1T row (163 TFLOP/s/A100), bubble, TP comm and "
        "memory-bound kernels removed (Megatron-LM 2021)",
        prices_elementwise=True,
    ),
    # NeMo 24.05 on H100 with its TP collectives under the GEMMs (see _H100_* above): 0.552.
    ("H100", Software.MEGATRON_CORE_2024): Efficiency(
        compute=_H100_GEMM_FLOPS / (_H100_PEAK * _H100_GEMM_S_TP_HIDDEN),
        memory=_A100_MEMORY_EFFICIENCY,  # assumption, as for A100
        source="NVIDIA dgxc-benchmarking GPT-3 175B BF16 on 128 H100 (8.309 s/step, NeMo 24.05), "
        "bubble and memory-bound kernels removed, TP collectives under the GEMMs "
        "(Megatron-Core 2024)",
        prices_elementwise=True,
    ),
    # Korthikanti et al. 2022 Table 4 (see _22B_* above): 0.670.
    ("A100", Software.MEGATRON_LM_2022): Efficiency(
        compute=_22B_GEMM_FLOPS / (_A100_PEAK * (_22B_FWD_S - _22B_TP_COMM_S - _22B_MEMORY_S)),
        memory=_A100_MEMORY_EFFICIENCY,
        source="Korthikanti et al. 2022 Table 4, 22B layer forward 7.2 ms, sequence-parallel "
        "collectives and memory-bound kernels removed (Megatron-LM 2022)",
        prices_elementwise=True,
    ),
}

#: Per-GPU efficiency a scenario gets without ``hardware.software``: the newest generation's.
EFFICIENCIES: dict[str, Efficiency] = {
    "A100": BY_SOFTWARE[("A100", DEFAULT_SOFTWARE)],
    # NeMo 24.05 / Megatron-Core on H100 (NVIDIA/dgxc-benchmarking, see _H100_* above): 0.598,
    # a GEMM efficiency like the A100 ones. It replaced (2026-12-05, docs/decisions.md) the
    # Megatron-LM README's "up to 47% MFU", an end-to-end figure the simulator priced as GEMM
    # time and then added bubble, communication and memory-bound kernels on top of (H100 rows
    # 31-34 % slow). One figure for every software generation (no older one is published).
    "H100": Efficiency(
        compute=_H100_GEMM_FLOPS / (_H100_PEAK * _H100_GEMM_S),
        memory=_A100_MEMORY_EFFICIENCY,  # assumption, as for A100
        source="NVIDIA dgxc-benchmarking GPT-3 175B BF16 on 128 H100 (8.309 s/step, NeMo 24.05), "
        "bubble, TP comm and memory-bound kernels removed",
        prices_elementwise=True,
    ),
}
_K = TypeVar("_K")


def _as_h100(table: dict[_K, Efficiency], h100: _K, h200: _K) -> None:
    """``table[h200]``: the H100's entry ``table[h100]``, its source saying so (same die)."""
    table[h200] = replace(
        table[h100], source=table[h100].source + "; H200: the H100's figure (same die)"
    )


# H200: the H100's GH100 die with more and faster HBM (NVIDIA H200 datasheet: the same tensor
# rates as H100 SXM, simulator/data/hardware.yaml), so the H100's GEMM efficiency, not the
# end-to-end default; its memory-bound kernels are priced at its own 4.8 TB/s.
_as_h100(EFFICIENCIES, "H100", "H200")
_as_h100(BY_SOFTWARE, ("H100", Software.MEGATRON_CORE_2024), ("H200", Software.MEGATRON_CORE_2024))

# ---- FP8 (Transformer Engine) -----------------------------------------------------------
#: NeMo with Transformer Engine's FP8 recipe on H100: NVIDIA/dgxc-benchmarking
#: nemo_megatron/README_175b.md, "NeMo Megatron FP8" table (simulator/data/published.yaml,
#: reference dgxc-gpt3-175b-h100-128gpu-fp8): the BF16 calibration row's run (same model,
#: parallelism, schedule, batch; gpt3_175b_hydra.yaml with model.fp8=true: fp8_hybrid, amax
#: history 1024, fp8_params) at 5.626 s per step, i.e. 7.33 ms per layer per micro-batch on each
#: GPU. Only the linear layers run in FP8 (ModelSpec.linear_fwd_flops): the flash-attention
#: core, the memory-bound kernels, the LM head and the optimizer stay as in the BF16 run. Taken
#: out as for BF16 (what the simulator adds back itself):
#:  * the same pipeline bubble, 0.9 %;
#:  * the memory-bound kernels at 0.8 x 3.35 TB/s (as BF16: activations stay BF16) and the FP8
#:    casts of the GEMM operands (simulator/workload/elementwise.py fp8_cast_bytes) at the same
#:    rate: 0.24 + 0.26 ms;
#:  * the attention core's executed FLOPs (ModelSpec.attn_core_train_executed_flops) at the
#:    H100 BF16 GEMM efficiency of the same variant, set by the BF16 row of the same table
#:    (BY_SOFTWARE with the TP collectives under the GEMMs, EFFICIENCIES without): 0.17 / 0.15 ms;
#:  * for the variant without userbuffers, the 8 sequence-parallel collectives at 2 B per element
#:    as that software sends them (0.82 ms, as for BF16).
#: What is left is FP8 GEMM time; efficiency = linear-layer FLOPs / (dense FP8 peak x that time):
#: 0.427 with the TP collectives under the GEMMs (845 TFLOP/s, 1.57x the BF16 GEMMs' 540), 0.486
#: without. One published row sets it; the other FP8 rows of the dgxc tables are held out.
#: Reproduce: ``python -c "import simulator.workload.costmodel as c;
#: print(c.FP8_BY_SOFTWARE['H100', c.Software.MEGATRON_CORE_2024].compute,
#: c.FP8_EFFICIENCIES['H100'].compute)"``.
_FP8_STEP_S = 5.626
_H100_FP8_PEAK = get_gpu("H100-SXM").peak_flops("fp8")
_FP8_LAYER_S = _FP8_STEP_S / (_H100_M * (96 // _H100_P))
_FP8_CAST = fp8_cast_bytes(_H100_175B, 1, tp=_H100_TP)
_FP8_CAST_S = (
    _FP8_CAST.attn_fwd_B + _FP8_CAST.attn_bwd_B + _FP8_CAST.mlp_fwd_B + _FP8_CAST.mlp_bwd_B
) / (_H100_HBM_Bps * _A100_MEMORY_EFFICIENCY)
_FP8_LINEAR_FLOPS = 3.0 * _H100_175B.linear_fwd_flops(1) / _H100_TP
_FP8_CORE_FLOPS = _H100_175B.attn_core_train_executed_flops(1) / _H100_TP
_FP8_REST_S = _FP8_LAYER_S * (1.0 - _H100_BUBBLE) - _H100_MEMORY_S - _FP8_CAST_S


def _fp8_efficiency(bf16_gemm_efficiency: float, tp_comm_s: float) -> float:
    """FP8 GEMM efficiency of the 175B FP8 row with the attention core priced at
    ``bf16_gemm_efficiency`` and ``tp_comm_s`` of exposed TP collectives taken out."""
    core_s = _FP8_CORE_FLOPS / (_H100_PEAK * bf16_gemm_efficiency)
    return _FP8_LINEAR_FLOPS / (_H100_FP8_PEAK * (_FP8_REST_S - core_s - tp_comm_s))


#: FP8 GEMM efficiencies of the linear layers (fraction of the dense FP8 peak), keyed as
#: :data:`EFFICIENCIES` (per GPU) and :data:`BY_SOFTWARE` (per GPU and generation).
FP8_EFFICIENCIES: dict[str, Efficiency] = {
    "H100": Efficiency(
        compute=_fp8_efficiency(EFFICIENCIES["H100"].compute, _H100_TP_COMM_S),
        memory=_A100_MEMORY_EFFICIENCY,
        source="NVIDIA dgxc-benchmarking GPT-3 175B FP8 on 128 H100 (5.626 s/step, NeMo), "
        "bubble, TP comm, memory-bound kernels, FP8 casts and BF16 attention core removed",
        prices_elementwise=True,
    ),
}
FP8_BY_SOFTWARE: dict[tuple[str, Software], Efficiency] = {
    ("H100", Software.MEGATRON_CORE_2024): Efficiency(
        compute=_fp8_efficiency(BY_SOFTWARE[("H100", Software.MEGATRON_CORE_2024)].compute, 0.0),
        memory=_A100_MEMORY_EFFICIENCY,
        source="NVIDIA dgxc-benchmarking GPT-3 175B FP8 on 128 H100 (5.626 s/step, NeMo), "
        "bubble, memory-bound kernels, FP8 casts and BF16 attention core removed, TP "
        "collectives under the GEMMs (Megatron-Core 2024)",
        prices_elementwise=True,
    ),
}
_as_h100(FP8_EFFICIENCIES, "H100", "H200")
_as_h100(
    FP8_BY_SOFTWARE, ("H100", Software.MEGATRON_CORE_2024), ("H200", Software.MEGATRON_CORE_2024)
)


def fp8_efficiency_for(gpu_name: str, software: Software | None = None) -> Efficiency | None:
    """The FP8 GEMM efficiency of ``gpu_name`` (prefix match, as :func:`efficiency_for`), that
    of ``software`` where :data:`FP8_BY_SOFTWARE` has one; ``None`` where none is published."""
    key = gpu_name.upper()
    for name, eff in FP8_EFFICIENCIES.items():
        if key.startswith(name):
            if software is not None:
                return FP8_BY_SOFTWARE.get((name, software), eff)
            return eff
    return None


#: Used for GPUs without a published figure above: the Megatron-LM README's "up to 47% MFU" on
#: H100 (end to end), the H100 figure until 2026-12-05, kept here as the deliberately low guess.
DEFAULT_EFFICIENCY = Efficiency(
    compute=0.47,
    memory=0.8,
    source="no published figure for this GPU; Megatron-LM README H100 end-to-end 47% MFU reused",
)


def efficiency_for(gpu_name: str, software: Software | None = None) -> Efficiency:
    """The published efficiency whose key is a prefix of ``gpu_name`` (e.g. ``A100-80GB``).

    ``software`` picks a generation's figure where :data:`BY_SOFTWARE` has one; otherwise (and
    for ``None``) the GPU's figure in :data:`EFFICIENCIES`.
    """
    key = gpu_name.upper()
    for name, eff in EFFICIENCIES.items():
        if key.startswith(name):
            if software is not None:
                return BY_SOFTWARE.get((name, software), eff)
            return eff
    return DEFAULT_EFFICIENCY


@dataclass(frozen=True, slots=True)
class CostModel:
    """Roofline compute model of one GPU.

    Attributes:
        peak_flops: dense peak FLOP/s for the compute dtype (spec sheet).
        hbm_Bps: HBM bandwidth, B/s (spec sheet).
        efficiency: fraction of ``peak_flops`` achieved by transformer compute.
        memory_efficiency: fraction of ``hbm_Bps`` achieved by memory-bound kernels.
        source: where the efficiencies come from.
        gpu: catalogue name.
        elementwise: price each layer's memory-bound kernels separately
            (:attr:`Efficiency.prices_elementwise`); ``False`` when ``efficiency`` is an
            end-to-end figure that already contains them.
        software: the software generation whose kernels (and schedule features) are modelled.
        fp8_peak_flops, fp8_efficiency: dense FP8 peak FLOP/s and the FP8 GEMM efficiency of
            the linear layers (Transformer Engine's FP8 recipe, :meth:`linear_time_s`); 0: the
            linear layers run at ``peak_flops`` like everything else.
    """

    peak_flops: float
    hbm_Bps: float
    efficiency: float
    memory_efficiency: float = 0.8
    source: str = ""
    gpu: str = ""
    elementwise: bool = False
    software: Software = DEFAULT_SOFTWARE
    fp8_peak_flops: float = 0.0
    fp8_efficiency: float = 0.0

    @property
    def fp8(self) -> bool:
        """Whether the linear layers run as FP8 GEMMs (:meth:`linear_time_s`)."""
        return self.fp8_peak_flops > 0.0

    def linear_time_s(self, flops: float) -> float:
        """Seconds for ``flops`` FLOPs of a linear layer's GEMMs: at the FP8 rate under the FP8
        recipe, else as :meth:`time_s` (compute-bound: GEMMs are priced by FLOPs)."""
        if not self.fp8:
            return self.time_s(flops)
        return flops / (self.fp8_peak_flops * self.fp8_efficiency) if flops else 0.0

    def time_s(self, flops: float = 0.0, bytes_B: float = 0.0) -> float:
        """Seconds for a kernel of ``flops`` FLOPs touching ``bytes_B`` bytes of HBM."""
        t_c = flops / (self.peak_flops * self.efficiency) if flops else 0.0
        t_m = bytes_B / (self.hbm_Bps * self.memory_efficiency) if bytes_B else 0.0
        return max(t_c, t_m)

    def __call__(self, op: Compute, rank: int = -1) -> float:
        """Duration of a :class:`Compute` op: its ``duration_s`` if known, else the roofline.

        Matches the engine's ``compute_model(op, rank)``; ``rank`` is unused (homogeneous GPUs).
        """
        if op.duration_s is not None:
            return op.duration_s
        return self.time_s(op.flops, op.bytes_accessed_B)

    @property
    def achieved_flops(self) -> float:
        """FLOP/s this model assumes for compute-bound kernels."""
        return self.peak_flops * self.efficiency


def cost_model_for(
    gpu_name: str,
    dtype: DType,
    *,
    efficiency: float | None = None,
    memory_efficiency: float | None = None,
    source: str | None = None,
    software: Software | None = None,
) -> CostModel:
    """Build a :class:`CostModel` from the GPU catalogue and :data:`EFFICIENCIES`
    (:data:`BY_SOFTWARE` for a named ``software`` generation).

    ``dtype`` FP8 is Transformer Engine's recipe: the linear layers at the catalogue's dense FP8
    peak times :func:`fp8_efficiency_for`, everything else at the BF16 peak and the BF16
    efficiency. With a scenario's own ``efficiency`` (an end-to-end MFU) the whole step is
    priced at that fraction of the FP8 peak, the convention NVIDIA's FP8 MFU figures use.

    Raises:
        simulator.core.errors.InputError: unknown GPU (from the catalogue); FP8 on a GPU with no
            FP8 rate or no FP8 efficiency.
    """
    gpu = get_gpu(gpu_name)
    published = efficiency_for(gpu.name, software)
    fp8_peak, fp8_eff, fp8_source = 0.0, 0.0, ""
    peak_dtype = dtype.value
    if dtype is DType.FP8 and efficiency is None:
        fp8 = fp8_efficiency_for(gpu.name, software)
        fp8_peak = gpu.peak_flops("fp8")
        if fp8 is None:
            known = ", ".join(FP8_EFFICIENCIES)
            raise InputError(
                f"no published FP8 GEMM efficiency for GPU {gpu.name} (known: {known})",
                field="dtype",
            )
        fp8_eff, fp8_source = fp8.compute, f"; FP8 linear layers {fp8.compute:.3f}: {fp8.source}"
        peak_dtype = "bf16"
    return CostModel(
        peak_flops=gpu.peak_flops(peak_dtype),
        hbm_Bps=gpu.hbm_bandwidth_Bps,
        efficiency=published.compute if efficiency is None else efficiency,
        memory_efficiency=published.memory if memory_efficiency is None else memory_efficiency,
        source=(published.source + fp8_source)
        if efficiency is None
        else (source or "scenario override"),
        gpu=gpu.name,
        # A scenario's own figure (hardware.mfu) is end to end: it already holds these kernels.
        elementwise=published.prices_elementwise and efficiency is None,
        software=software or DEFAULT_SOFTWARE,
        fp8_peak_flops=fp8_peak,
        fp8_efficiency=fp8_eff,
    )
