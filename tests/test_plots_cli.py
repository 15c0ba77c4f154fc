"""Pictures that inform: sweep --plot, validate --published --plot (predicted against published)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.report.sweepplot import MAX_VALUE_TICKS, value_ticks
from simulator.studies.published_plot import published_png

SCENARIO = """
name: tiny-plot
topology: dgx-a100
model: {name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}
training: {global_batch: 32, micro_batch: 1, seq_len: 128, dtype: bf16}
"""


def _is_png(p: Path) -> bool:
    return p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sc = tmp_path / "tiny.yaml"
    sc.write_text(SCENARIO)
    png = tmp_path / "sweep.png"
    argv = ["sweep", str(sc), "--vary", "strategy.tp=1,2,4", "--vary", "training.seq_len=64,128",
            "--scheduler", "inline", "--plot", str(png), "--json"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == str(png)
    assert _is_png(png)


def test_sweep_plot_ticks_at_the_swept_values() -> None:
    """pp=4,8 had ticks at 4.5, 5.5, ...: a few numeric values are the ticks themselves."""
    assert value_ticks([4, 8, 16]) == ([4.0, 8.0, 16.0], ["4", "8", "16"])
    assert value_ticks([0.5, 1.0, 2.0]) == ([0.5, 1.0, 2.0], ["0.5", "1", "2"])
    assert value_ticks(list(range(MAX_VALUE_TICKS + 1))) is None


def test_published_plot_from_rows(tmp_path: Path) -> None:
    rows = [
        {"kind": "nccl_tests", "expected": e, "predicted": p, "unit": "GB/s busbw",
         "tolerance_pct": 10.0, "held_out": h, "within_tolerance": abs(p / e - 1) <= 0.1}
        for e, p, h in [(230, 228, False), (190, 191, True), (24, 26, True), (480, 470, True)]
    ] + [
        {"kind": "training", "expected": e, "predicted": p, "unit": "TFLOP/s per GPU",
         "tolerance_pct": 15.0, "held_out": True, "within_tolerance": abs(p / e - 1) <= 0.15}
        for e, p in [(163, 155), (140, 120), (153, 149)]
    ]  # fmt: skip
    png = published_png(rows, tmp_path / "pub.png")
    assert _is_png(png)
