"""Mixed hardware (issue 17, deliver 4): ranks costed by their own GPU, and ``balance: dp``.

Oracles: a cluster whose every host is named with one GPU is that GPU's plain cluster; a
synchronous DDP step on half fast / half slow GPUs runs at the slow GPUs' pace (the all-reduces
wait for the slowest replica), so it equals the all-slow step; balancing by speed lands between
the all-fast and the all-slow step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.build import build_workload
from simulator.cli import main
from simulator.config import load_scenario
from simulator.core.errors import InputError
from simulator.core.ir import Compute
from simulator.studies.scenario import run_scenario
from simulator.topology import load_topology
from simulator.workload.mixed import balance_dp, compute_time_s, shares

BASE = """\
name: mixed
topology: dgx-a100-2node
model: {layers: 4, hidden: 1024, heads: 16, vocab: 32000}
training: {global_batch: 16, micro_batch: 1, seq_len: 1024, dtype: bf16}
strategy: {tp: 8, dp: 2, data_parallel: {mode: ddp}}
hardware:
  gpu: A100-80GB
"""
FAST = "  node_gpus: [{hosts: [node1], gpu: H100-SXM}]\n"


def _write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _step(path: Path, *overrides: str) -> float:
    return run_scenario(path, list(overrides), faults=None).variants[0].step_time_s


def test_shares_are_proportional_whole_and_at_least_one() -> None:
    assert shares([1.0, 1.0], 16) == [8, 8]
    assert shares([1.0, 3.0], 16) == [4, 12]
    assert sum(shares([1.0, 2.0, 4.0], 10)) == 10
    assert shares([1.0, 1000.0], 4) == [1, 3]  # every replica keeps one micro-batch
    with pytest.raises(ValueError, match="cannot give each"):
        shares([1.0, 1.0, 1.0], 2)
    with pytest.raises(ValueError, match="> 0"):
        shares([1.0, 0.0], 4)


def test_every_rank_carries_its_own_gpus_durations(tmp_path: Path) -> None:
    topo = load_topology("dgx-a100-2node")
    plain = {
        gpu: build_workload(
            load_scenario(_write(tmp_path, BASE.replace("A100-80GB", gpu), f"{gpu}.yaml")), topo
        ).workload
        for gpu in ("A100-80GB", "H100-SXM")
    }
    mixed = build_workload(load_scenario(_write(tmp_path, BASE + FAST)), topo).workload
    assert mixed.metadata["gpus"] == {"A100-80GB": 8, "H100-SXM": 8}
    for r, prog in enumerate(mixed.programs):
        gpu = "A100-80GB" if r < 8 else "H100-SXM"
        want = plain[gpu].programs[r]
        assert [(o.name, o.duration_s) for o in prog.ops if isinstance(o, Compute)] == [
            (o.name, o.duration_s) for o in want.ops if isinstance(o, Compute)
        ]
    assert compute_time_s(mixed.programs[8]) < compute_time_s(mixed.programs[0])


def test_one_gpu_named_for_every_host_is_that_gpus_cluster(tmp_path: Path) -> None:
    every = BASE + "  node_gpus: [{hosts: ['node*'], gpu: H100-SXM}]\n"
    plain = BASE.replace("A100-80GB", "H100-SXM")
    assert _step(_write(tmp_path, every, "a.yaml")) == pytest.approx(
        _step(_write(tmp_path, plain, "b.yaml")), rel=1e-12
    )


def test_synchronous_step_runs_at_the_slow_gpus_pace_and_balance_helps(tmp_path: Path) -> None:
    slow = _step(_write(tmp_path, BASE, "slow.yaml"))
    fast = _step(_write(tmp_path, BASE.replace("A100-80GB", "H100-SXM"), "fast.yaml"))
    mixed_p = _write(tmp_path, BASE + FAST)
    unbalanced = _step(mixed_p)
    balanced = _step(mixed_p, "hardware.balance=dp")
    assert fast < slow
    assert unbalanced == pytest.approx(slow, rel=1e-9)
    assert fast < balanced < unbalanced


def test_balance_dp_retimes_only_per_microbatch_compute(tmp_path: Path) -> None:
    topo = load_topology("dgx-a100-2node")
    built = build_workload(load_scenario(_write(tmp_path, BASE + FAST)), topo)
    replicas = [list(range(8)), list(range(8, 16))]
    out, n = balance_dp(built.workload, replicas, 8)
    assert sum(n) == 16 and n[1] > n[0]
    for before, after in zip(built.workload.programs, out.programs, strict=True):
        k = n[before.rank // 8] / 8
        for a, b in zip(before.ops, after.ops, strict=True):
            if isinstance(a, Compute) and a.category in {"fwd", "bwd", "recompute"}:
                assert b.duration_s == pytest.approx((a.duration_s or 0.0) * k, rel=1e-12)
            else:
                assert b == a


def test_folded_jobs_are_unfolded_to_mix(tmp_path: Path) -> None:
    p = _write(tmp_path, BASE.replace("dp: 2,", "dp: 2, fold: true,") + FAST)
    built = build_workload(load_scenario(p), load_topology("dgx-a100-2node"))
    assert len(built.workload.programs) == 16


@pytest.mark.parametrize(
    "extra,field,message",
    [
        (
            "  node_gpus: [{hosts: ['node9'], gpu: H100-SXM}]\n",
            "hardware.node_gpus.0.hosts.0",
            "no host",
        ),
        (
            "  node_gpus: [{hosts: [node1], gpu: H100-SXM}, {hosts: ['node*'], gpu: V100}]\n",
            "hardware.node_gpus.1.hosts.0",
            "already given a GPU",
        ),
        ("  node_gpus: [{hosts: [node1], gpu: H900}]\n", "hardware.node_gpus.0.gpu", "H900"),
    ],
)
def test_bad_node_gpus_name_the_field(tmp_path: Path, extra: str, field: str, message: str) -> None:
    p = _write(tmp_path, BASE + extra)
    with pytest.raises(InputError) as err:
        build_workload(load_scenario(p), load_topology("dgx-a100-2node"))
    assert err.value.field == field
    assert err.value.file == str(p)
    assert message in err.value.message


def test_balance_refuses_pipelines_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace("tp: 8, dp: 2", "tp: 4, pp: 2, dp: 2") + FAST + "  balance: dp\n"
    p = _write(tmp_path, text)
    assert main(["run", str(p)]) == 2
    err = capsys.readouterr().err
    assert "hardware.balance" in err and "pp: 1" in err and "Traceback" not in err
