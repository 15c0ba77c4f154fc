"""Strategy oracles: pipeline bubble, ZeRO-3 bytes, Megatron TP tensors, top-k payload, folding."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from simulator.config import scenario_from_dict
from simulator.core.ir import Collective, Compute, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine import simulate
from simulator.topology import load_topology
from simulator.workload.costmodel import CostModel
from simulator.workload.profile import profile_from_model
from simulator.workload.strategies import build_from_profile
from simulator.workload.strategies.compression import payload
from simulator.workload.strategies.options import CompressionConfig
from simulator.workload.strategies.pipeline import Pass, bubble_fraction, schedule

CM = CostModel(peak_flops=100e12, hbm_Bps=2e12, efficiency=0.5)


def _scenario(
    strategy: dict[str, Any],
    *,
    layers: int = 8,
    hidden: int = 256,
    vocab: int = 512,
    batch: int = 16,
    recompute: str = "none",
    grad_dtype: str = "bf16",
) -> Any:
    return scenario_from_dict(
        {
            "name": "t",
            "topology": "dgx-a100",
            "model": {"layers": layers, "hidden": hidden, "heads": 8, "vocab": vocab},
            "training": {
                "global_batch": batch,
                "micro_batch": 1,
                "seq_len": 512,
                "recompute": recompute,
                "grad_dtype": grad_dtype,
            },
            "strategy": strategy,
        }
    )


def _build(sc: Any, world: int, topology: Any = None) -> Workload:
    prof = profile_from_model(
        sc.model_spec(),
        CM,
        micro_batch=1,
        tp=sc.strategy.tp,
        sequence_parallel=sc.strategy.sequence_parallel,
        recompute=sc.training.recompute,
        grad_dtype=sc.grad_dtype,
    )
    return build_from_profile(
        prof, sc.strategy, world, topology, global_batch=sc.training.global_batch
    )


def _wire_bytes(wl: Workload, category: str) -> float:
    """Bytes one rank sends for ``category`` collectives (ring algorithm volumes)."""
    total = 0.0
    for op in wl.programs[0].ops:
        if isinstance(op, Collective) and op.category == category:
            n = len(op.group)
            f = 2 * (n - 1) / n if op.op is CollectiveOp.ALL_REDUCE else (n - 1) / n
            total += f * op.size_B
    return total


@pytest.mark.parametrize("name,v", [("gpipe", 1), ("1f1b", 1), ("interleaved", 2)])
def test_schedules_run_every_pass_once(name: str, v: int) -> None:
    for stage in range(4):
        slots = schedule(name, 4, 8, stage, v)
        assert sorted((s.kind, s.microbatch, s.chunk) for s in slots) == sorted(
            (k, i, c) for k in (Pass.F, Pass.B) for i in range(8) for c in range(v)
        )


@pytest.mark.parametrize("sched,v", [("gpipe", 1), ("1f1b", 1), ("interleaved", 2)])
def test_pipeline_bubble_matches_closed_form(sched: str, v: int) -> None:
    """Zero-cost communication (tiny vocab, NVLink, analytical): (p-1)/v / (m + (p-1)/v)."""
    p, m = 4, 8
    pipe = {"schedule": sched, "virtual_stages": v}
    sc = _scenario({"pp": p, "dp": 1, "pipeline": pipe}, hidden=2048, vocab=8, batch=m)
    topo = load_topology("dgx-a100")
    wl = _build(sc, 4, topo)
    res = simulate(wl, topo, fidelity="analytical")
    ops = res.ops[res.ops["category"].isin(["fwd", "bwd"])]
    span = ops["end_s"].max() - ops["start_s"].min()  # the pipeline, without the optimizer
    prog = wl.programs[1]  # a middle stage: no embedding, no head
    busy = sum(
        op.duration_s or 0.0
        for op in prog.ops
        if op.kind == "compute" and op.category in ("fwd", "bwd")
    )
    measured = 1 - busy / span
    assert measured == pytest.approx(bubble_fraction(p, m, v), abs=0.01)


def test_zero3_moves_one_and_a_half_times_ddp_bytes() -> None:
    ddp = _build(_scenario({"dp": 8}, batch=8), 8)
    z3 = _build(_scenario({"dp": 8, "data_parallel": {"mode": "zero3"}}, batch=8), 8)
    assert _wire_bytes(z3, "dp") / _wire_bytes(ddp, "dp") == pytest.approx(1.5)


@pytest.mark.parametrize("sp", [False, True])
def test_megatron_tp_moves_four_bsh_tensors_per_layer(sp: bool) -> None:
    sc = _scenario({"tp": 4, "dp": 1, "sequence_parallel": sp}, batch=2)
    wl = _build(sc, 4)
    bsh = 1 * 512 * 256 * 2
    ops = [
        op
        for op in wl.programs[0].ops
        if isinstance(op, Collective)
        and op.category == "tp"
        and op.layer == 3
        and op.microbatch == 0
    ]
    kinds = sorted(op.op.value for op in ops)
    if sp:
        assert kinds == ["all_gather"] * 4 + ["reduce_scatter"] * 4
    else:
        assert kinds == ["all_reduce"] * 4
    assert all(op.size_B == bsh for op in ops)
    n = 4
    wire = _wire_bytes(Workload(programs=[type(wl.programs[0])(rank=0, ops=list(ops))]), "tp")
    assert wire == pytest.approx(4 * 2 * (n - 1) / n * bsh)


def test_topk_one_percent_moves_two_percent() -> None:
    n = 1e8
    pl = payload(CompressionConfig(kind="topk", ratio=0.01), n, 4, 8, 1e12, 1e14)  # type: ignore[arg-type]
    assert pl.wire_per_rank_B / (n * 4) == pytest.approx(0.02)
    assert pl.compress_s > 0


@pytest.mark.parametrize("kind", ["fp16", "topk", "powersgd", "onebit"])
def test_compression_reduces_dp_bytes(kind: str) -> None:
    base = _wire_bytes(_build(_scenario({"dp": 8}, batch=8, grad_dtype="fp32"), 8), "dp")
    sc = _scenario({"dp": 8, "compression": {"kind": kind}}, batch=8, grad_dtype="fp32")
    comp = _wire_bytes(_build(sc, 8), "dp")
    assert 0 < comp < base


def test_folded_workload_gives_the_same_step_time() -> None:
    topo = load_topology("dgx-a100-2node")
    st = {"tp": 2, "pp": 2, "dp": 4, "sequence_parallel": True}
    full = _build(_scenario({**st, "fold": False}), 16, topo)
    folded = _build(_scenario({**st, "fold": True}), 16, topo)
    assert len(folded.programs) == 2 < len(full.programs)
    a = simulate(full, topo).step_time_s
    b = simulate(folded, topo).step_time_s
    assert b == pytest.approx(a, rel=1e-9)


def test_async_ps_not_slower_than_sync_and_workers_independent() -> None:
    topo = load_topology("ten-node-10gbe")
    times = {}
    for mode in ("sync", "async"):
        sc = _scenario(
            {
                "kind": "parameter_server",
                "dp": 10,
                "parameter_server": {"mode": mode, "servers": 2},
            },
            batch=10,
        )
        wl = _build(sc, 10, topo)
        assert wl.steps_per_program == 4
        times[mode] = simulate(wl, topo).step_time_s
    assert times["async"] <= times["sync"]


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "local_sgd", "local_sgd": {"period": 2, "inner": "datacenter"}},
        {"data_parallel": {"hierarchical": "datacenter"}},
    ],
)
def test_folding_is_exact_across_a_wan(strategy: dict[str, Any]) -> None:
    topo = load_topology("two-dc-wan")
    times = []
    for fold in (False, True):
        sc = _scenario({**strategy, "dp": 32, "fold": fold}, batch=32)
        wl = _build(sc, 32, topo)
        assert len(wl.programs) == (1 if fold else 32)
        times.append(simulate(wl, topo, fidelity="analytical").step_time_s)
    assert times[1] == pytest.approx(times[0], rel=1e-9)


def test_async_workers_do_not_wait_for_a_straggler() -> None:
    """One worker computes 3x slower: sync workers all wait for it, async ones do not."""
    topo = load_topology("dgx-a100-2node")
    finish = {}
    for mode in ("sync", "async"):
        ps = {"mode": mode, "servers": 2, "staleness": 1, "steps": 4}
        sc = _scenario(
            {"kind": "parameter_server", "dp": 16, "parameter_server": ps},
            layers=2,
            hidden=1024,
            batch=512,
        )
        wl = _build(sc, 16, topo)
        slow = wl.programs[3]
        slow.ops = [
            replace(op, duration_s=3 * op.duration_s)
            if isinstance(op, Compute) and op.category in ("fwd", "bwd") and op.duration_s
            else op
            for op in slow.ops
        ]
        ops = simulate(wl, topo, fidelity="analytical").ops
        bwd = ops[ops["category"] == "bwd"].groupby("rank")["end_s"].max()
        finish[mode] = (bwd[1], bwd[3])  # a fast worker, the straggler
    fast_sync, slow_sync = finish["sync"]
    fast_async, slow_async = finish["async"]
    assert fast_async < 0.6 * fast_sync  # async: fast workers are not held back
    assert fast_async < 0.6 * slow_async  # ... and run ahead of the straggler
    assert slow_async == pytest.approx(slow_sync, rel=0.2)  # who sets the pace in BSP


@pytest.mark.parametrize("sp", [False, True])
def test_separate_qkv_all_reduces_three_input_gradients(sp: bool) -> None:
    """torch's DTensor plan (q, k, v as separate ColwiseParallel linears): 6 all-reduces per
    layer, the three extra ones in the attention backward; sequence parallelism unchanged."""
    strat = {"tp": 4, "dp": 1, "sequence_parallel": sp, "tensor": {"qkv": "separate"}}
    wl = _build(_scenario(strat, batch=2), 4)
    ops = [
        op
        for op in wl.programs[0].ops
        if isinstance(op, Collective) and op.category == "tp" and op.layer == 3
        if op.microbatch == 0
    ]
    if sp:
        assert sorted(op.op.value for op in ops) == ["all_gather"] * 4 + ["reduce_scatter"] * 4
        return
    assert [op.op for op in ops] == [CollectiveOp.ALL_REDUCE] * 6
    attn_bwd = [op for op in ops if op.name.startswith("bwd.l3.attn")]
    assert len(attn_bwd) == 3
    # chained: each waits for the previous one (one stream, in order)
    by_id = {op.id: op for op in wl.programs[0].ops}
    assert by_id[attn_bwd[2].deps[0]] is attn_bwd[1]
    assert by_id[attn_bwd[1].deps[0]] is attn_bwd[0]


def test_bad_qkv_layout_is_rejected() -> None:
    from simulator.core.errors import InputError

    with pytest.raises(InputError, match="qkv"):
        _scenario({"tp": 2, "tensor": {"qkv": "interleaved"}})
