"""Kayenta's metric classifiers: Mann-Whitney (the judge's) and mean inequality (benchmarks)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.kayenta.arrays import FloatArray
from analysis.kayenta.descriptive import mean
from analysis.kayenta.effect import cles, mean_ratio
from analysis.kayenta.javarandom import GaussianSource, JavaRandom, normal_samples
from analysis.kayenta.mannwhitney import MannWhitneyResult, mann_whitney_ci
from analysis.kayenta.model import Classification, ClassifierResult, EffectSizeMeasure, NanStrategy
from analysis.observations import Direction

JITTER_SEED = 0
JITTER_SCALE = 1e-5
_UPWARD = (Direction.INCREASE, Direction.EITHER)
_DOWNWARD = (Direction.DECREASE, Direction.EITHER)


def classify_missing(
    control: FloatArray,
    experiment: FloatArray,
    nan_strategy: NanStrategy,
    is_critical: bool,
    is_data_required: bool,
    nodata_deviation: float = 1.0,
) -> ClassifierResult | None:
    """The answer when an arm has no values (None when both have some)."""
    if len(control) and len(experiment):
        return None
    missing = (
        "canary and baseline"
        if not len(control) and not len(experiment)
        else ("canary" if not len(experiment) else "baseline")
    )
    if nan_strategy is NanStrategy.REPLACE:
        return ClassifierResult(Classification.PASS, f"no data for the {missing}; missing data is allowed", 1.0)
    if is_data_required and not is_critical:
        reason = f"no data for the {missing}, and the metric must have data"
        return ClassifierResult(Classification.NODATA_FAIL, reason, nodata_deviation)
    return ClassifierResult(Classification.NODATA, f"no data for the {missing}", nodata_deviation, is_critical)


def _distinct(values: FloatArray) -> int:
    return len(np.unique(values))


def _jitter(values: FloatArray, source: GaussianSource) -> FloatArray:
    """Each value plus Normal(0, values[0] * 1e-5) noise (none when values[0] is 0)."""
    noise = normal_samples(source, 0.0, float(values[0]) * JITTER_SCALE, len(values))
    return values + np.array(noise, dtype=np.float64)


@dataclass(frozen=True)
class MannWhitneyClassifier:
    """High or Low when the Mann-Whitney interval clears ``tolerance * |estimate|`` and the effect
    size passes its gate; critical when it also passes the critical gate.

    Thresholds are ``(decrease, increase)`` pairs, as Kayenta orders them.
    """

    tolerance: float = 0.25
    confidence: float = 0.95
    effect_size_thresholds: tuple[float, float] = (1.0, 1.0)
    critical_thresholds: tuple[float, float] = (1.0, 1.0)
    effect_size_measure: EffectSizeMeasure = EffectSizeMeasure.MEAN_RATIO

    def classify(
        self,
        control: FloatArray,
        experiment: FloatArray,
        direction: Direction = Direction.EITHER,
        nan_strategy: NanStrategy = NanStrategy.REMOVE,
        is_critical: bool = False,
        is_data_required: bool = False,
        noise: GaussianSource | None = None,
    ) -> ClassifierResult:
        """Classify the canary (``experiment``) against the baseline (``control``).

        ``noise`` jitters arms that are each constant; a fixed-seed source when None.
        Raises TiedObservationsError when the interval cannot be computed.
        """
        missing = classify_missing(control, experiment, nan_strategy, is_critical, is_data_required)
        if missing is not None:
            return missing
        if np.array_equal(np.sort(experiment), np.sort(control)):
            return ClassifierResult(Classification.PASS, "canary and baseline values are identical", 1.0)
        if _distinct(np.concatenate([experiment, control])) == 1:
            return ClassifierResult(Classification.PASS, "every value is the same", 1.0)
        return self._compare(control, experiment, direction, is_critical, noise)

    def _compare(
        self,
        control: FloatArray,
        experiment: FloatArray,
        direction: Direction,
        is_critical: bool,
        noise: GaussianSource | None,
    ) -> ClassifierResult:
        x, y = experiment, control
        jittered = _distinct(x) == 1 and _distinct(y) == 1
        if jittered:
            source = noise if noise is not None else JavaRandom(JITTER_SEED)
            x, y = _jitter(x, source), _jitter(y, source)
        test = mann_whitney_ci(x, y, self.confidence)
        deviation = mean_ratio(y, x)
        effect = cles(y, x) if self.effect_size_measure is EffectSizeMeasure.CLES else deviation
        label = self._label(test, effect, direction)
        critical = is_critical and self._is_critical_effect(label, effect)
        band = self.tolerance * abs(test.estimate)
        return ClassifierResult(
            classification=label,
            reason=_compare_reason(label, test, band, self.confidence),
            deviation=deviation,
            critical=critical,
            interval=(test.lower, test.upper),
            estimate=test.estimate,
            band=band,
            effect_size=effect,
            jittered=jittered,
        )

    def _label(self, test: MannWhitneyResult, effect: float, direction: Direction) -> Classification:
        band = self.tolerance * abs(test.estimate)
        allowed_decrease, allowed_increase = self.effect_size_thresholds
        gate_open = math.isnan(effect)
        if direction in _UPWARD and test.lower > band and (gate_open or effect >= allowed_increase):
            return Classification.HIGH
        if direction in _DOWNWARD and test.upper < -band and (gate_open or effect <= allowed_decrease):
            return Classification.LOW
        return Classification.PASS

    def _is_critical_effect(self, label: Classification, effect: float) -> bool:
        critical_decrease, critical_increase = self.critical_thresholds
        if label is Classification.HIGH:
            return math.isnan(effect) or effect >= critical_increase
        if label is Classification.LOW:
            return math.isnan(effect) or effect <= critical_decrease
        return False


def _compare_reason(label: Classification, test: MannWhitneyResult, band: float, confidence: float) -> str:
    interval = f"Mann-Whitney {confidence:.0%} interval [{test.lower:.6g}, {test.upper:.6g}]"
    if label is Classification.HIGH:
        return f"{interval} lies above the tolerance band +{band:.6g}"
    if label is Classification.LOW:
        return f"{interval} lies below the tolerance band -{band:.6g}"
    return f"{interval} does not clear the tolerance band ±{band:.6g} (or the effect size gate)"


@dataclass(frozen=True)
class MeanInequalityClassifier:
    """High or Low whenever the canary's mean differs from the baseline's (Kayenta benchmarks it)."""

    def classify(
        self,
        control: FloatArray,
        experiment: FloatArray,
        direction: Direction = Direction.EITHER,
        nan_strategy: NanStrategy = NanStrategy.REMOVE,
        is_critical: bool = False,
        is_data_required: bool = False,
    ) -> ClassifierResult:
        missing = classify_missing(
            control, experiment, nan_strategy, is_critical, is_data_required, nodata_deviation=0.0
        )
        if missing is not None:
            return missing
        control_mean, experiment_mean = mean(control), mean(experiment)
        ratio = mean_ratio(control, experiment)
        if direction in _UPWARD and experiment_mean > control_mean:
            return ClassifierResult(Classification.HIGH, "the canary's mean is higher", ratio, is_critical)
        if direction in _DOWNWARD and experiment_mean < control_mean:
            return ClassifierResult(Classification.LOW, "the canary's mean is lower", ratio, is_critical)
        return ClassifierResult(Classification.PASS, "the means do not differ", ratio, is_critical)
