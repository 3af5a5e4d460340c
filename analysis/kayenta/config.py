"""A canary configuration as the judge reads it (Kayenta's ``analysisConfigurations.canary``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from analysis.kayenta.model import EffectSizeMeasure, NanStrategy, OutlierStrategy
from analysis.observations import Direction

JUDGE_TOLERANCE = 0.25  # hard-coded by NetflixACAJudge
JUDGE_CONFIDENCE = 0.98  # hard-coded by NetflixACAJudge


@dataclass(frozen=True)
class MetricConfig:
    """One metric's judging settings, with Kayenta's defaults.

    Unset effect-size thresholds default to 1.0 (0.5 with the ``cles`` measure).
    """

    name: str
    direction: Direction = Direction.EITHER
    nan_strategy: NanStrategy = NanStrategy.REMOVE
    outlier_strategy: OutlierStrategy = OutlierStrategy.KEEP
    outlier_factor: float = 3.0
    critical: bool = False
    must_have_data: bool = False
    muted: bool = False
    effect_size_measure: EffectSizeMeasure = EffectSizeMeasure.MEAN_RATIO
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None
    groups: tuple[str, ...] = ()

    def _default_threshold(self) -> float:
        return 0.5 if self.effect_size_measure is EffectSizeMeasure.CLES else 1.0

    def effect_size_thresholds(self) -> tuple[float, float]:
        """``(allowed decrease, allowed increase)``."""
        default = self._default_threshold()
        return (
            default if self.allowed_decrease is None else self.allowed_decrease,
            default if self.allowed_increase is None else self.allowed_increase,
        )

    def critical_thresholds(self) -> tuple[float, float]:
        """``(critical decrease, critical increase)``."""
        default = self._default_threshold()
        return (
            default if self.critical_decrease is None else self.critical_decrease,
            default if self.critical_increase is None else self.critical_increase,
        )


@dataclass(frozen=True)
class CanaryConfig:
    """The metrics and the group weights (percent; groups without a weight share the rest)."""

    metrics: Sequence[MetricConfig]
    group_weights: Mapping[str, float] = field(default_factory=dict)

    def metric(self, name: str) -> MetricConfig:
        """The named metric's configuration (Kayenta's defaults when it is not configured)."""
        return next((m for m in self.metrics if m.name == name), MetricConfig(name))


@dataclass(frozen=True)
class ScoreThresholds:
    """A score at or above ``pass_score`` passes; at or above ``marginal`` is marginal."""

    pass_score: float = 95.0
    marginal: float = 75.0


@dataclass(frozen=True)
class MetricValues:
    """One metric's time series for each arm (Kayenta's metric set pair)."""

    name: str
    experiment: Sequence[float]
    control: Sequence[float]
