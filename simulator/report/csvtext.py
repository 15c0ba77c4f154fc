"""``DataFrame.to_csv(path, index=False)``, the same bytes, written with less work.

pandas turns every cell of a float column into a numpy string, then hands rows of strings to
the standard :mod:`csv` writer, which decides per cell whether to quote it. :func:`write_csv`
writes the ``repr`` of each float, which is the text numpy writes (shortest round-trip,
scientific below 1e-4 and from 1e16 on), ``str`` of each int or bool, and each string that
may need quoting once through the same :mod:`csv` writer, configured as pandas configures it
(``,``, ``"``, minimal quoting, ``\\n``); a missing value is the empty string, pandas'
``na_rep`` default. The rows are then plain ``,``-joined lines, :data:`CHUNK` rows at a time.
A frame with a dtype not handled here, duplicate columns or a single column falls back to
pandas. ``tests/test_csvtext.py`` compares the two.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.report.floattext import float_reprs

#: Rows formatted per chunk (bounds the strings alive at once).
CHUNK = 8192


#: Characters that may make the :mod:`csv` writer quote a cell (and control characters).
_MAYBE_QUOTED = re.compile(r'[,"\x00-\x1f\x7f]')


def _quoted(values: list[str]) -> list[str]:
    """Each string as the :mod:`csv` writer writes it in a row of several cells: unchanged
    when none holds a character of :data:`_MAYBE_QUOTED`, else each through the writer."""
    if _MAYBE_QUOTED.search("".join(values)) is None:
        return values
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    cache: dict[str, str] = {}
    out: list[str] = []
    for v in values:
        text = cache.get(v)
        if text is None:
            buf.seek(0)
            buf.truncate()
            writer.writerow([v, ""])
            text = cache[v] = buf.getvalue()[:-2]  # without the empty cell's "," and "\n"
        out.append(text)
    return out


def _handled(dtype: object) -> bool:
    return (
        dtype == np.float64
        or (isinstance(dtype, np.dtype) and dtype.kind in "iub")
        or isinstance(dtype, pd.StringDtype)
    )


def _float_texts(part: pd.DataFrame, names: list[str]) -> dict[str, list[str]]:
    """The cells of the float64 columns ``names`` of ``part``, formatted together: times
    recur across columns (an op's end is the next one's ready), so one pass over their
    distinct values (:func:`float_reprs`) formats fewer floats than one per column."""
    if not names:
        return {}
    values = np.concatenate([part[c].to_numpy() for c in names])
    text = float_reprs(values)
    missing = np.isnan(values)
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            text[i] = ""
    n = len(part)
    return {c: text[k * n : (k + 1) * n] for k, c in enumerate(names)}


def _column_text(series: pd.Series) -> list[str]:
    """The cells of one int, bool or string column as pandas writes them."""
    if isinstance(series.dtype, pd.StringDtype):
        cells = series.tolist()
        if series.hasnans:
            cells = ["" if pd.isna(c) else c for c in cells]
        return _quoted(cells)
    return list(map(str, series.tolist()))  # ints and bools: "3", "-1", "True"


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` to ``path`` exactly as ``df.to_csv(path, index=False)`` does."""
    if (
        len(df.columns) < 2
        or df.columns.has_duplicates
        or not all(_handled(df[c].dtype) for c in df.columns)
    ):
        df.to_csv(path, index=False)
        return
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(_quoted([str(c) for c in df.columns])) + "\n")
        for lo in range(0, len(df), CHUNK):
            part = df.iloc[lo : lo + CHUNK]
            floats = _float_texts(part, [c for c in part.columns if part[c].dtype == np.float64])
            cols = [floats[c] if c in floats else _column_text(part[c]) for c in part.columns]
            fh.write("\n".join(map(",".join, zip(*cols, strict=True))) + "\n")
