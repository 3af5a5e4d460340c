"""Kayenta's vocabulary: classifications, per-metric strategies and the classifier's answer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analysis.observations import Direction


class Classification(StrEnum):
    """A metric's classification, spelled as Kayenta spells it."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL = "NodataFailMetric"
    ERROR = "Error"


class NanStrategy(StrEnum):
    REMOVE = "remove"
    REPLACE = "replace"


class OutlierStrategy(StrEnum):
    KEEP = "keep"
    REMOVE = "remove"


class EffectSizeMeasure(StrEnum):
    MEAN_RATIO = "meanRatio"
    CLES = "cles"


def parse_direction(text: str | None) -> Direction:
    """Kayenta reads an unknown or missing direction as ``either``."""
    try:
        return Direction((text or "").lower())
    except ValueError:
        return Direction.EITHER


def parse_nan_strategy(text: str | None) -> NanStrategy:
    """``replace`` replaces NaN with 0; anything else (the default ``none`` too) removes NaN."""
    return NanStrategy.REPLACE if (text or "").lower() == "replace" else NanStrategy.REMOVE


def parse_outlier_strategy(text: str | None) -> OutlierStrategy:
    """``remove`` drops outliers; anything else (the default ``none`` too) keeps them."""
    return OutlierStrategy.REMOVE if (text or "").lower() == "remove" else OutlierStrategy.KEEP


def parse_effect_size_measure(text: str | None) -> EffectSizeMeasure:
    """``cles`` selects the common-language effect size; anything else the mean ratio."""
    return EffectSizeMeasure.CLES if text == "cles" else EffectSizeMeasure.MEAN_RATIO


@dataclass(frozen=True)
class ClassifierResult:
    """A classifier's answer, with the numbers behind it.

    ``deviation`` is Kayenta's mean ratio (canary/baseline). ``interval`` and ``estimate`` are
    the Mann-Whitney confidence interval and Hodges-Lehmann-type estimate of the shift
    canary - baseline, when the test ran; ``band`` is the tolerance band ``tolerance * |estimate|``.
    """

    classification: Classification
    reason: str
    deviation: float
    critical: bool = False
    interval: tuple[float, float] | None = None
    estimate: float | None = None
    band: float | None = None
    effect_size: float | None = None
    jittered: bool = False
