"""Per-op, per-link, per-flow and per-rank tables as CSV (and Parquet when pyarrow is there)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from simulator.engine import StepResult
from simulator.report.csvtext import write_csv


def parquet_available() -> bool:
    """True when pandas can write Parquet (pyarrow importable)."""
    return importlib.util.find_spec("pyarrow") is not None


def result_tables(result: StepResult, *, flows: bool = False) -> dict[str, pd.DataFrame]:
    """The tables of ``result`` by file stem: ``ops``, ``links``, ``ranks`` (+ ``flows``)."""
    tables = {"ops": result.ops, "links": result.links, "ranks": result.ranks}
    if flows:
        tables["flows"] = result.flows
    return tables


def write_tables(
    result: StepResult, out_dir: str | Path, *, flows: bool = False, parquet: bool | None = None
) -> list[Path]:
    """Write ``STEM.csv`` (and ``STEM.parquet``) per table into ``out_dir``; return the paths.

    ``parquet=None`` writes Parquet when pyarrow is importable. Times are seconds, sizes bytes,
    bandwidths bytes/second (the column names carry the unit).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    want_parquet = parquet_available() if parquet is None else parquet
    written: list[Path] = []
    for stem, df in result_tables(result, flows=flows).items():
        csv = out / f"{stem}.csv"
        write_csv(df, csv)
        written.append(csv)
        if want_parquet:
            pq = out / f"{stem}.parquet"
            df.to_parquet(pq, index=False)
            written.append(pq)
    return written
