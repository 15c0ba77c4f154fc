"""``DataFrame.to_csv(path, index=False)``, the same bytes, written with less work.

pandas turns every cell of a float column into a numpy string, then hands rows of strings to
the standard :mod:`csv` writer, which decides per cell whether to quote it. :func:`write_csv`
writes the ``repr`` of each float, which is the text numpy writes (shortest round-trip,
scientific below 1e-4 and from 1e16 on), ``str`` of each int or bool, and each string that
may need quoting once through the same :mod:`csv` writer, configured as pandas configures it
(``,``, ``"``, minimal quoting, ``\\n``); a missing value is the empty string, pandas'
``na_rep`` default. The rows are then plain ``,``-joined lines, :data:`CHUNK` rows at a time.
A frame with a dtype not handled here, duplicate columns or a single column falls back to
pandas. :func:`write_columns_csv` writes the same bytes from plain columns (numpy arrays and
lists, as :class:`~simulator.engine.StepResult` keeps its tables), so ``run --out`` neither
imports pandas nor builds a table (issue 18). ``tests/test_csvtext.py`` compares them with
pandas.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.report.floattext import float_reprs, grouped_texts

if TYPE_CHECKING:
    import pandas as pd

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
    import pandas as pd

    return (
        dtype == np.float64
        or (isinstance(dtype, np.dtype) and dtype.kind in "iub")
        or isinstance(dtype, pd.StringDtype)
    )


def _float_texts(part: Mapping[str, Any], names: list[str], n: int) -> dict[str, list[str]]:
    """The cells of the float64 columns ``names`` of ``part`` (``n`` rows each), formatted
    together: times recur across columns (an op's end is the next one's ready), so one pass
    over their distinct values (:func:`float_reprs`) formats fewer floats than one per column."""
    if not names:
        return {}
    values = np.concatenate([np.asarray(part[c], dtype=np.float64) for c in names])
    text = float_reprs(values)
    missing = np.isnan(values)
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            text[i] = ""
    return {c: text[k * n : (k + 1) * n] for k, c in enumerate(names)}


def _column_text(series: pd.Series) -> list[str]:
    """The cells of one int, bool or string column as pandas writes them."""
    import pandas as pd

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
            names = [c for c in part.columns if part[c].dtype == np.float64]
            floats = _float_texts({c: part[c].to_numpy() for c in names}, names, len(part))
            cols = [floats[c] if c in floats else _column_text(part[c]) for c in part.columns]
            fh.write("\n".join(map(",".join, zip(*cols, strict=True))) + "\n")


#: A column :func:`write_columns_csv` takes: a numpy array or a list of values.
Column = np.ndarray | Sequence[Any]


def _kind(column: Column) -> tuple[str, Column] | None:
    """``("f", float64 array)``, ``("i", column)`` (ints or bools: written with ``str``),
    ``("s", list of str)`` (``None`` as missing), or None for anything else."""
    if isinstance(column, np.ndarray):
        if column.dtype == np.float64:
            return "f", column
        return ("i", column) if column.dtype.kind in "iub" else None
    kinds = set(map(type, column))
    if kinds <= {str, type(None)}:
        return "s", column
    if kinds <= {float}:
        return "f", np.asarray(column, dtype=np.float64)
    if kinds <= {int} or kinds <= {bool}:  # pandas keeps a column of ints as int64
        ints = np.asarray(column)
        return ("i", ints) if ints.dtype.kind in "iub" else None
    return None


def _cells(kind: str, part: Column) -> list[str]:
    """The cells of one int, bool or string column slice (``kind`` from :func:`_kind`)."""
    if kind == "i" and isinstance(part, np.ndarray):
        return grouped_texts([part], str)  # ranks, layers repeat: each text made once
    values = part.tolist() if isinstance(part, np.ndarray) else list(part)
    if kind == "s":
        if None in values:
            values = ["" if v is None else v for v in values]
        return _quoted(values)
    return list(map(str, values))


def write_columns_csv(columns: Mapping[str, Column], path: str | Path) -> bool:
    """Write the table ``columns`` (name -> equal-length column) to ``path`` with the bytes
    ``pd.DataFrame(columns).to_csv(path, index=False)`` writes, without pandas. Columns: numpy
    float64, int, uint or bool arrays, or lists of ``str`` (``None``: missing), of ``float``,
    of ``int`` or of ``bool``. Returns False, writing nothing, for anything else or for fewer
    than two columns (pandas quotes a lone empty cell): the caller then uses pandas."""
    kinds = {name: _kind(col) for name, col in columns.items()}
    if len(kinds) < 2 or any(k is None for k in kinds.values()):
        return False
    typed = {name: k for name, k in kinds.items() if k is not None}
    n = len(next(iter(typed.values()))[1])
    if any(len(col) != n for _, col in typed.values()):
        return False
    floats = [name for name, (kind, _) in typed.items() if kind == "f"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(_quoted([str(c) for c in typed])) + "\n")
        for lo in range(0, n, CHUNK):
            part = {name: col[lo : lo + CHUNK] for name, (_, col) in typed.items()}
            rows = min(CHUNK, n - lo)
            text = _float_texts(part, floats, rows)
            cols = [
                text[name] if kind == "f" else _cells(kind, part[name])
                for name, (kind, _) in typed.items()
            ]
            fh.write("\n".join(map(",".join, zip(*cols, strict=True))) + "\n")
    return True
