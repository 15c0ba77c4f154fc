"""The op estimate counts every parameter a rank holds (embedding, experts), so an outsized
model is refused before the gradient buckets are unrolled."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.build import build_workload
from simulator.config import load_scenario
from simulator.core.errors import InputError
from simulator.limits import check_scenario, estimate_scenario_ops
from simulator.topology import load_topology

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_the_estimate_bounds_the_ops_built_for_every_shipped_scenario(path: Path) -> None:
    sc = load_scenario(path)
    topo = load_topology(sc.topology)
    built = build_workload(sc, topo).workload
    ops = sum(len(p) for p in built.programs)
    estimate = estimate_scenario_ops(sc, int(topo.num_ranks))[0]
    assert ops <= estimate <= 100 * ops


@pytest.mark.parametrize(
    ("field", "value"),
    [("vocab", 10**30), ("vocab", 10**11), ("experts", 10**9), ("ffn_hidden", 10**14)],
)
def test_an_outsized_model_is_refused_naming_its_parameters(field: str, value: int) -> None:
    path = ROOT / "scenarios" / "mixtral-8x7b-ep.yaml"
    sc = load_scenario(path)
    big = sc.model_copy(update={"model": _replace(sc.model, **{field: value})})
    with pytest.raises(InputError) as err:
        check_scenario(big, 64, file=str(path))
    msg = str(err.value)
    assert "parameters per rank" in msg
    if field != "ffn_hidden":  # the message quotes layers, hidden, vocab and experts
        assert f"{value:,}" in msg
    assert "limit" in msg


def _replace(model: object, **kw: int) -> object:
    import dataclasses

    return dataclasses.replace(model, **kw)  # type: ignore[type-var]


def test_a_builder_refuses_an_outsized_app_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GAN's image channels are not a decoder field the estimate sees: the DDP bucketing
    refuses before unrolling, and the CLI names the scenario file (exit 2, no traceback)."""
    import yaml

    from simulator.cli import main

    raw = yaml.safe_load((ROOT / "scenarios" / "gan-dcgan-dgx1.yaml").read_text())
    raw["model"]["app"]["image_channels"] = 2_000_000_000  # under the schema bound, 2^31 - 1
    raw["strategy"]["data_parallel"] = {"bucket_size": "1MiB"}
    raw.pop("compare", None)
    path = tmp_path / "huge-gan.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = main(["run", str(path), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err and "strategy.data_parallel.bucket_size" in err
    assert "buckets" in err and "Traceback" not in err


@pytest.mark.parametrize("decoder_layers", [10**5, 10**30])
def test_an_outsized_decoder_of_a_translation_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], decoder_layers: int
) -> None:
    """``model.app.decoder_layers`` counts in the estimate (and in the builder's own guard,
    where 10^30 overflowed a tuple's length before)."""
    import yaml

    from simulator.cli import main

    raw = yaml.safe_load((ROOT / "scenarios" / "nmt-transformer-big-dgx1.yaml").read_text())
    raw["model"]["app"]["decoder_layers"] = decoder_layers
    raw.pop("compare", None)
    path = tmp_path / "deep-decoder.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "model.app.decoder_layers" in err and "Traceback" not in err
