"""Profiles and workloads of the applications (:mod:`simulator.workload.apps`).

The specs give FLOPs, parameters and activation bytes; here they become a
:class:`~simulator.workload.profile.LayerProfile` on one GPU (forward at the cost model's
achieved FLOP/s, backward 2x forward as in :func:`~simulator.workload.profile.profile_from_model`)
and go through the same strategies as the LLMs. The applications run data-parallel
(``tp = pp = 1``): DDP all-reduce, ZeRO/FSDP, compression, parameter servers, local SGD.

A GAN step is two phases (Goodfellow et al. 2014, Algorithm 1): a discriminator step (G
forward without gradients, D forward and backward on real and generated images, D's gradients
synchronised, D updated) and a generator step (G and D forward, gradients back through D into G,
G's gradients synchronised, G updated): two models, two gradient synchronisations a step. Each
phase is built by the scenario's strategy on its own profile; :func:`concat_phases` runs them
one after the other on every rank. With several steps per program (parameter servers) the
phases run as blocks (all discriminator steps, then all generator steps); per-step time is the
same for synchronous strategies, and an asynchronous one drains between the two blocks, which
makes it at most one step's staleness window slower than alternating step by step.

Memory-bound kernels (norms, activations, the batch norm of convolutions) are not priced
separately here: the scenario's efficiency must be an end-to-end figure (``hardware.mfu``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypedDict

from simulator.core.ir import Program, Workload
from simulator.core.vocab import DType
from simulator.limits import MAX_OPS, check_limit
from simulator.workload.apps.conformer import ConformerSpec
from simulator.workload.apps.dcgan import ConvLayer, DCGANSpec
from simulator.workload.apps.encdec import EncDecSpec
from simulator.workload.costmodel import CostModel
from simulator.workload.memory import memory_per_gpu
from simulator.workload.profile import ADAM_BYTES_PER_PARAM_EXCL_GRAD, LayerCost, LayerProfile
from simulator.workload.strategies.options import StrategyConfig

AppSpec = EncDecSpec | ConformerSpec | DCGANSpec


def _layer(
    cost: CostModel,
    *,
    attn_flops: float,
    mlp_flops: float = 0.0,
    params: float = 0.0,
    activation_B: float = 0.0,
    bwd: float = 2.0,
) -> LayerCost:
    a, m = cost.time_s(attn_flops), cost.time_s(mlp_flops)
    return LayerCost(
        attn_fwd_s=a,
        mlp_fwd_s=m,
        attn_bwd_s=bwd * a,
        mlp_bwd_s=bwd * m,
        params=params,
        activation_B=activation_B,
        flops_fwd=attn_flops + mlp_flops,
    )


class _Frame(TypedDict):
    """The :class:`LayerProfile` fields every application profile fills the same way."""

    micro_batch: int
    act_bytes: int
    grad_bytes: int
    optimizer_s_per_param: float
    achieved_flops: float
    memory_Bps: float
    source: str


def _frame(cost: CostModel, b: int, act: DType, grad: DType, name: str) -> _Frame:
    return {
        "micro_batch": b,
        "act_bytes": act.bytes,
        "grad_bytes": grad.bytes,
        "optimizer_s_per_param": cost.time_s(bytes_B=ADAM_BYTES_PER_PARAM_EXCL_GRAD + grad.bytes),
        "achieved_flops": cost.achieved_flops,
        "memory_Bps": cost.hbm_Bps * cost.memory_efficiency,
        "source": f"analytical ({name}; {cost.gpu}, efficiency {cost.efficiency:.3f}: "
        f"{cost.source})",
    }


def encdec_profile(
    spec: EncDecSpec, cost: CostModel, b: int, act: DType, grad: DType
) -> LayerProfile:
    """Encoder layers then decoder layers (cross-attention in the decoder's attention half)."""
    a = act.bytes / 2.0
    enc = _layer(
        cost,
        attn_flops=spec.encoder_attn_fwd_flops(b),
        mlp_flops=spec.ffn_fwd_flops(b, spec.src_len),
        params=spec.encoder_layer_params(),
        activation_B=spec.encoder_activation_B(b) * a,
    )
    dec = _layer(
        cost,
        attn_flops=spec.decoder_self_attn_fwd_flops(b) + spec.cross_attn_fwd_flops(b),
        mlp_flops=spec.ffn_fwd_flops(b, spec.tgt_len),
        params=spec.decoder_layer_params(),
        activation_B=spec.decoder_activation_B(b) * a,
    )
    # one tuple entry per layer below
    check_limit(spec.decoder_layers, MAX_OPS, "decoder layers", field="model.app.decoder_layers")
    embed = cost.time_s(bytes_B=2.0 * b * (spec.src_len + spec.tgt_len) * spec.hidden * act.bytes)
    head = cost.time_s(spec.head_fwd_flops(b))
    d, f = spec.hidden, spec.ffn_hidden
    return LayerProfile(
        layers=(enc,) * spec.encoder_layers + (dec,) * spec.decoder_layers,
        seq_len=spec.src_len,
        hidden=d,
        embed_fwd_s=embed,
        embed_bwd_s=embed,
        head_fwd_s=head,
        head_bwd_s=2.0 * head,
        embed_params=spec.embedding_params(),
        head_params=0.0,
        weight_shapes=((d, 3 * d), (d, d), (d, f), (f, d)),
        **_frame(cost, b, act, grad, spec.name),
    )


def conformer_profile(
    spec: ConformerSpec, cost: CostModel, b: int, act: DType, grad: DType
) -> LayerProfile:
    """Subsampling as the embedding, blocks as layers, the RNN-T decoder as the head."""
    block = _layer(
        cost,
        attn_flops=spec.attn_conv_fwd_flops(b),
        mlp_flops=spec.ffn_fwd_flops(b),
        params=spec.block_params(),
        activation_B=spec.block_activation_B(b) * act.bytes / 2.0,
    )
    sub = cost.time_s(spec.subsampling_fwd_flops(b))
    dec = cost.time_s(spec.decoder_fwd_flops(b))
    d = spec.hidden
    return LayerProfile(
        layers=(block,) * spec.layers,
        seq_len=spec.frames,
        hidden=d,
        embed_fwd_s=sub,
        embed_bwd_s=2.0 * sub,
        head_fwd_s=dec,
        head_bwd_s=2.0 * dec,
        embed_params=spec.subsampling_params(),
        head_params=spec.decoder_params(),
        tie_embeddings=False,
        weight_shapes=((d, 3 * d), (d, d), (d, 2 * d), (d, d), (d, 4 * d), (4 * d, d)),
        **_frame(cost, b, act, grad, spec.name),
    )


def _conv(
    cost: CostModel, lay: ConvLayer, b: int, *, bwd: float, train: bool, act: DType
) -> LayerCost:
    return _layer(
        cost,
        attn_flops=lay.fwd_flops(b),
        params=lay.params if train else 0.0,
        activation_B=lay.activation_B(b, act.bytes) if bwd else 0.0,
        bwd=bwd,
    )


def dcgan_phase_profiles(
    spec: DCGANSpec, cost: CostModel, b: int, act: DType, grad: DType
) -> tuple[LayerProfile, LayerProfile]:
    """(discriminator step, generator step) profiles; see the module docstring.

    Layers whose parameters the phase does not update carry no parameters, so only the trained
    model's gradients are synchronised in each phase.
    """
    g, d = spec.generator(), spec.discriminator()
    d_step = [_conv(cost, lay, b, bwd=0.0, train=False, act=act) for lay in g] + [
        _conv(cost, lay, 2 * b, bwd=2.0, train=True, act=act) for lay in d
    ]
    g_step = [_conv(cost, lay, b, bwd=2.0, train=True, act=act) for lay in g] + [
        _conv(cost, lay, b, bwd=1.0, train=False, act=act) for lay in d
    ]
    shapes = tuple((lay.c_out, lay.c_in * lay.k * lay.k) for lay in g + d)
    frame = _frame(cost, b, act, grad, spec.name)

    def prof(layers: list[LayerCost]) -> LayerProfile:
        return LayerProfile(
            layers=tuple(layers),
            seq_len=1,
            hidden=spec.latent,
            tie_embeddings=False,
            weight_shapes=shapes,
            **frame,
        )

    return prof(d_step), prof(g_step)


def phase_profiles(
    spec: AppSpec, cost: CostModel, *, micro_batch: int, act: DType, grad: DType
) -> list[LayerProfile]:
    """The profiles of one training step, one per phase (two for a GAN)."""
    b = micro_batch
    if isinstance(spec, EncDecSpec):
        return [encdec_profile(spec, cost, b, act, grad)]
    if isinstance(spec, ConformerSpec):
        return [conformer_profile(spec, cost, b, act, grad)]
    return list(dcgan_phase_profiles(spec, cost, b, act, grad))


def concat_phases(phases: list[Workload]) -> Workload:
    """One workload running ``phases`` back to back on every rank.

    A phase's ops are renumbered after the previous phase's; every op of a later phase that
    waits for nothing but its stream waits for the ends of every stream of the phase before.
    Collectives keep matching: each rank appends the same collectives in the same order.
    """
    first = phases[0]
    steps = {w.steps_per_program for w in phases}
    if len(steps) != 1:
        raise ValueError("phases must simulate the same number of steps")
    ranks = sorted({p.rank for w in phases for p in w.programs})
    merged: list[Program] = []
    for r in ranks:
        prog = Program(rank=r)
        tails: tuple[int, ...] = ()
        for w in phases:
            src = w.program(r)
            if src is None:
                continue
            base = len(prog.ops)
            ids = {op.id: base + i for i, op in enumerate(src.ops)}
            seen: set[str] = set()
            last: dict[str, int] = {}
            for op in src.ops:
                deps = tuple(ids[x] for x in op.deps)
                if op.stream not in seen and not op.deps:
                    deps = tails
                seen.add(op.stream)
                new = replace(op, id=ids[op.id], deps=deps)
                prog.ops.append(new)
                last[op.stream] = new.id
            tails = tuple(sorted(last.values())) or tails
        merged.append(prog)
    wl = first.with_programs(merged)
    wl.metadata["phases"] = len(phases)
    return wl


def app_memory(profiles: list[LayerProfile], st: StrategyConfig, dp: int) -> dict[str, float]:
    """Memory per GPU: both models' parameter state, the larger phase's activations."""
    params = sum(p.total_params() for p in profiles)
    whole = replace(profiles[0], layers=(), embed_params=params, head_params=0.0)
    mem = memory_per_gpu(whole, st, dp, 1)
    mem["activations"] = max(sum(lc.activation_B for lc in p.layers) for p in profiles)
    mem["total"] = mem["params"] + mem["grads"] + mem["optimizer"] + mem["activations"]
    return mem
