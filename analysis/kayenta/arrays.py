"""The array type the port computes with."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def to_array(values: Iterable[float]) -> FloatArray:
    """A one-dimensional float64 copy of ``values``."""
    return np.array(list(values), dtype=np.float64)
