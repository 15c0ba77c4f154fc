"""A backend's per-op hop floor: loading, pricing, and fitting it from microbenchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from simulator.collectives import load_backend, simulate_collective
from simulator.core.errors import InputError
from simulator.core.vocab import CollectiveOp
from simulator.rig.calibrate import _as_backend, _base_profile, fit_profile, make_profile
from simulator.rig.hop_floor import fit_hop_floor
from simulator.rig.microbench import BenchRow, Microbench, predict_row
from simulator.topology import load_topology

SIZES = (4096, 65536, 262144, 4 << 20, 16 << 20)
#: Known floors (s) the synthetic rows are made with: a 50x spread, as on the 4-rank rig.
FLOORS = {
    "all_reduce": 1.3e-3,
    "reduce_scatter": 2.2e-3,
    "broadcast": 0.35e-3,
    "send_recv": 0.25e-3,
}


def _gloo(tmp_path: Path, **changes: object) -> Path:
    with open(load_backend("gloo").source) as fh:
        data = yaml.safe_load(fh)
    data.update(changes)
    path = tmp_path / "prof.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_profile_loads_with_and_without_hop_floor(tmp_path: Path) -> None:
    plain = load_backend(str(_gloo(tmp_path)))
    assert plain.hop_floor_s is None
    assert plain.hop_floor(CollectiveOp.ALL_REDUCE) == 0.0
    floored = load_backend(str(_gloo(tmp_path, hop_floor={"all_reduce": "1.5ms"})))
    assert floored.hop_floor(CollectiveOp.ALL_REDUCE) == pytest.approx(1.5e-3)
    assert floored.hop_floor(CollectiveOp.BROADCAST) == 0.0


@pytest.mark.parametrize(
    ("floor", "field", "message"),
    [
        ({"all_reduce": "-1ms"}, "hop_floor.all_reduce", "non-negative"),
        ({"all_reduce": "1 Gbps"}, "hop_floor.all_reduce", "unknown unit"),
        ({"allreduce": "1ms"}, "hop_floor.allreduce", "all_reduce"),
        ("1ms", "hop_floor", "mapping"),
    ],
)
def test_bad_hop_floor_names_file_and_field(
    tmp_path: Path, floor: object, field: str, message: str
) -> None:
    path = _gloo(tmp_path, hop_floor=floor)
    with pytest.raises(InputError) as exc:
        load_backend(str(path))
    assert (exc.value.file, exc.value.field) == (str(path), field)
    assert message in exc.value.message


def test_floor_bounds_small_collectives_and_leaves_large_ones() -> None:
    """A phase of depth d drains in no less than d x floor; a floor below the transfer time
    changes nothing; only the op it is given for is affected."""
    topo = load_topology("rig-4host-flat")
    base = make_profile(
        _base_profile(), efficiency=0.98, base_latency_s=0.0, step_latency_s=0.0,
        concurrency=1, rs_as_ar=True, name="t",
    )  # fmt: skip
    plain = _as_backend(base)
    floored = _as_backend(base.edited(hop_floor={"all_reduce": 1e-3}))
    small = simulate_collective(topo, "all_reduce", 4096.0, backend=floored).time_s
    # ring all_reduce on 4 ranks: 6 dependent steps
    assert small == pytest.approx(6e-3, rel=0.02)
    assert simulate_collective(topo, "all_reduce", 4096.0, backend=plain).time_s < 1e-3
    for op, size in (("all_reduce", 64 << 20), ("broadcast", 4096.0)):
        t0 = simulate_collective(topo, op, float(size), backend=plain).time_s
        t1 = simulate_collective(topo, op, float(size), backend=floored).time_s
        assert t1 == pytest.approx(t0, rel=1e-9)


def test_written_floors_read_back(tmp_path: Path) -> None:
    prof = make_profile(
        _base_profile(), efficiency=0.98, base_latency_s=0.0, step_latency_s=0.0,
        concurrency=1, rs_as_ar=True, name="t", hop_floor={"all_reduce": 1.2345678e-3},
    )  # fmt: skip
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(prof.to_yaml()))
    back = load_backend(str(path))
    assert back.hop_floor(CollectiveOp.ALL_REDUCE) == prof.hop_floor[CollectiveOp.ALL_REDUCE]  # type: ignore[index]
    assert yaml.safe_load(path.read_text())["hop_floor"] == {"all_reduce": "1234.568us"}


def test_one_dimensional_fit_finds_the_floor() -> None:
    """Rows whose time is max(transfer, depth x h): the fit returns h; rows the floor cannot
    reach fit 0."""
    transfer = np.array([0.1e-3, 0.4e-3, 1.6e-3, 6.4e-3, 25.6e-3])

    def predict(h: float) -> np.ndarray:
        return np.maximum(transfer, 6 * h)

    h, sse = fit_hop_floor(predict, predict(1.1e-3).tolist())
    assert h == pytest.approx(1.1e-3, rel=1e-3)
    assert sse < 1e-6
    h0, _ = fit_hop_floor(predict, transfer.tolist())
    assert h0 == 0.0
    with pytest.raises(ValueError):
        fit_hop_floor(predict, [])


def _synthetic_floored() -> Microbench:
    """4-rank rows the simulator made with known per-op floors and efficiency 0.95."""
    topo = load_topology("rig-4host-flat")
    made = make_profile(
        _base_profile(), efficiency=0.95, base_latency_s=0.0, step_latency_s=0.0,
        concurrency=1, rs_as_ar=True, hop_floor=FLOORS,
    )  # fmt: skip
    truth = _as_backend(made)
    rows = []
    for op in FLOORS:
        for s in SIZES:
            t = predict_row(topo, BenchRow(op, s, 4, (1.0,)), truth)
            assert t is not None
            rows.append(BenchRow(op, s, 4, (t * 0.99, t, t * 1.01)))
    return Microbench("rig-4host-flat", 4, tuple(rows), "synthetic")


def test_calibration_recovers_per_op_floors() -> None:
    """Rows made with known per-op floors (and efficiency): the fit recovers every floor and
    the efficiency, and the fit's residuals vanish; without ``hop_floors`` none is fitted."""
    topo = load_topology("rig-4host-flat")
    bench = _synthetic_floored()
    fit = fit_profile(topo, bench, hop_floors=True)
    assert fit.efficiency == pytest.approx(0.95, rel=0.01)
    assert fit.hop_floor_s is not None
    for op, h in FLOORS.items():
        assert fit.hop_floor_s[op] == pytest.approx(h, rel=0.02), op
    assert fit.fit_max_abs_error_pct < 1.0
    assert "Hop floors" in fit.profile.description
    plain = fit_profile(topo, bench)
    assert plain.hop_floor_s is None and plain.profile.hop_floor is None
    assert plain.fit_max_abs_error_pct > 20.0  # one step latency cannot hold a 9x spread


def test_cli_fits_floors_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from simulator.cli import main

    rows = tmp_path / "mb.json"
    _synthetic_floored().save(rows)
    for flag, out in (([], tmp_path / "plain.yaml"), (["--hop-floors"], tmp_path / "fl.yaml")):
        argv = ["rig", "calibrate", "--topology", "rig-4host-flat", "--load", str(rows)]
        assert main([*argv, *flag, "--out", str(out), "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        prof = load_backend(str(out))
        if flag:
            assert got["hop_floor_s"]["all_reduce"] == pytest.approx(1.3e-3, rel=0.02)
            assert prof.hop_floor(CollectiveOp.BROADCAST) == pytest.approx(0.35e-3, rel=0.02)
        else:
            assert "hop_floor_s" not in got and prof.hop_floor_s is None
