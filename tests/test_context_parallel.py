"""Context parallelism (``strategy.cp``): each sample's sequence split over ``cp`` ranks, ring
attention's K/V exchange beside the attention block, gradients reduced over ``dp x cp``."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.core.errors import InputError
from simulator.core.ir import Collective
from simulator.core.vocab import CollectiveOp
from simulator.engine import simulate
from simulator.topology import load_topology
from simulator.workload.modelspec import ModelShape, ModelSpec
from simulator.workload.strategies.layout import Layout

TOPO = "dgx-h100"
MODEL = {"layers": 4, "hidden": 4096, "heads": 32, "kv_heads": 8, "vocab": 8192}


def _scenario(cp: int, dp: int, **extra: Any) -> Any:
    return scenario_from_dict(
        {
            "name": "cp",
            "topology": TOPO,
            "model": {**MODEL, "flash_attention": True},
            "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 8192},
            "strategy": {"tp": 2, "cp": cp, "dp": dp, **extra},
        }
    )


def _build(cp: int, dp: int, **extra: Any) -> Any:
    return build_workload(_scenario(cp, dp, **extra), load_topology(TOPO))


def test_layout_puts_cp_ranks_beside_tp_and_inverts() -> None:
    lay = Layout(tp=2, pp=2, dp=4, cp=2)
    assert lay.cp_group(0, 0, 0) == (0, 2)  # next to the TP pair (0, 1), before stage 1
    assert lay.cp_group(1, 1, 3) == (13, 15)
    assert sorted(lay.rank(*lay.coords(r)) for r in range(lay.world)) == list(range(lay.world))
    assert lay.dp_group(0, 0) == (0, 2, 8, 10)  # gradients: every replica, CP ranks included


def test_layout_refuses_cp_that_does_not_divide() -> None:
    with pytest.raises(ValueError, match="cp=3 must divide"):
        Layout(tp=1, dp=4, cp=3)


def test_layout_cuts_ep_groups_from_the_replicas_cp_ranks_included() -> None:
    """As Megatron-Core's expert rank generator (no CP dimension, ``ep`` consecutive ranks of
    the DP x CP ones): TP 2, CP 2, DP 2 x CP 2 = 4 replicas, EP 2 pairs a sample's CP ranks;
    EP 4 spans both samples; the same experts sit on one rank of every EP group."""
    lay = Layout(tp=2, dp=4, cp=2, ep=2)
    assert lay.ep_group(0, 0, 0) == lay.cp_group(0, 0, 0) == (0, 2)
    assert lay.ep_group(1, 0, 3) == (5, 7)
    assert lay.expert_dp_group(0, 0, 0) == (0, 4)
    wide = Layout(tp=2, dp=4, cp=2, ep=4)
    assert wide.ep_group(0, 0, 0) == (0, 2, 4, 6) and wide.expert_dp_group(0, 0, 1) == (2,)


def test_rank_spec_holds_its_shard_and_attends_over_the_sample() -> None:
    shape = ModelShape(**MODEL)
    full, half = ModelSpec.of(shape, 8192), ModelSpec.of(shape, 8192, 2)
    assert (half.seq_len, half.kv_len) == (4096, 8192)
    # linear layers: half the tokens; attention core: half the queries against all keys
    proj = full.attn_fwd_flops(1) - full.attn_core_fwd_flops(1)
    assert half.attn_fwd_flops(1) - half.attn_core_fwd_flops(1) == pytest.approx(proj / 2)
    assert half.attn_core_fwd_flops(1) == pytest.approx(full.attn_core_fwd_flops(1) / 2)
    assert half.mlp_fwd_flops(1) == pytest.approx(full.mlp_fwd_flops(1) / 2)
    with pytest.raises(ValueError, match="does not split"):
        ModelSpec.of(shape, 8191, 2)


def test_kv_exchange_collectives_per_layer() -> None:
    built = _build(cp=2, dp=1)
    prog = built.workload.programs[0]
    cp_ops = [op for op in prog.ops if isinstance(op, Collective) and op.category == "cp"]
    fwd = [op for op in cp_ops if op.name.startswith("fwd.")]
    bwd = [op for op in cp_ops if op.name.startswith("bwd.")]
    layers, mbs = 4, 8
    assert len(fwd) == layers * mbs and all(op.op is CollectiveOp.ALL_GATHER for op in fwd)
    assert len(bwd) == 2 * layers * mbs
    assert {op.op for op in bwd} == {CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER}
    # the whole sample's K and V on one TP rank: 2 x 8192 tokens x 8 heads x 128 x 2 B / tp 2
    assert {op.size_B for op in cp_ops} == {2 * 8192 * 1024 * 2 / 2}
    assert {tuple(op.group) for op in cp_ops} == {(0, 2)}
    grads = [op for op in prog.ops if isinstance(op, Collective) and op.category == "dp"]
    assert grads and all(len(op.group) == 2 for op in grads)  # dp 1 x cp 2


def test_cp_splits_the_work_of_each_sample() -> None:
    """Same GPUs, same batch: CP 2 gives each rank half of every sample's tokens (attending
    over all of the sample's keys), DP 2 half of the samples (whole). Each rank does the same
    work either way; CP adds only its K/V exchange, which hides under the attention."""
    topo = load_topology(TOPO)
    cp = simulate(_build(cp=2, dp=1).workload, topo, fidelity="analytical")
    dp = simulate(_build(cp=1, dp=2).workload, topo, fidelity="analytical")
    assert cp.compute_s == pytest.approx(dp.compute_s, rel=1e-9)
    assert cp.comm_s > dp.comm_s  # the exchange is there ...
    assert cp.exposed_comm_by_category_s.get("cp", 0.0) < 0.05 * cp.step_time_s  # ... hidden
    assert cp.step_time_s == pytest.approx(dp.step_time_s, rel=0.05)


def test_bad_cp_is_an_input_error_naming_the_field() -> None:
    with pytest.raises(InputError, match=r"strategy\.cp"):
        build_workload(
            scenario_from_dict(
                {
                    "name": "cp",
                    "topology": TOPO,
                    "model": MODEL,
                    "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 8191},
                    "strategy": {"tp": 2, "cp": 2, "dp": 1},
                }
            ),
            load_topology(TOPO),
        )


def test_causal_flash_attention_executes_half_the_core() -> None:
    """Flash attention skips the key blocks above the causal diagonal (half the count) and its
    backward recomputes the scores (2.5x its forward); unfused attention executes the count."""
    shape = dict(MODEL)
    flash = ModelSpec.of(ModelShape(**shape, flash_attention=True), 8192)
    plain = ModelSpec.of(ModelShape(**shape), 8192)
    core = plain.attn_core_fwd_flops(1)
    assert flash.attn_core_fwd_flops(1) == core  # the count (MFU conventions) is unchanged
    assert plain.attn_fwd_flops(1) - flash.attn_fwd_executed_flops(1) == pytest.approx(core / 2)
    assert plain.attn_fwd_executed_flops(1) == plain.attn_fwd_flops(1)
    lin = 3.0 * (plain.layer_fwd_flops(1) - core)
    assert flash.layer_train_executed_flops(1) - lin == pytest.approx(core / 2 * 3.5)
    assert plain.layer_train_executed_flops(1) - lin == pytest.approx(core * 3.0)


def test_cp_with_expert_parallelism_dispatches_each_ranks_own_tokens() -> None:
    """CP 2 with EP 2 (refused until 2026-12-06): every MoE layer's all-to-all runs in the EP
    group of the rank's replica and carries the rank's shard of the sample, ``b (s / cp) h k``
    bytes (``/ tp`` with sequence parallelism), half of what the same rank sends without CP."""

    def moe(cp: int) -> Any:
        sc = scenario_from_dict(
            {
                "name": "cp-ep",
                "topology": TOPO,
                "model": {**MODEL, "experts": 4, "top_k": 2},
                "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 8192},
                "strategy": {"tp": 1, "cp": cp, "dp": 4 // cp, "ep": 2},
            }
        )
        return build_workload(sc, load_topology(TOPO)).workload.programs[0]

    a2a = [op for op in moe(2).ops if isinstance(op, Collective) and op.category == "ep"]
    plain = [op for op in moe(1).ops if isinstance(op, Collective) and op.category == "ep"]
    assert a2a and all(op.op is CollectiveOp.ALL_TO_ALL for op in a2a)
    assert {tuple(op.group) for op in a2a} == {(0, 1)}  # rank 0's CP partner is rank 1
    assert {op.size_B for op in a2a} == {1 * 4096 * 4096 * 2 * 2}  # b (s/cp) h x 2 B x top-2
    assert {op.size_B for op in plain} == {2 * op.size_B for op in a2a}
