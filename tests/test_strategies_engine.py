"""Every strategy combination runs through the engine without deadlock and with sane figures."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.engine import simulate
from simulator.topology import load_topology

TINY = {"layers": 8, "hidden": 256, "heads": 8, "vocab": 512}
CASES: dict[str, dict[str, Any]] = {
    "ddp": {"dp": 16},
    "tp-sp-pp-1f1b": {"tp": 2, "pp": 2, "sequence_parallel": True},
    "interleaved": {"tp": 2, "pp": 2, "pipeline": {"schedule": "interleaved", "virtual_stages": 2}},
    "gpipe": {"pp": 4, "pipeline": {"schedule": "gpipe"}},
    "zero1": {"dp": 16, "data_parallel": {"mode": "zero1"}},
    "zero2-pp": {"pp": 2, "data_parallel": {"mode": "zero2"}},
    "zero3": {"dp": 16, "data_parallel": {"mode": "zero3", "prefetch": 2}},
    "fsdp-tp": {"tp": 2, "data_parallel": {"mode": "fsdp"}},
    "hierarchical": {"dp": 16, "data_parallel": {"hierarchical": "node"}},
    "topk": {"dp": 16, "compression": {"kind": "topk", "ratio": 0.01}},
    "powersgd": {"dp": 16, "compression": {"kind": "powersgd", "rank": 2}},
    "onebit": {"dp": 16, "compression": {"kind": "onebit"}},
    "bf16-cast": {"dp": 16, "compression": {"kind": "bf16"}},
    "ps-sync": {"kind": "parameter_server", "parameter_server": {"servers": 2}},
    "ps-async-dedicated": {
        "kind": "parameter_server",
        "dp": 16,
        "parameter_server": {
            "servers": 1,
            "placement": "dedicated",
            "mode": "async",
            "staleness": 2,
        },
    },
    "local-sgd": {"kind": "local_sgd", "local_sgd": {"period": 2}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_strategy_runs(case: str) -> None:
    moe = case == "ep"
    sc = scenario_from_dict(
        {
            "name": case,
            "topology": "dgx-a100-2node",
            "model": {**TINY, **({"experts": 4, "top_k": 2} if moe else {})},
            "training": {
                "global_batch": 30 if case == "ps-async-dedicated" else 32,
                "micro_batch": 1,
                "seq_len": 256,
                "grad_dtype": "fp32",
            },
            "strategy": CASES[case],
        }
    )
    topo = load_topology("dgx-a100-2node")
    built = build_workload(sc, topo)
    res = simulate(built.workload, topo, fidelity="analytical")
    assert 0 < res.compute_s <= res.step_time_s
    assert res.exposed_comm_s >= 0


def test_expert_parallel_runs_and_adds_all_to_all() -> None:
    sc = scenario_from_dict(
        {
            "name": "ep",
            "topology": "dgx-a100-2node",
            "model": {**TINY, "experts": 4, "top_k": 2, "gated_mlp": True},
            "training": {"global_batch": 32, "seq_len": 256},
            "strategy": {"ep": 4, "data_parallel": {"mode": "zero1"}},
        }
    )
    topo = load_topology("dgx-a100-2node")
    built = build_workload(sc, topo)
    a2a = [op for op in built.workload.programs[0].ops if getattr(op, "category", "") == "ep"]
    assert len(a2a) == 4 * 8 * 2  # fwd dispatch+combine, bwd combine+dispatch; 8 layers, 2 mb
    res = simulate(built.workload, topo, fidelity="analytical")
    assert res.step_time_s > res.compute_s
