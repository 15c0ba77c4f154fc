"""Floats as text, the way ``repr`` writes each, for columns of many values.

Both the CSV tables and ``timeline.json`` write a float as its shortest round-trip text
(``float.__repr__``), which costs about half a microsecond a value. Columns of op durations,
sizes or waits hold few distinct values (the flagship's 124,204 durations: 84), so
:func:`float_reprs` formats each distinct value once when a column repeats itself;
:func:`grouped_texts` does the same for any text made from a few int or float columns (ints
written by ``str``, ``"layer"``/``"microbatch"`` args).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from simulator.core.arrays import FloatArray

#: A column with fewer distinct values than this share of its length is formatted per value.
REPEAT_SHARE = 0.5


def float_reprs(values: FloatArray) -> list[str]:
    """``[repr(v) for v in values]`` (``nan``, ``inf`` included).

    Values are grouped by their 64-bit pattern (``-0.0`` and ``0.0``, or two NaNs, are never
    merged, so every value of a group has the same ``repr``): one stable sort of the bits, one
    ``repr`` per group, and the texts put back in place through object arrays, without a
    Python float or a dict look-up per value. A column with too few repeats
    (:data:`REPEAT_SHARE`) is formatted value by value."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    n = len(flat)
    if n >= 64:
        order = np.argsort(flat.view(np.int64), kind="stable")
        bits = flat.view(np.int64)[order]
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.not_equal(bits[1:], bits[:-1], out=first[1:])
        distinct = flat[order[first]]
        if len(distinct) < REPEAT_SHARE * n:
            text = np.array(list(map(float.__repr__, distinct.tolist())), dtype=object)
            out = np.empty(n, dtype=object)
            out[order] = text[np.cumsum(first) - 1]
            texts: list[str] = out.tolist()
            return texts
    return list(map(float.__repr__, flat.tolist()))


def _bits(column: np.ndarray) -> np.ndarray | None:
    """int64 keys equal exactly where ``column``'s values are the same value: the bits of a
    float64, an int or bool widened to int64; None for other dtypes."""
    if column.dtype == np.float64:
        return column.view(np.int64)
    if column.dtype.kind in "iub":
        return column.astype(np.int64)
    return None


def grouped_texts(columns: Sequence[np.ndarray], fmt: Callable[..., str]) -> list[str]:
    """``[fmt(*row) for row in zip(*(c.tolist() for c in columns))]``, with ``fmt`` called
    once per distinct row where rows repeat (fewer than :data:`REPEAT_SHARE` of them
    distinct): rows are grouped by the bits of their values (:func:`float_reprs`' way; an
    int, bool or float64 column), and the texts put back in place through object arrays."""
    cols = [np.ascontiguousarray(c).reshape(-1) for c in columns]
    n = len(cols[0]) if cols else 0
    keys = [_bits(c) for c in cols]
    if n >= 64 and all(k is not None for k in keys):
        bits = [k for k in keys if k is not None]
        order = np.lexsort(bits[::-1])
        first = np.zeros(n, dtype=bool)
        first[0] = True
        for b in bits:
            sb = b[order]
            first[1:] |= sb[1:] != sb[:-1]
        heads = order[first]
        if len(heads) < REPEAT_SHARE * n:
            rows = zip(*(c[heads].tolist() for c in cols), strict=True)
            text = np.array([fmt(*row) for row in rows], dtype=object)
            out = np.empty(n, dtype=object)
            out[order] = text[np.cumsum(first) - 1]
            texts: list[str] = out.tolist()
            return texts
    return [fmt(*row) for row in zip(*(c.tolist() for c in cols), strict=True)]
