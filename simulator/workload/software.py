"""Which training software's kernels a compute efficiency describes.

The same GPU runs the same layer at different speeds under different software: Megatron-LM's
2022 release (Korthikanti et al. 2022) ran the 1T-parameter GPT of Narayanan et al. 2021 with
identical shapes, parallel degrees and micro-batches per pipeline 8 % faster (94.42 s per
iteration, Table 5, full recomputation, plain 1F1B) than the 2021 release did (102.6 s, the 163
TFLOP/s of Table 1, with the smaller bubble of the interleaved schedule). A compute efficiency
(:mod:`simulator.workload.costmodel`) is therefore a property of a GPU *and* a software
generation; a scenario names the generation in ``hardware.software`` (default: the newest).
"""

from __future__ import annotations

from enum import StrEnum


class Software(StrEnum):
    """A training software generation whose kernel speed the cost model knows."""

    MEGATRON_LM_2021 = "megatron-lm-2021"
    MEGATRON_LM_2022 = "megatron-lm-2022"
    #: Megatron-Core with Transformer Engine (NeMo 24.x), run with ``ub_tp_comm_overlap``.
    MEGATRON_CORE_2024 = "megatron-core-2024"


#: The generation a scenario gets when it names none.
DEFAULT_SOFTWARE = Software.MEGATRON_LM_2022


def overlaps_tp_backward(software: Software) -> bool:
    """Whether a generation overlaps the backward tensor-parallel all-reduce with the weight
    gradient.

    Megatron-LM 2022 issues the all-reduce of a column-parallel linear's input gradient
    asynchronously and computes the weight gradient meanwhile (Korthikanti et al. 2022,
    Sec. 6.2: "we overlap all-reduce communication with the linear weight's gradient
    computation"; ``LinearWithGradAccumulationAndAsyncCommunication`` in Megatron-LM); the 2021
    runs of Narayanan et al. predate it.
    """
    return software is not Software.MEGATRON_LM_2021


def overlaps_tp_comm(software: Software) -> bool:
    """Whether a generation hides the sequence-parallel all-gather and reduce-scatter of a TP
    block under the block's GEMMs.

    Transformer Engine's userbuffers (NeMo ``ub_tp_comm_overlap: true``, Megatron-Core
    ``--tp-comm-overlap``) split each all-gather / reduce-scatter into chunks that travel while
    the GEMM computes on the chunks already there ("ring_exchange", "pipeline" and "bulk"
    methods in the recipes' ``ub_tp_comm_overlap_cfg``, NVIDIA/dgxc-benchmarking
    nemo_megatron/gpt3_175b_hydra.yaml). Modelled as the block's collectives running beside its
    compute; the block ends when both are done.
    """
    return software is Software.MEGATRON_CORE_2024
