"""The hardware catalog: names, SI units, per-direction NVLink, sources on every figure."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from simulator.core.errors import InputError
from simulator.hardware import (
    get_gpu,
    get_link,
    gpu_names,
    link_names,
    wan_latency_per_km_s,
)


def test_catalog_has_the_gpus() -> None:
    assert {"V100", "A100-40GB", "A100-80GB", "H100-SXM", "H200", "B200", "MI300X", "L40S"} <= set(
        gpu_names()
    )


@pytest.mark.parametrize(
    ("name", "bf16", "hbm_B", "hbm_Bps", "nvlink_gen", "nvlink_Bps"),
    [
        ("A100-40GB", 312e12, 40e9, 1555e9, 3, 300e9),
        ("A100-80GB", 312e12, 80e9, 2039e9, 3, 300e9),
        ("H100-SXM", 989.4e12, 80e9, 3.35e12, 4, 450e9),
        ("H200", 989.4e12, 141e9, 4.8e12, 4, 450e9),
        ("B200", 2.25e15, 180e9, 8e12, 5, 900e9),
        ("L40S", 362.05e12, 48e9, 864e9, None, 0.0),
    ],
)
def test_gpu_figures(
    name: str, bf16: float, hbm_B: float, hbm_Bps: float, nvlink_gen: int | None, nvlink_Bps: float
) -> None:
    g = get_gpu(name)
    assert g.bf16_flops == pytest.approx(bf16)
    assert g.peak_flops("bf16") == pytest.approx(bf16)
    assert g.hbm_B == pytest.approx(hbm_B)
    assert g.hbm_bandwidth_Bps == pytest.approx(hbm_Bps)
    assert g.nvlink_generation == nvlink_gen
    assert g.nvlink_bandwidth_Bps == pytest.approx(nvlink_Bps)


def test_volta_has_no_bf16_and_falls_back_to_fp16() -> None:
    v = get_gpu("v100")  # case-insensitive
    assert v.bf16_flops is None
    assert v.peak_flops("bf16") == v.fp16_flops == pytest.approx(125e12)
    with pytest.raises(InputError):
        v.peak_flops("int4")


def test_nvlink_per_direction_matches_links_times_ports() -> None:
    # A100: 12 NVLink3 links x 25 GB/s per direction = 300 GB/s (600 GB/s both ways)
    assert 12 * get_link("nvlink3").bandwidth_Bps == get_gpu("A100-80GB").scaleup_bandwidth_Bps
    assert 18 * get_link("nvlink4").bandwidth_Bps == get_gpu("H100-SXM").scaleup_bandwidth_Bps
    assert 18 * get_link("nvlink5").bandwidth_Bps == get_gpu("B200").scaleup_bandwidth_Bps


@pytest.mark.parametrize(
    ("name", "Bps"),
    [
        ("ib_edr", 12.5e9),
        ("ib_hdr", 25e9),
        ("ib_ndr", 50e9),
        ("ib_xdr", 100e9),
        ("roce_100g", 12.5e9),
        ("roce_400g", 50e9),
        ("pcie3", 15.75e9),
        ("pcie4", 31.5e9),
        ("pcie5", 63e9),
        ("wan_100g", 12.5e9),
    ],
)
def test_link_bandwidth_per_direction(name: str, Bps: float) -> None:
    assert get_link(name).bandwidth_Bps == pytest.approx(Bps)


def test_every_figure_has_a_source_and_prices_are_assumptions() -> None:
    for n in gpu_names():
        g = get_gpu(n)
        assert g.source and ("Datasheet" in g.source or "Data Sheet" in g.source)
        assert g.price_is_assumption and g.price_source
    for n in link_names():
        lk = get_link(n)
        assert lk.source
        assert lk.latency_source  # either a source or the reason for the assumption


def test_specs_are_frozen() -> None:
    g = get_gpu("H100-SXM")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.hbm_B = 1.0  # type: ignore[misc]


def test_unknown_names() -> None:
    with pytest.raises(InputError, match="known: V100"):
        get_gpu("Z80")
    with pytest.raises(InputError, match="unknown link"):
        get_link("smoke_signals")


def test_wan_latency_about_1ms_per_200km() -> None:
    assert 200 * wan_latency_per_km_s() == pytest.approx(1e-3, rel=0.05)


def test_catalog_yaml_has_no_unexpected_gpu_keys() -> None:
    from importlib import resources

    data = yaml.safe_load(resources.files("simulator").joinpath("data/hardware.yaml").read_text())
    allowed = {
        "description",
        "flops",
        "hbm",
        "hbm_bandwidth",
        "scaleup_link",
        "scaleup_bandwidth",
        "pcie",
        "source",
        "price_per_gpu_hour",
    }
    for name, spec in data["gpus"].items():
        assert set(spec) == allowed, name


def test_catalog_schema_names_the_field_of_a_bad_figure() -> None:
    """The catalog is validated like every input: units, signs and typos name the field."""
    import yaml

    from simulator.core.errors import InputError
    from simulator.core.schema_messages import validate_input
    from simulator.hardware_schema import HardwareFile
    from simulator.resources import data_file

    good = yaml.safe_load(data_file("hardware.yaml").read_text("utf-8"))
    validate_input(HardwareFile, good, file="hw.yaml")
    cases = [
        (("gpus", "V100", "hbm_bandwidth"), "900GB", "gpus.V100.hbm_bandwidth", "/s or ps"),
        (("gpus", "V100", "hbm"), "-1GB", "gpus.V100.hbm", "non-negative"),
        (("links", "nvlink2", "latency"), "fast", "links.nvlink2.latency", "cannot read"),
        (("gpus", "V100", "flops", "fp64"), "1 TFLOPS", "gpus.V100.flops.fp64", "unknown key"),
        (("gpus", "V100", "descripton"), "x", "gpus.V100.descripton", "did you mean"),
    ]
    for path, value, field, message in cases:
        data = yaml.safe_load(yaml.safe_dump(good))
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(InputError) as err:
            validate_input(HardwareFile, data, file="hw.yaml")
        assert (err.value.file, err.value.field) == ("hw.yaml", field)
        assert message in err.value.message
