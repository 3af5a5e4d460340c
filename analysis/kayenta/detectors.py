"""Outlier detectors: the IQR fences (with Kayenta's reduced sensitivity) and k-sigma."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from analysis.kayenta.arrays import FloatArray
from analysis.kayenta.descriptive import percentile


class OutlierDetector(Protocol):
    def detect(self, values: FloatArray) -> list[bool]:
        """One flag per value: True where the value is an outlier."""
        ...


@dataclass(frozen=True)
class IQRDetector:
    """Outliers lie strictly outside ``[Q1 - factor*IQR, Q3 + factor*IQR]`` (R-7 quartiles).

    With ``reduce_sensitivity`` the fences widen to at least the 1st and 99th percentiles.
    """

    factor: float = 1.5
    reduce_sensitivity: bool = False

    def fences(self, values: FloatArray) -> tuple[float, float]:
        q1 = percentile(values, 25)
        q3 = percentile(values, 75)
        spread = q3 - q1
        lower = q1 - self.factor * spread
        upper = q3 + self.factor * spread
        if self.reduce_sensitivity:
            lower = min(percentile(values, 1), lower)
            upper = max(percentile(values, 99), upper)
        return lower, upper

    def detect(self, values: FloatArray) -> list[bool]:
        if len(values) == 0:
            return []
        lower, upper = self.fences(values)
        return [bool(v < lower or v > upper) for v in values]


@dataclass(frozen=True)
class KSigmaDetector:
    """Outliers lie more than ``k`` population standard deviations from the mean."""

    k: float = 3.0

    def detect(self, values: FloatArray) -> list[bool]:
        if len(values) == 0:
            return []
        with np.errstate(all="ignore"):
            centre = float(np.mean(values))
            spread = float(np.std(values))
        return [bool(abs(v - centre) > self.k * spread) for v in values]
