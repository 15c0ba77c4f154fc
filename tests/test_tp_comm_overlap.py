"""Megatron-Core 2024 (Transformer Engine userbuffers): a sequence-parallel TP block's
all-gather and reduce-scatter run beside its compute instead of before and after it."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.core.ir import Collective, Compute
from simulator.engine import simulate
from simulator.topology import load_topology
from simulator.workload.software import Software, overlaps_tp_comm

TOPO = "dgx-a100"


def _run(software: str, sp: bool) -> tuple[Any, Any]:
    sc = scenario_from_dict(
        {
            "name": "tp-overlap",
            "topology": TOPO,
            "model": {"layers": 4, "hidden": 4096, "heads": 32, "vocab": 8192},
            "training": {"global_batch": 4, "micro_batch": 2, "seq_len": 2048},
            "strategy": {"tp": 8, "sequence_parallel": sp},
            "hardware": {"software": software},
        }
    )
    topo = load_topology(TOPO)
    built = build_workload(sc, topo)
    return built.workload.programs[0], simulate(built.workload, topo, fidelity="analytical")


def test_only_megatron_core_2024_overlaps() -> None:
    assert [s for s in Software if overlaps_tp_comm(s)] == [Software.MEGATRON_CORE_2024]


def test_sequence_parallel_collectives_run_beside_the_block() -> None:
    prog, res = _run("megatron-core-2024", True)
    _, res_2022 = _run("megatron-lm-2022", True)
    ops = {op.id: op for op in prog.ops}
    gathers = [op for op in prog.ops if isinstance(op, Collective) and op.name.endswith("tp_ag")]
    assert gathers
    for ag in gathers:
        block = ag.name.removesuffix(".tp_ag")
        (comp,) = [op for op in prog.ops if isinstance(op, Compute) and op.name == block]
        assert ag.id not in comp.deps  # the compute does not wait for its all-gather
        (join,) = [op for op in prog.ops if op.name == f"{block}.join"]
        assert comp.id in join.deps
        assert any(ops[d].name == f"{block}.tp_rs" for d in join.deps)
    # A100 has no 2024 figure of its own: the same GEMM speed, so only the overlap differs
    assert res.compute_s == pytest.approx(res_2022.compute_s)
    assert res.exposed_comm_by_category_s["tp"] < res_2022.exposed_comm_by_category_s["tp"]
    assert res.step_time_s < res_2022.step_time_s


def test_without_sequence_parallelism_nothing_changes() -> None:
    _, res = _run("megatron-core-2024", False)
    _, res_2022 = _run("megatron-lm-2022", False)
    assert res.step_time_s == pytest.approx(res_2022.step_time_s)
