"""write_csv writes the bytes of DataFrame.to_csv(index=False) (issue 18: ``run --out`` cost)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.report import csvtext
from simulator.report.csvtext import write_csv

NAN, INF = float("nan"), float("inf")


def _same(df: pd.DataFrame, tmp_path: Path) -> None:
    want, got = tmp_path / "want.csv", tmp_path / "got.csv"
    df.to_csv(want, index=False)
    write_csv(df, got)
    assert got.read_bytes() == want.read_bytes()


def test_floats_ints_bools_strings(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    floats = rng.normal(size=n) * 10.0 ** rng.integers(-320, 300, n)
    floats[:12] = [0.0, -0.0, NAN, INF, -INF, 1e16, 1e-4, 9.999e-5, 5e-324, 1e15, 0.1, 123456.0]
    words = ["", "a", "a,b", 'say "hi"', "line\nbreak", "cr\rx", "tab\tx", " lead", "é ü", "x;y"]
    df = pd.DataFrame(
        {
            "f": floats,
            "i": rng.integers(-(2**62), 2**62, n),
            "b": rng.random(n) < 0.5,
            "s": pd.array([words[k] for k in rng.integers(0, len(words), n)], dtype="str"),
            "plain": pd.array([f"op{k}" for k in range(n)], dtype="str"),
            "u8": rng.integers(0, 255, n).astype(np.uint8),
        }
    )
    _same(df, tmp_path)


def test_missing_strings_and_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvtext, "CHUNK", 7)
    df = pd.DataFrame(
        {"s": pd.array(["a", None, "b,c"] * 10, dtype="str"), "x": np.arange(30) / 7.0}
    )
    _same(df, tmp_path)


def test_other_frames_fall_back_to_pandas(tmp_path: Path) -> None:
    _same(pd.DataFrame({"only": ["", "a"]}), tmp_path)  # a lone empty cell is quoted
    _same(pd.DataFrame({"o": [1, "x", None], "f": [1.0, 2.0, 3.0]}, dtype=object), tmp_path)
    _same(pd.DataFrame({"f32": np.array([0.1, 2.5], dtype=np.float32), "i": [1, 2]}), tmp_path)
    _same(pd.DataFrame(columns=["a", "b"]), tmp_path)


def test_float_columns_sharing_values(tmp_path: Path) -> None:
    """Times recurring across columns go through float_reprs together, NaN and -0.0 too."""
    rng = np.random.default_rng(8)
    t = np.cumsum(rng.choice([1e-6, 2.5e-6, 3e-3], 500))
    df = pd.DataFrame({"ready_s": t, "start_s": np.roll(t, 1), "end_s": np.roll(t, -1)})
    _same(df, tmp_path)
    df.loc[3, "start_s"] = NAN
    df.loc[7, "end_s"] = -0.0
    _same(df, tmp_path)
