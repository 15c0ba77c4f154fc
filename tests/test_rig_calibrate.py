"""Calibration recovers known constants from data the simulator itself generated."""

from __future__ import annotations

import pytest

from simulator.rig.calibrate import (
    _as_backend,
    _base_profile,
    fit_profile,
    make_profile,
    measured_concurrency,
    rs_over_ar,
)
from simulator.rig.microbench import (
    BenchRow,
    Microbench,
    format_table,
    predict_row,
    summarize,
    table_rows,
)
from simulator.topology import load_topology

SIZES = (4096, 65536, 1 << 20, 16 << 20)


def _synthetic(eff: float, base_s: float, step_s: float) -> tuple[object, Microbench]:
    topo = load_topology("rig-2host")
    prof = make_profile(
        _base_profile(),
        efficiency=eff,
        base_latency_s=base_s,
        step_latency_s=step_s,
        concurrency=2,
        rs_as_ar=True,
    )
    backend = _as_backend(prof)
    rows = []
    for op in ("all_reduce", "reduce_scatter", "broadcast", "send_recv"):
        for s in SIZES:
            probe = BenchRow(op, s, 2, (1.0,))
            t = predict_row(topo, probe, backend)
            assert t is not None
            rows.append(BenchRow(op, s, 2, (t * 0.99, t, t * 1.01)))
    return topo, Microbench("rig-2host", 2, tuple(rows), "synthetic")


def test_fit_recovers_known_constants() -> None:
    topo, bench = _synthetic(0.9, 150e-6, 40e-6)
    fit = fit_profile(topo, bench)
    assert fit.efficiency == pytest.approx(0.9, rel=0.01)
    assert fit.base_latency_s == pytest.approx(150e-6, rel=0.05)
    assert fit.step_latency_s == pytest.approx(40e-6, rel=0.05)
    assert fit.fit_max_abs_error_pct < 0.5
    assert fit.profile.reduce_scatter_as_all_reduce is True


def test_fit_clips_to_physical_constants() -> None:
    # Faster than the configured rate cannot be an efficiency above 1.
    topo, bench = _synthetic(1.0, 0.0, 0.0)
    faster = Microbench(
        bench.topology,
        2,
        tuple(BenchRow(r.op, r.size_B, 2, tuple(t * 0.8 for t in r.times_s)) for r in bench.rows),
    )
    fit = fit_profile(topo, faster)
    assert fit.efficiency <= 1.0
    assert fit.base_latency_s >= 0.0 and fit.step_latency_s >= 0.0


def test_concurrency_and_reduce_scatter_ratio() -> None:
    rows = (
        BenchRow("all_reduce", 4096, 2, (1e-3,)),
        BenchRow("concurrent_all_reduce", 4096, 2, (2e-3,)),  # 4 ops in the time of 2
        BenchRow("all_reduce", 1 << 20, 2, (0.02,)),
        BenchRow("reduce_scatter", 1 << 20, 2, (0.0205,)),
    )
    bench = Microbench("x", 2, rows)
    assert measured_concurrency(bench) == pytest.approx(2.0)
    assert rs_over_ar(bench) == pytest.approx(1.025)


def test_table_has_nccl_tests_columns() -> None:
    topo, bench = _synthetic(0.95, 100e-6, 30e-6)
    backend = _as_backend(
        make_profile(
            _base_profile(),
            efficiency=0.95,
            base_latency_s=100e-6,
            step_latency_s=30e-6,
            concurrency=2,
            rs_as_ar=True,
        )
    )
    recs = table_rows(bench, [predict_row(topo, r, backend) for r in bench.rows])
    ar = next(r for r in recs if r["op"] == "all_reduce" and r["size_B"] == 1 << 20)
    assert ar["algbw_Bps"] == pytest.approx((1 << 20) / ar["time_s"])
    assert ar["busbw_Bps"] == pytest.approx(ar["algbw_Bps"] * 2 * (2 - 1) / 2)
    assert abs(ar["error_pct"]) < 0.01
    text = format_table(recs)
    assert "algbw_GB/s" in text and "busbw_GB/s" in text
    assert summarize(recs)["n"] == 8


def test_all_gather_efficiency_is_recovered_and_priced() -> None:
    from simulator.core.errors import InputError
    from simulator.rig.calibrate import fit_all_gather_efficiency

    topo, bench = _synthetic(0.9, 150e-6, 40e-6)
    prof = make_profile(
        _base_profile(),
        efficiency=0.9,
        base_latency_s=150e-6,
        step_latency_s=40e-6,
        concurrency=2,
        rs_as_ar=True,
    )
    plain = _as_backend(prof)
    slow = _as_backend(prof.edited(op_efficiency={"all_gather": 0.63}))
    rows = []
    for s in SIZES:
        t = predict_row(topo, BenchRow("all_gather", s, 2, (1.0,)), slow)
        assert t is not None
        rows.append(BenchRow("all_gather", s, 2, (t,)))
    fitted = fit_all_gather_efficiency(topo, Microbench("rig-2host", 2, (*bench.rows, *rows)), prof)
    assert fitted == pytest.approx(0.63, rel=0.01)
    # No all_gather rows: nothing to fit.
    assert fit_all_gather_efficiency(topo, bench, prof) is None

    # The key slows all_gather's transfers by that fraction, and nothing else; at 16 MiB the
    # latencies are under 0.1 % of the time.
    big = 16 << 20
    for op, ratio in (("all_gather", 1 / 0.63), ("all_reduce", 1.0)):
        row = BenchRow(op, big, 2, (1.0,))
        t0, t1 = predict_row(topo, row, plain), predict_row(topo, row, slow)
        assert t0 is not None and t1 is not None
        assert t1 / t0 == pytest.approx(ratio, rel=2e-3)
    with pytest.raises(InputError, match=r"op_efficiency\.all_gather"):
        prof.edited(op_efficiency={"all_gather": 1.5})

    # The older fixed-rate local copy is still a profile key: size / rate after an all_gather.
    with_copy = _as_backend(prof.edited(local_copy={"all_gather": "3.2Gbit/s"}))
    for op, extra in (("all_gather", big / 400e6), ("all_reduce", 0.0)):
        row = BenchRow(op, big, 2, (1.0,))
        t0, t1 = predict_row(topo, row, plain), predict_row(topo, row, with_copy)
        assert t0 is not None and t1 is not None
        assert t1 - t0 == pytest.approx(extra, rel=1e-6, abs=1e-9)
    with pytest.raises(InputError, match=r"local_copy\.gather"):
        prof.edited(local_copy={"gather": "1Gbit/s"})


def test_one_profile_per_rank_count(tmp_path, monkeypatch) -> None:
    """A run is predicted with the profile fitted at its own rank count, falling back to the
    fit of the nearest rank count (with a warning), then to the uncalibrated gloo profile."""
    import simulator.rig.calibrate as cal
    from simulator.collectives.calibrated import CalibrationFallbackWarning

    assert cal.calibration_path(2) == cal.DEFAULT_OUT
    assert cal.calibration_path(4).name == "gloo-rig-4rank.yaml"
    assert cal.calibration_name(4) == "gloo-rig-4rank"
    monkeypatch.setattr(cal, "CALIBRATION_DIR", tmp_path)
    monkeypatch.setattr(cal, "DEFAULT_OUT", tmp_path / "gloo-rig.yaml")
    assert cal.rig_calibration(4) == "gloo"
    (tmp_path / "gloo-rig.yaml").write_text("name: gloo-rig\n")
    with pytest.warns(CalibrationFallbackWarning, match="4 ranks.*using gloo-rig \\(2 ranks\\)"):
        assert cal.rig_calibration(4) == str(tmp_path / "gloo-rig.yaml")
    (tmp_path / "gloo-rig-4rank.yaml").write_text("name: gloo-rig-4rank\n")
    assert cal.rig_calibration(4) == str(tmp_path / "gloo-rig-4rank.yaml")
    assert cal.rig_calibration(2) == str(tmp_path / "gloo-rig.yaml")
    with pytest.warns(CalibrationFallbackWarning, match="using gloo-rig-4rank \\(4 ranks\\)"):
        assert cal.rig_calibration(6) == str(tmp_path / "gloo-rig-4rank.yaml")


def test_fitted_profile_is_named_by_rank_count() -> None:
    _, bench = _synthetic(0.9, 1e-4, 5e-5)
    four = Microbench("rig-4host-flat", 4, bench.rows, "")
    fit = fit_profile(load_topology("rig-4host-flat"), four)
    assert fit.profile.name == "gloo-rig-4rank"
    assert fit_profile(load_topology("rig-2host"), bench).profile.name == "gloo-rig"


def test_send_buffer_is_fitted_from_the_senders_time() -> None:
    from simulator.collectives.backend import profile_from_spec
    from simulator.rig.calibrate import fit_send_buffer

    # 16 MiB delivered in 0.338 s, the sender back 37.7 ms earlier: 1.87 MB left in transit
    # (rig-2host, 2026-11-29); below 4 MiB the sender is not used (latency-bound, fully buffered).
    rows = (
        BenchRow("send_recv", 16 << 20, 2, (0.3381,)),
        BenchRow("send_sender", 16 << 20, 2, (0.3004,)),
        BenchRow("send_recv", 1 << 20, 2, (0.0209,)),
        BenchRow("send_sender", 1 << 20, 2, (0.0006,)),
    )
    buf = fit_send_buffer(Microbench("rig-2host", 2, rows))
    assert buf == pytest.approx((0.3381 - 0.3004) * (16 << 20) / 0.3381)
    assert fit_send_buffer(Microbench("x", 2, rows[2:])) is None
    # a 4 MiB message back in 1 ms was buffered whole: a lower bound, not a measurement
    whole = (
        BenchRow("send_recv", 4 << 20, 2, (0.0845,)),
        BenchRow("send_sender", 4 << 20, 2, (0.001,)),
    )
    assert fit_send_buffer(Microbench("x", 2, rows + whole)) == pytest.approx(buf)
    topo, bench = _synthetic(0.9, 150e-6, 40e-6)
    fit = fit_profile(topo, Microbench(bench.topology, 2, bench.rows + rows[:2]))
    assert profile_from_spec(fit.profile, file="x").send_buffer_B == pytest.approx(buf, abs=1)
    assert "send buffer: 1.87 MB" in fit.profile.description


def test_written_profile_reads_back_the_fitted_values(tmp_path) -> None:
    """The typed fit is written with units (``us``, ``B``) and loads back to the same profile."""
    from simulator.collectives.backend import load_backend, profile_from_spec
    from simulator.rig.calibrate import write_profile

    topo, bench = _synthetic(0.9, 150e-6, 40e-6)
    fit = fit_profile(topo, bench)
    path = write_profile(fit, tmp_path / "fit.yaml")
    text = path.read_text()
    assert "base_latency: " in text and "us\n" in text
    loaded = load_backend(str(path))
    fitted = profile_from_spec(fit.profile, file=str(path))
    assert loaded == fitted
    assert loaded.protocols[0].base_latency_s == pytest.approx(fit.base_latency_s, abs=1e-9)
