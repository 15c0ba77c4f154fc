"""``run --out`` from the result's columns (issue 18): the CSVs pandas would write, the plots
pandas and pyplot would draw, and neither of them imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from simulator.config import load_scenario
from simulator.engine import StepResult
from simulator.engine.records import OP_COLUMNS, ops_table
from simulator.report import plots
from simulator.report.csvtext import write_columns_csv
from simulator.report.plots import link_kind_rows, link_kind_stats, plot_links, plot_timeline
from simulator.report.tables import write_tables

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "gan-dcgan-dgx1.yaml"
NAN, INF = float("nan"), float("inf")


def _same_as_pandas(columns: dict[str, Any], tmp_path: Path) -> None:
    want, got = tmp_path / "want.csv", tmp_path / "got.csv"
    pd.DataFrame(columns).to_csv(want, index=False)
    assert write_columns_csv(columns, got)
    assert got.read_bytes() == want.read_bytes()


def test_columns_csv_is_what_pandas_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 2500
    floats = rng.normal(size=n) * 10.0 ** rng.integers(-320, 300, n)
    floats[:9] = [0.0, -0.0, NAN, INF, -INF, 1e16, 1e-4, 9.999e-5, 5e-324]
    words = ["", "a", "a,b", 'say "hi"', "line\nbreak", "cr\rx", " lead", "é ü", "x;y"]
    columns: dict[str, Any] = {
        "f": floats,
        "f_list": [float(x) for x in rng.normal(size=n)],
        "i": rng.integers(-(2**62), 2**62, n),
        "i_list": [int(x) for x in rng.integers(-5, 5, n)],
        "b": rng.random(n) < 0.5,
        "b_list": [bool(x) for x in rng.random(n) < 0.5],
        "u8": rng.integers(0, 255, n).astype(np.uint8),
        "s": [words[k] for k in rng.integers(0, len(words), n)],
        "s_missing": [None if k == 0 else words[k] for k in rng.integers(0, len(words), n)],
        "ready_s": np.cumsum(rng.choice([1e-6, 2.5e-6], n)),
    }
    columns["end_s"] = np.roll(columns["ready_s"], -1)  # values shared across columns
    _same_as_pandas(columns, tmp_path)
    _same_as_pandas({"a": [], "b": np.zeros(0)}, tmp_path)


@pytest.mark.parametrize(
    "columns",
    [
        {"only": ["", "a"]},  # pandas quotes a lone empty cell
        {"mixed": [1, True], "x": [1.0, 2.0]},  # an object column in pandas
        {"f32": np.array([0.1, 2.5], dtype=np.float32), "i": [1, 2]},
        {"big": [2**70, 1], "x": [1.0, 2.0]},
        {"short": [1.0], "x": [1.0, 2.0]},
    ],
)
def test_columns_csv_leaves_other_tables_to_pandas(columns: dict[str, Any], tmp_path: Path) -> None:
    assert not write_columns_csv(columns, tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()


def test_op_columns_are_the_ops_table(gan_result: StepResult) -> None:
    assert list(gan_result.op_columns) == list(OP_COLUMNS)
    assert gan_result._plan is not None and gan_result._times is not None
    pd.testing.assert_frame_equal(gan_result.ops, ops_table(gan_result._plan, gan_result._times))


def test_tables_are_the_frames_to_csv(gan_result: StepResult, tmp_path: Path) -> None:
    write_tables(gan_result, tmp_path, parquet=False)
    for stem in ("ops", "links", "ranks"):
        want = getattr(gan_result, stem).to_csv(index=False)
        assert (tmp_path / f"{stem}.csv").read_text(encoding="utf-8") == want, stem


def test_link_kind_rows_as_the_groupby(gan_result: StepResult) -> None:
    df = gan_result.links
    want = []
    for kind, grp in df.groupby("kind", sort=True):
        used = grp[grp["bytes_B"] > 0]
        want.append(
            {
                "kind": str(kind),
                "links": len(grp),
                "used": len(used),
                "mean_util": float(used["utilisation"].mean()) if len(used) else 0.0,
                "max_util": float(grp["utilisation"].max()),
                "bytes_per_step_B": float(grp["bytes_per_step_B"].sum()),
            }
        )
    got = link_kind_rows(gan_result)
    assert got == want  # pandas' and numpy's sums and means add the same way
    assert link_kind_stats(gan_result).to_dict(orient="records") == got


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("plot", [plot_timeline, plot_links])
def test_png_is_savefigs_tight_png(
    plot: Any, gan_result: StepResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tight box measured once gives the picture savefig's own "tight" gives."""
    ours = plot(gan_result, tmp_path / "ours.png")

    def tight(fig: Figure, path: Path) -> Path:
        fig.savefig(path, dpi=plots.DPI, bbox_inches="tight")
        return Path(path)

    monkeypatch.setattr(plots, "_save", tight)
    theirs = plot(gan_result, tmp_path / "theirs.png")
    a, b = _pixels(ours), _pixels(theirs)
    assert a.shape == b.shape and a.shape[0] > 200 and a.shape[1] > 600
    assert np.array_equal(a, b)


def test_run_out_imports_neither_pandas_nor_pyplot(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from simulator.cli import main\n"
        f"main(['run', {str(SCENARIO)!r}, '--json', '--out', {str(tmp_path / 'out')!r}])\n"
        "print(sorted(m for m in ('pandas', 'matplotlib.pyplot') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
    variants = [d for d in (tmp_path / "out").iterdir() if d.is_dir()]  # one per compare:
    assert len(variants) == len(load_scenario(SCENARIO).variants()) > 1
    for d in variants:
        written = {p.name for p in d.iterdir()}
        assert {"ops.csv", "links.csv", "ranks.csv", "timeline.json", "result.json"} <= written
        for png in ("timeline.png", "links.png"):
            assert _pixels(d / png).shape[0] > 200
