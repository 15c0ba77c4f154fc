"""Floats as text, the way ``repr`` writes each, for columns of many values.

Both the CSV tables and ``timeline.json`` write a float as its shortest round-trip text
(``float.__repr__``), which costs about half a microsecond a value. Columns of op durations,
sizes or waits hold few distinct values (the flagship's 124,204 durations: 84), so
:func:`float_reprs` formats each distinct value once when a column repeats itself.
"""

from __future__ import annotations

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
