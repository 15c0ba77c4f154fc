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
    """``[repr(v) for v in values]`` (``nan``, ``inf`` included)."""
    listed: list[float] = values.tolist()
    if len(listed) >= 64:
        distinct = np.unique(values)
        # a dict keyed by value would merge 0.0 with -0.0 and miss NaN: only plain values
        if (
            len(distinct) < REPEAT_SHARE * len(listed)
            and np.isfinite(distinct).all()
            and not (np.signbit(values) & (values == 0.0)).any()
        ):
            keys: list[float] = distinct.tolist()
            text = dict(zip(keys, map(float.__repr__, keys), strict=True))
            return list(map(text.__getitem__, listed))
    return list(map(float.__repr__, listed))
