"""Scenario loading: precise errors, overrides, variants; every shipped scenario builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.build import build_variants, build_workload
from simulator.config import load_scenario
from simulator.core.errors import InputError
from simulator.resources import shipped_names
from simulator.topology import load_topology

BASE = """\
name: x
topology: dgx-a100
model: {layers: 4, hidden: 256, heads: 8}
training: {global_batch: 8}
strategy: {tp: 2}
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "x.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text,field,message",
    [
        (BASE.replace("tp: 2", "tp: 0"), "strategy.tp", "expected a positive integer"),
        (BASE.replace("tp: 2", "tp: two"), "strategy.tp", "expected a positive integer"),
        (BASE.replace("tp: 2", "tpp: 2"), "strategy.tpp", "unknown key"),
        (
            BASE.replace("{tp: 2}", "{pipeline: {schedule: zigzag}}"),
            "strategy.pipeline.schedule",
            "unknown value 'zigzag' (allowed: gpipe, 1f1b, interleaved)",
        ),
        (
            BASE.replace("{tp: 2}", "{pipeline: {schedule: 1fb1}}"),
            "strategy.pipeline.schedule",
            "did you mean '1f1b'?",
        ),
        (BASE.replace("model: {layers: 4, ", "model: {"), "model.layers", "required"),
        (BASE.replace("{tp: 2}", "{pp: 3}"), "strategy.pp", "equal chunks"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_scenario(p)
    assert err.value.file == str(p)
    assert err.value.field == field
    assert message in err.value.message


def test_overrides_are_yaml_scalars(tmp_path: Path) -> None:
    p = _write(tmp_path, BASE)
    sc = load_scenario(
        p, ["strategy.dp=4", "strategy.sequence_parallel=true", "strategy.pipeline.schedule=gpipe"]
    )
    assert sc.strategy.dp == 4 and sc.strategy.sequence_parallel is True
    assert sc.strategy.pipeline.schedule.value == "gpipe"
    with pytest.raises(InputError) as err:
        load_scenario(p, ["strategy.bogus=1"])
    assert err.value.field == "strategy.bogus"


def test_defaults_and_variants(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        BASE + "compare:\n  - {name: a, set: {strategy.tp: 4}}\n"
        "  - {name: b, set: {strategy.kind: parameter_server, strategy.tp: 1}}\n",
    )
    sc = load_scenario(p)
    assert (sc.backend, sc.fidelity) == ("nccl", "flow")
    vs = sc.variants()
    assert [v.name for v in vs] == ["x/a", "x/b"]
    assert vs[0].strategy.tp == 4 and vs[1].strategy.kind.value == "parameter_server"


def test_unknown_scenario_name() -> None:
    with pytest.raises(InputError, match="no shipped scenario"):
        load_scenario("no-such-scenario")


@pytest.mark.parametrize("name", shipped_names("scenarios"))
def test_shipped_scenarios_build(name: str) -> None:
    sc = load_scenario(name)
    topo = load_topology(sc.topology)
    for _variant, built in build_variants(sc, topo):
        built.workload.validate()
        assert built.memory_per_gpu_B["total"] > 0
        assert built.metadata["model_flops_per_step"] > 0


def test_gpt3_64xa100_runs_the_papers_interleaved_schedule() -> None:
    """Korthikanti et al. 2022 Sec. 6: 3 model chunks per stage; their Sec. 4.2.3 activation
    memory, 34 s b h L / t x (1 + (p-1)/(p m)), is 12.35 GiB (9.56 GiB with one chunk)."""
    sc = load_scenario("gpt3-175b-64xa100")
    assert sc.strategy.pipeline.schedule.value == "interleaved"
    assert sc.strategy.pipeline.virtual_stages == 3
    built = build_workload(sc, load_topology(sc.topology))
    s, b, h, n_l, t, p, m = 2048, 1, 12288, 96, 8, 8, 3
    paper_B = 34 * s * b * h * n_l / t * (1 + (p - 1) / (p * m))
    assert built.memory_per_gpu_B["activations"] == pytest.approx(paper_B, rel=1e-9)
    assert paper_B / 2**30 == pytest.approx(12.35, abs=0.005)
    assert 34 * s * b * h * n_l / t / 2**30 == pytest.approx(9.56, abs=0.005)
