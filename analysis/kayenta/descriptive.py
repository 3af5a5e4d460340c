"""Summary statistics and the R-7 percentile, as Kayenta reports and uses them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.kayenta.arrays import FloatArray


@dataclass(frozen=True)
class SummaryStats:
    """Kayenta's per-arm metadata: all zeros for an empty arm; ``std`` is the sample (n-1) one."""

    min: float
    max: float
    mean: float
    std: float
    count: int


def mean(values: FloatArray) -> float:
    """The arithmetic mean (NaN for no values)."""
    if len(values) == 0:
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.mean(values))


def sample_variance(values: FloatArray) -> float:
    """The bias-corrected variance; 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    with np.errstate(all="ignore"):
        return float(np.var(values, ddof=1))


def summary_stats(values: FloatArray) -> SummaryStats:
    """min, max, mean, sample standard deviation and count."""
    if len(values) == 0:
        return SummaryStats(0.0, 0.0, 0.0, 0.0, 0)
    return SummaryStats(
        min=float(np.min(values)),
        max=float(np.max(values)),
        mean=mean(values),
        std=math.sqrt(sample_variance(values)),
        count=len(values),
    )


def percentile(values: FloatArray, p: float) -> float:
    """The ``p``-th percentile (0..100) by the R-7 estimator (commons-math R_7, numpy ``linear``).

    NaN for no values.
    """
    ordered = np.sort(values)
    count = len(ordered)
    if count == 0:
        return math.nan
    fraction = p / 100.0
    if fraction == 0.0:
        position = 0.0
    elif fraction == 1.0:
        position = float(count)
    else:
        position = 1.0 + (count - 1) * fraction
    if position < 1.0:
        return float(ordered[0])
    if position >= count:
        return float(ordered[-1])
    floor = math.floor(position)
    lower = float(ordered[floor - 1])
    upper = float(ordered[floor])
    return lower + (position - floor) * (upper - lower)
