"""The runner's short path for a collective alone in its rendezvous and isolated
(``_Runner._launch_lone``) gives exactly what the general rendezvous path gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine import runner as runner_mod
from simulator.engine import simulate
from tests.test_engine import NODES_2X2, topo, tp_pipeline


def _general_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod._Runner, "_alone", lambda self, group: False)


@pytest.mark.parametrize("record", [False, True])
def test_lone_path_equals_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: bool
) -> None:
    t = topo(tmp_path, NODES_2X2)
    wl = tp_pipeline(5)
    calls: list[int] = []
    real = runner_mod._Runner._launch_lone

    def counted(self, g, op, key):  # type: ignore[no-untyped-def]
        calls.append(g)
        real(self, g, op, key)

    with monkeypatch.context() as m:
        m.setattr(runner_mod._Runner, "_launch_lone", counted)
        fast = simulate(wl, t, record=record)
    assert len(calls) == 10  # every TP collective of both stages took the short path
    with monkeypatch.context() as m:
        _general_path_only(m)
        slow = simulate(wl, t, record=record)
    assert fast.step_time_s == slow.step_time_s
    pd.testing.assert_frame_equal(fast.ops, slow.ops)  # times and algorithms, bit for bit
    pd.testing.assert_frame_equal(fast.links, slow.links)
    pd.testing.assert_frame_equal(fast.flows, slow.flows)
    if record:
        for a, b in zip(fast.link_timeline or (), slow.link_timeline or (), strict=True):
            assert a.tolist() == b.tolist()


def test_group_with_two_programs_or_a_match_key_takes_the_rendezvous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = topo(tmp_path, NODES_2X2)
    progs = []
    for r in (0, 1):
        p = Program(rank=r)
        p.collective("both", op=CollectiveOp.ALL_REDUCE, group=(0, 1), size_B=1e6)
        progs.append(p)
    solo = Program(rank=2)
    solo.collective("keyed", op=CollectiveOp.ALL_REDUCE, group=(2, 3), size_B=1e6, match_key="k")
    wl = Workload(programs=[*progs, solo], world=4)
    calls: list[int] = []
    monkeypatch.setattr(runner_mod._Runner, "_launch_lone", lambda self, g, op, k: calls.append(g))
    res = simulate(wl, t)
    assert calls == []
    assert res.ops["end_s"].notna().all()
