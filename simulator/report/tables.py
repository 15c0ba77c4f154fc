"""Per-op, per-link, per-flow and per-rank tables as CSV (and Parquet when pyarrow is there)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.engine import StepResult
from simulator.report.csvtext import Column, write_columns_csv, write_csv

if TYPE_CHECKING:
    import pandas as pd


def parquet_available() -> bool:
    """True when pandas can write Parquet (pyarrow importable)."""
    return importlib.util.find_spec("pyarrow") is not None


def result_tables(result: StepResult, *, flows: bool = False) -> dict[str, pd.DataFrame]:
    """The tables of ``result`` by file stem: ``ops``, ``links``, ``ranks`` (+ ``flows``)."""
    tables = {"ops": result.ops, "links": result.links, "ranks": result.ranks}
    if flows:
        tables["flows"] = result.flows
    return tables


def result_columns(result: StepResult) -> dict[str, Mapping[str, Column]]:
    """The tables of ``result`` as columns (no pandas): ``ops``, ``links``, ``ranks``."""
    return {"ops": result.op_columns, "links": result.link_columns, "ranks": result.rank_columns}


def write_tables(
    result: StepResult, out_dir: str | Path, *, flows: bool = False, parquet: bool | None = None
) -> list[Path]:
    """Write ``STEM.csv`` (and ``STEM.parquet``) per table into ``out_dir``; return the paths.

    ``parquet=None`` writes Parquet when pyarrow is importable. Times are seconds, sizes bytes,
    bandwidths bytes/second (the column names carry the unit). The CSVs are written from the
    result's columns (:func:`simulator.report.csvtext.write_columns_csv`, the bytes pandas
    writes); pandas builds a table only for Parquet, the flows table or a column it must format.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    want_parquet = parquet_available() if parquet is None else parquet
    columns = result_columns(result)
    written: list[Path] = []
    for stem in ("ops", "links", "ranks", *(("flows",) if flows else ())):
        csv = out / f"{stem}.csv"
        if stem == "flows" or not write_columns_csv(columns[stem], csv):
            write_csv(getattr(result, stem), csv)  # the table: ops, links, ranks or flows
        written.append(csv)
        if want_parquet:
            pq = out / f"{stem}.parquet"
            getattr(result, stem).to_parquet(pq, index=False)
            written.append(pq)
    return written
