"""Strategy options: the families, schedules and modes a scenario's ``strategy:`` section picks.

The scenario schema (:mod:`simulator.config`) embeds :class:`StrategyConfig`; the strategies read
it. Rank layout: TP fastest (inside a node), then PP, then DP.
"""

from __future__ import annotations

from enum import StrEnum

from simulator.core.schema import Flag, Fraction, NonNegInt, PosInt, SchemaModel, SizeB


class StrategyKind(StrEnum):
    """Top-level strategy families (registry keys of :mod:`simulator.workload.strategies`)."""

    COLLECTIVE = "collective"  # DP/ZeRO/FSDP x TP x PP x EP with collectives (Megatron, DDP)
    PARAMETER_SERVER = "parameter_server"
    LOCAL_SGD = "local_sgd"


class PipelineSchedule(StrEnum):
    """Pipeline-parallel schedules."""

    GPIPE = "gpipe"
    ONE_F_ONE_B = "1f1b"
    INTERLEAVED = "interleaved"


class DataParallelMode(StrEnum):
    """How data-parallel replicas synchronise gradients and hold state."""

    DDP = "ddp"
    ZERO1 = "zero1"
    ZERO2 = "zero2"
    ZERO3 = "zero3"
    FSDP = "fsdp"


class CompressionKind(StrEnum):
    """Gradient compression applied to data-parallel gradient traffic."""

    NONE = "none"
    FP16 = "fp16"
    BF16 = "bf16"
    TOPK = "topk"
    POWERSGD = "powersgd"
    ONEBIT = "onebit"


class PSMode(StrEnum):
    """Parameter-server synchronisation."""

    SYNC = "sync"
    ASYNC = "async"


class PSPlacement(StrEnum):
    """Where parameter-server shards live."""

    COLOCATED = "colocated"  # a server shard on some worker ranks, spread over hosts
    DEDICATED = "dedicated"  # the last ``servers`` ranks are servers only


class InnerSync(StrEnum):
    """Local SGD: what happens every step between averaging rounds."""

    NONE = "none"  # purely local steps
    DATACENTER = "datacenter"  # all-reduce inside each datacenter every step (DiLoCo-like)


class QKVLayout(StrEnum):
    """How tensor parallelism shards the attention input projections."""

    FUSED = "fused"  # Megatron-LM: one column-parallel QKV linear, one input-gradient all-reduce
    SEPARATE = "separate"  # q, k, v as three column-parallel linears (torch DTensor plan): three


class Hierarchy(StrEnum):
    """Grouping for hierarchical (two-level) gradient all-reduce."""

    NONE = "none"
    NODE = "node"  # reduce-scatter inside each host, all-reduce across hosts, all-gather
    DATACENTER = "datacenter"  # the same with datacenters (split at WAN links)


class PipelineConfig(SchemaModel):
    """Pipeline schedule; ``virtual_stages`` > 1 needs ``schedule: interleaved``."""

    schedule: PipelineSchedule = PipelineSchedule.ONE_F_ONE_B
    virtual_stages: PosInt = 1


class DataParallelConfig(SchemaModel):
    """Data-parallel gradient synchronisation."""

    mode: DataParallelMode = DataParallelMode.DDP
    bucket_size: SizeB = 25 * 2**20  # PyTorch DDP default bucket_cap_mb=25
    hierarchical: Hierarchy = Hierarchy.NONE
    prefetch: NonNegInt = 1
    #: ZeRO-1/2: gather the updated parameters behind the next step's forward (Megatron-LM
    #: ``--overlap-param-gather``, NeMo ``optim.overlap_param_sync``), not after the optimizer.
    overlap_param_gather: Flag = False


class CompressionConfig(SchemaModel):
    """Gradient compression (see :mod:`simulator.workload.strategies.compression`)."""

    kind: CompressionKind = CompressionKind.NONE
    ratio: Fraction = 0.01  # top-k: fraction of elements kept
    rank: PosInt = 4  # PowerSGD rank


class LocalSGDConfig(SchemaModel):
    """Local SGD / periodic parameter averaging every ``period`` steps."""

    period: PosInt = 8
    inner: InnerSync = InnerSync.NONE


class ParameterServerConfig(SchemaModel):
    """Parameter server: shards, placement, sync or async with a staleness bound."""

    servers: PosInt = 1
    placement: PSPlacement = PSPlacement.COLOCATED
    mode: PSMode = PSMode.SYNC
    staleness: NonNegInt = 1
    steps: PosInt = 4


class TensorConfig(SchemaModel):
    """Tensor-parallel details beyond the degree (:mod:`simulator.workload.strategies.tensor`)."""

    qkv: QKVLayout = QKVLayout.FUSED


class StrategyConfig(SchemaModel):
    """Parallelism. Rank layout: TP fastest (inside a node), then PP, then DP."""

    kind: StrategyKind = StrategyKind.COLLECTIVE
    tp: PosInt = 1
    pp: PosInt = 1
    dp: PosInt | None = None
    ep: PosInt = 1
    #: context parallelism: each sample's sequence split over ``cp`` ranks (Megatron-Core
    #: ``--context-parallel-size``); their parameters are the same, so gradients are reduced
    #: over ``dp x cp`` ranks. See :mod:`simulator.workload.strategies.context_parallel`.
    cp: PosInt = 1
    sequence_parallel: Flag = False
    tensor: TensorConfig = TensorConfig()
    pipeline: PipelineConfig = PipelineConfig()
    data_parallel: DataParallelConfig = DataParallelConfig()
    compression: CompressionConfig = CompressionConfig()
    local_sgd: LocalSGDConfig = LocalSGDConfig()
    parameter_server: ParameterServerConfig = ParameterServerConfig()
    fold: Flag | None = None  # representative ranks + mirrors; None: automatic (world > 16)
