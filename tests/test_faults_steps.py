"""Compute perturbations and many steps: oracles, exact vs re-timed, determinism, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simulator.build import build_workload
from simulator.cli import main
from simulator.config import scenario_from_dict
from simulator.core.ir import CollectiveOp, Program, Workload
from simulator.faults.compute import sample
from simulator.faults.schema import FaultsConfig
from simulator.faults.steps import run_steps
from simulator.topology import load_topology


def _sync_workload(n: int, c1: float, c2: float) -> Workload:
    progs = []
    for r in range(n):
        p = Program(rank=r)
        a = p.compute("fwd_bwd", duration_s=c1)
        b = p.collective(
            "ar", op=CollectiveOp.ALL_REDUCE, group=tuple(range(n)), size_B=2**28, deps=(a,)
        )
        p.compute("optim", duration_s=c2, deps=(b,))
        progs.append(p)
    return Workload(programs=progs)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("f", [1.5, 3.0])
def test_compute_factor_on_one_rank_adds_its_extra_compute(exact: bool, f: float) -> None:
    topo = load_topology("dgx-a100")
    c1, c2 = 0.010, 0.002
    wl = _sync_workload(8, c1, c2)
    faults = FaultsConfig.model_validate({"slow_ranks": [{"ranks": [5], "compute_factor": f}]})
    res = run_steps(wl, topo, faults, steps=2, seed=0, exact=exact)
    base = res.base_step_time_s
    # nothing overlaps: the all-reduce waits (f - 1) c1 for rank 5, whose optimiser step then
    # ends (f - 1) c2 after the others'
    np.testing.assert_allclose(res.step_time_s, base + (f - 1) * (c1 + c2), rtol=1e-12)


def _scenario(**strategy: object) -> dict:
    return {
        "name": "tiny",
        "topology": "dgx-a100-2node",
        "model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 4096},
        "training": {"global_batch": 32, "micro_batch": 2, "seq_len": 128, "dtype": "bf16"},
        "strategy": strategy,
    }


JITTER = {
    "jitter": {"distribution": "lognormal", "sigma": 0.2},
    "stalls": [{"ranks": "0-1", "every": 3, "duration": "2ms"}],
    "slow_ranks": [{"ranks": [6], "compute_factor": 1.3}],
}


def test_retimed_equals_exact_when_communication_is_alone_on_its_links() -> None:
    sc = scenario_from_dict({**_scenario(dp=8), "topology": "dgx-a100"})
    topo = load_topology(sc.topology)
    b = build_workload(sc, topo)
    faults = FaultsConfig.model_validate(JITTER)
    kw = dict(steps=7, seed=11, compute_model=b.compute_model)
    ex = run_steps(b.workload, topo, faults, exact=True, **kw)
    rt = run_steps(b.workload, topo, faults, exact=False, **kw)
    np.testing.assert_allclose(rt.step_time_s, ex.step_time_s, rtol=1e-9)
    np.testing.assert_allclose(rt.even_step_time_s, ex.even_step_time_s, rtol=1e-9)
    assert rt.step_time_s.min() > rt.base_step_time_s * 0.5


@pytest.mark.parametrize(
    "degrees",
    [
        {"tp": 2, "pp": 2, "dp": 4},
        {"tp": 2, "pp": 2, "cp": 2, "dp": 2},  # a folded lane's CP ranks sit between TP and PP
    ],
)
def test_folded_lanes_retime_like_the_unfolded_job(degrees: dict[str, int]) -> None:
    topo = load_topology("dgx-a100-2node")
    faults = FaultsConfig.model_validate(JITTER)
    out = []
    for fold in (True, False):
        sc = scenario_from_dict(_scenario(**degrees, fold=fold))
        b = build_workload(sc, topo)
        assert (len(b.workload.programs) < 16) is fold
        out.append(
            run_steps(b.workload, topo, faults, steps=5, seed=3, compute_model=b.compute_model)
        )
    np.testing.assert_allclose(out[0].step_time_s, out[1].step_time_s, rtol=1e-9)


def test_draws_are_deterministic_per_seed_and_checked() -> None:
    f = FaultsConfig.model_validate({"jitter": {"distribution": "exponential", "mean": 0.1}})
    a, b, c = sample(f, 16, 50, 7), sample(f, 16, 50, 7), sample(f, 16, 50, 8)
    assert np.array_equal(a.factor, b.factor)
    assert not np.array_equal(a.factor, c.factor)
    assert a.factor.min() >= 1.0  # an exponential tail is never faster
    assert np.mean(a.factor - 1.0) == pytest.approx(0.1, rel=0.15)
    ln = sample(FaultsConfig.model_validate({"jitter": {"sigma": 0.3}}), 64, 200, 1)
    assert np.median(ln.factor) == pytest.approx(1.0, abs=0.03)


def test_stalls_hit_their_steps() -> None:
    f = FaultsConfig.model_validate(
        {"stalls": [{"ranks": "2-3", "every": 4, "duration": "50ms", "first": 1}]}
    )
    d = sample(f, 4, 10, 0)
    hit = np.flatnonzero(d.stall_s[:, 2])
    assert hit.tolist() == [1, 5, 9]
    assert d.stall_s[1].tolist() == [0.0, 0.0, 0.05, 0.05]


SCENARIO = """
name: tiny-dp8
topology: dgx-a100
model: {name: tiny, layers: 2, hidden: 256, heads: 4, vocab: 1024}
training: {global_batch: 16, micro_batch: 2, seq_len: 64, dtype: fp32}
strategy: {dp: 8}
faults:
  jitter: {distribution: lognormal, sigma: 0.1}
"""


def test_cli_steps_json_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    out = tmp_path / "out"
    args = ["run", str(p), "--steps", "30", "--seed", "4", "--json"]
    assert main([*args, "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("step_time_p50_s", "step_time_p90_s", "step_time_p99_s", "step_time_mean_s"):
        assert d[k] > 0
    assert d["step_time_p50_s"] <= d["step_time_p90_s"] <= d["step_time_p99_s"]
    assert 0.0 <= d["straggler_wait_share"] < 1.0
    assert d["faults"] == {"jitter": {"sigma": 0.1}}
    rows = (out / "steps.csv").read_text().splitlines()
    assert len(rows) == 31 and rows[0] == "step,step_time_s,even_step_time_s"
    assert (out / "step_hist.png").stat().st_size > 0
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["step_time_mean_s"] == d["step_time_mean_s"]
