"""``commsim plan``: qualifying points ranked by cost, verdicts for the others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.studies.capacity import PlanResult
from simulator.studies.capacity import plan as plan_capacity

SCENARIO = """
name: tiny-plan
topology: dgx-a100
model: {name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}
training: {global_batch: 32, micro_batch: 1, seq_len: 128, dtype: bf16}
hardware: {gpu: V100}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    return str(p)


def test_ranks_by_cost_and_explains_the_rest(scenario: str) -> None:
    def plan(target_s: float, topologies: list[str]) -> PlanResult:
        return plan_capacity(
            scenario, target_s, topologies, tp=[1, 2], pp=[1, 3], scheduler="inline"
        )

    loose = plan(1e3, ["dgx-a100", "dgx-a100-2node"])
    ranked = loose.ranked
    assert ranked and loose.best == ranked[0]
    costs = [p.cost_per_step_usd for p in ranked]
    assert costs == sorted(costs)
    # the GPU follows the topology (the scenario's V100 is cleared), and pp=3 cannot split 4
    # layers evenly or 8 ranks: those points are kept with the reason
    assert {p.gpu for p in ranked} == {"A100-80GB"}
    assert loose.verdicts.get("cannot run", 0) >= 1
    assert sum(loose.verdicts.values()) == len(loose.points) == 8
    # a target between the fastest and the slowest qualifying step rejects some as too slow
    steps = sorted(p.step_time_s for p in ranked)
    mid = (steps[0] + steps[-1]) / 2
    tight = plan(mid, ["dgx-a100", "dgx-a100-2node"])
    assert tight.verdicts["too slow"] >= 1
    assert all(p.step_time_s <= mid for p in tight.ranked)
    none = plan(steps[0] / 10, ["dgx-a100"])
    assert none.best is None


def test_bad_input(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="must be > 0"):
        plan_capacity(scenario, 0.0, ["dgx-a100"])
    with pytest.raises(InputError, match="positive integers"):
        plan_capacity(scenario, 1.0, ["dgx-a100"], tp=[0])
    base = ["plan", scenario, "--topologies", "dgx-a100", "--tp", "1", "--pp", "1"]
    assert main([*base, "--target-step", "1 parsec", "--scheduler", "inline"]) == 2
    no_tp = ["plan", scenario, "--topologies", "dgx-a100", "--pp", "1"]  # a flag given once
    assert main([*no_tp, "--target-step", "10s", "--tp", "x", "--scheduler", "inline"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main([*base, "--target-step", "100s", "--scheduler", "inline", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["best"]["set"] == {"topology": "dgx-a100", "strategy.tp": 1, "strategy.pp": 1}


def test_every_loser_says_by_how_much(scenario: str) -> None:
    from simulator.hardware import get_gpu

    # batch 512 x seq 4096 of a wide model: too big for one GPU without sharding
    big = plan_capacity(
        scenario,
        1e-3,
        ["dgx-a100"],
        tp=[1, 2],
        pp=[1],
        base=["model.hidden=8192", "model.heads=64", "training.seq_len=4096",
              "training.micro_batch=4"],
        scheduler="inline",
    )  # fmt: skip
    hbm = get_gpu("A100-80GB").hbm_B
    for p in big.points:
        assert p.reason is not None and p.over_memory_B is not None
        assert p.over_target_s == pytest.approx(p.step_time_s - 1e-3)
        assert p.over_memory_B == pytest.approx(p.memory_per_gpu_B - hbm)
        assert "over the 1 ms target" in p.reason
        if p.verdict == "out of memory":
            assert "of HBM" in p.reason and p.over_memory_B > 0


def test_user_prices_replace_the_assumption(scenario: str, tmp_path: Path) -> None:
    from simulator.hardware import get_gpu
    from simulator.prices import load_prices

    f = tmp_path / "prices.yaml"
    f.write_text("a100-80gb: {usd: 1.0, source: our contract}\n")
    args = (scenario, 1e3, ["dgx-a100"])
    kw: dict[str, Any] = {"tp": [1], "pp": [1], "scheduler": "inline"}
    shipped = plan_capacity(*args, **kw).best
    own = plan_capacity(*args, **kw, prices=load_prices(f)).best
    assert shipped is not None and own is not None
    assert shipped.cost_per_step_usd is not None and shipped.price_source is not None
    price = get_gpu("A100-80GB").price_per_gpu_hour_usd
    assert shipped.price_per_gpu_hour_usd == price
    assert shipped.price_source.startswith("assumption")
    assert own.price_source == "our contract"
    assert own.cost_per_step_usd == pytest.approx(shipped.cost_per_step_usd / price)


def test_the_documented_price_file_loads(tmp_path: Path) -> None:
    """The example in simulator/prices.py and README.md (it named 'H100', which the catalogue
    calls H100-SXM: copying it exited 2)."""
    import simulator.prices
    from simulator.prices import load_prices

    doc = simulator.prices.__doc__ or ""
    example = doc.split("::\n", 1)[1].split("\n\n")[0]
    f = tmp_path / "my-prices.yaml"
    f.write_text("\n".join(line.strip() for line in example.splitlines()) + "\n")
    assert set(load_prices(f)) == {"A100-80GB", "H100-SXM"}
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    lines = [ln.split("#", 1)[1].strip() for ln in readme.splitlines() if ln.startswith("#   ")]
    assert lines, "README.md shows no price file"
    f.write_text("\n".join(lines) + "\n")
    assert set(load_prices(f)) == {"A100-80GB", "H100-SXM"}


@pytest.mark.parametrize(
    ("text", "field"),
    [("A100-80GB: -3\n", "A100-80GB"), ("NoSuchGPU: 2\n", "NoSuchGPU"), ("[1, 2]\n", None),
     ("H100: {usd: 2, cost: 3}\n", "H100")],
)  # fmt: skip
def test_bad_price_file(tmp_path: Path, text: str, field: str | None) -> None:
    from simulator.prices import load_prices

    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as info:
        load_prices(f)
    assert str(f) in str(info.value)
    if field:
        assert field in str(info.value)


def test_cli_lists_losers_and_names_the_wall_time(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "prices.yaml"
    f.write_text("A100-80GB: 1.5\n")
    argv = ["plan", scenario, "--topologies", "dgx-a100", "--tp", "1,2", "--pp", "1,3",
            "--target-step", "1s", "--scheduler", "inline", "--prices", str(f)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "cannot run" in out
    assert "the sweep took" in out and "of wall time" in out
    assert str(f) in out
    assert main([*argv[:-2], "--prices", str(tmp_path / "missing.yaml")]) == 2


def test_plan_is_monotone_in_the_target(scenario: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over every target between the candidates' step times: the plan is the cheapest point
    that meets it, a looser target is never dearer, and a target none meets says how near the
    fastest candidate that fits comes."""
    import simulator.studies.capacity as capacity

    topologies = ["dgx-a100", "dgx-a100-2node"]
    once = capacity.sweep(
        scenario,
        [("topology", topologies), ("strategy.tp", ["1", "2"]), ("strategy.pp", ["1", "2"])],
        ["hardware.gpu=null", "strategy.dp=null"],
        scheduler="inline",
    )
    monkeypatch.setattr(capacity, "sweep", lambda *a, **k: once)  # the same points each time
    steps = sorted(p.step_time_s for p in once.points if p.ok)
    targets = [steps[0] / 2, *steps, steps[-1] * 2]
    costs = []
    for t in targets:
        res = plan_capacity(scenario, t, topologies, tp=[1, 2], pp=[1, 2], scheduler="inline")
        ok = [p for p in res.points if p.verdict == "ok"]
        assert all(p.step_time_s <= t and p.fits_memory is not False for p in ok)
        best = min((p.cost_per_step_usd or 0.0 for p in ok), default=None)
        assert (res.best and res.best.cost_per_step_usd) == best
        costs.append(best)
    assert costs[0] is None and None not in costs[1:]
    assert costs[1:] == sorted(costs[1:], reverse=True)
    from simulator.cli.plan import _no_candidate

    line = _no_candidate(plan_capacity(scenario, targets[0], topologies, tp=[1, 2], pp=[1, 2]))
    assert "the fastest that fits memory is" in line and "100% over" in line


def test_set_of_a_planned_key_is_refused(scenario: str) -> None:
    """``--set strategy.dp=4`` (or tp, pp, topology) was overridden by the plan without a word."""
    for item, flag in (("strategy.dp=4", "DP fills"), ("strategy.tp=2", "--tp"),
                       ("topology=dgx-h100", "--topologies")):  # fmt: skip
        with pytest.raises(InputError, match=flag) as err:
            plan_capacity(scenario, 1.0, ["dgx-a100"], base=[item], scheduler="inline")
        assert err.value.field == "--set"
