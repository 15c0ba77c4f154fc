"""Typed numpy array aliases shared by the layers (per-link and per-flow arrays)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
"""A float64 array (bytes, seconds, rates per link or per flow)."""
IntArray = npt.NDArray[np.intp]
"""An index array (link ids, flow ids)."""
