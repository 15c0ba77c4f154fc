"""ZeRO-1/2 with ``overlap_param_gather`` (Megatron-LM ``--overlap-param-gather``): the updated
parameters are all-gathered behind the next forward instead of after the optimizer step."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.build import build_workload
from simulator.config import scenario_from_dict
from simulator.core.ir import Collective
from simulator.core.vocab import CollectiveOp
from simulator.engine import simulate
from simulator.topology import load_topology
from simulator.workload.strategies.data import AG_STREAM

TOPO = "dgx-a100-2node"


def _run(mode: str, overlap: bool, pp: int = 1) -> tuple[list[Collective], Any]:
    sc = scenario_from_dict(
        {
            "name": "zero-gather",
            "topology": TOPO,
            "model": {"layers": 8, "hidden": 2048, "heads": 16, "vocab": 4096},
            "training": {"global_batch": 128, "micro_batch": 4, "seq_len": 1024},
            "strategy": {
                "pp": pp,
                "data_parallel": {"mode": mode, "overlap_param_gather": overlap},
            },
        }
    )
    topo = load_topology(TOPO)
    built = build_workload(sc, topo)
    gathers = [
        op
        for op in built.workload.programs[0].ops
        if isinstance(op, Collective) and op.category == "dp" and op.op is CollectiveOp.ALL_GATHER
    ]
    return gathers, simulate(built.workload, topo, fidelity="analytical")


@pytest.mark.parametrize(("mode", "pp"), [("zero1", 1), ("zero2", 2)])
def test_overlapped_gathers_move_the_same_bytes_off_the_optimizer(mode: str, pp: int) -> None:
    after, res_after = _run(mode, False, pp)
    ahead, res_ahead = _run(mode, True, pp)
    assert sum(g.size_B for g in ahead) == pytest.approx(sum(g.size_B for g in after))
    assert all(g.stream == AG_STREAM and not g.deps for g in ahead)
    assert all(g.stream != AG_STREAM for g in after)
    # the gathers now hide behind the forward: less exposed data-parallel time, no slower step
    exp_after = res_after.exposed_comm_by_category_s.get("dp", 0.0)
    exp_ahead = res_ahead.exposed_comm_by_category_s.get("dp", 0.0)
    assert exp_ahead < exp_after
    assert res_ahead.step_time_s <= res_after.step_time_s


def test_ddp_ignores_the_flag() -> None:
    gathers, _ = _run("ddp", True)
    assert gathers == []
