"""Megatron-LM 2022's backward TP all-reduce under the weight gradient (workload/software.py)."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.core.ir import Collective, Compute
from simulator.engine import simulate
from simulator.topology import load_topology
from simulator.workload.strategies.tensor import WGRAD_TAIL

TOPO = load_topology("dgx-a100")


def _run(software: str, sp: bool) -> tuple[Any, Any]:
    sc = scenario_from_dict(
        {
            "name": "tp",
            "topology": "dgx-a100",
            "model": {"layers": 4, "hidden": 4096, "heads": 32, "vocab": 51200},
            "training": {"global_batch": 2, "micro_batch": 1, "seq_len": 2048},
            "strategy": {"tp": 8, "sequence_parallel": sp},
            "hardware": {"gpu": "A100-80GB", "software": software},
        }
    )
    built = build_workload(sc, TOPO)
    return built, simulate(built.workload, TOPO, backend="nccl", fidelity="analytical")


def test_2022_overlaps_the_backward_all_reduce_and_2021_does_not() -> None:
    old_b, old = _run("megatron-lm-2021", sp=False)
    new_b, new = _run("megatron-lm-2022", sp=False)
    assert not old_b.profile.tp_backward_overlap and new_b.profile.tp_backward_overlap
    prog = new_b.workload.programs[0]
    wgrad = [op for op in prog.ops if isinstance(op, Compute) and op.name.endswith(".wgrad")]
    assert len(wgrad) == 2 * 4 * 2  # 2 blocks x 4 layers x 2 micro-batches
    # the all-reduce depends on the block's input-gradient part, not on its weight gradient
    ars = [
        op
        for op in prog.ops
        if isinstance(op, Collective) and op.name.startswith("bwd.") and "tp_ar" in op.name
    ]
    assert ars and all(w.id not in a.deps for a in ars for w in wgrad)
    assert wgrad[0].duration_s == pytest.approx(
        WGRAD_TAIL * new_b.profile.layers[0].mlp_bwd_s, rel=1e-9
    ) or wgrad[0].duration_s == pytest.approx(
        WGRAD_TAIL * new_b.profile.layers[0].attn_bwd_s, rel=1e-9
    )
    # the 2 backward of the 4 all-reduces per layer are hidden: about half of the TP time is
    # exposed (all of it in 2021)
    assert old.exposed_comm_s == pytest.approx(old.comm_s)
    # (plus the embedding's forward all-reduce)
    assert 0.45 < new.exposed_comm_by_category_s["tp"] / new.comm_by_category_s["tp"] < 0.6
    assert new.step_time_s < old.step_time_s


def test_sequence_parallel_backward_is_unchanged() -> None:
    """Table 4 of Korthikanti et al. measures no backward gain with sequence parallelism."""
    _, old = _run("megatron-lm-2021", sp=True)
    nb, new = _run("megatron-lm-2022", sp=True)
    assert not any(op.name.endswith(".wgrad") for op in nb.workload.programs[0].ops)
    assert new.exposed_comm_s == pytest.approx(new.comm_s)
    assert old.exposed_comm_s == pytest.approx(old.comm_s)
