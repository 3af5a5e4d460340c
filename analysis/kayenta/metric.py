"""Kayenta's ``classifyMetric``: preprocess each arm, classify, keep the metadata."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.kayenta.arrays import FloatArray, to_array
from analysis.kayenta.classifier import MannWhitneyClassifier
from analysis.kayenta.config import JUDGE_CONFIDENCE, JUDGE_TOLERANCE, MetricConfig, MetricValues
from analysis.kayenta.descriptive import SummaryStats, summary_stats
from analysis.kayenta.detectors import IQRDetector
from analysis.kayenta.errors import KayentaError
from analysis.kayenta.javarandom import JavaRandom
from analysis.kayenta.model import Classification, ClassifierResult, NanStrategy, OutlierStrategy
from analysis.kayenta.transforms import remove_nan, remove_outliers, replace_nan


@dataclass(frozen=True)
class MetricResult:
    """A metric's classification with the arms' summary statistics (after preprocessing)."""

    name: str
    classification: Classification
    reason: str
    deviation: float
    critical: bool
    muted: bool
    groups: tuple[str, ...]
    experiment: SummaryStats
    control: SummaryStats
    detail: ClassifierResult


def preprocess(values: FloatArray, config: MetricConfig) -> FloatArray:
    """Remove (or zero) NaN, then drop outliers when the configuration asks for it."""
    cleaned = remove_nan(values) if config.nan_strategy is NanStrategy.REMOVE else replace_nan(values)
    if config.outlier_strategy is OutlierStrategy.REMOVE:
        cleaned = remove_outliers(cleaned, IQRDetector(config.outlier_factor, reduce_sensitivity=True))
    return cleaned


def judge_classifier(config: MetricConfig) -> MannWhitneyClassifier:
    """The classifier NetflixACAJudge builds for a metric."""
    return MannWhitneyClassifier(
        tolerance=JUDGE_TOLERANCE,
        confidence=JUDGE_CONFIDENCE,
        effect_size_thresholds=config.effect_size_thresholds(),
        critical_thresholds=config.critical_thresholds(),
        effect_size_measure=config.effect_size_measure,
    )


def _classify(
    classifier: MannWhitneyClassifier, control: FloatArray, experiment: FloatArray, config: MetricConfig, seed: int
) -> ClassifierResult:
    try:
        return classifier.classify(
            control,
            experiment,
            config.direction,
            config.nan_strategy,
            config.critical,
            config.must_have_data,
            JavaRandom(seed),
        )
    except (KayentaError, ArithmeticError, ValueError) as exc:
        return ClassifierResult(Classification.ERROR, f"metric classification failed: {exc}", 1.0)


def classify_metric(
    config: MetricConfig,
    values: MetricValues,
    classifier: MannWhitneyClassifier | None = None,
    seed: int = 0,
) -> MetricResult:
    """Classify one metric; a failure of the test becomes an ``Error`` classification."""
    experiment = preprocess(to_array(values.experiment), config)
    control = preprocess(to_array(values.control), config)
    detail = _classify(classifier or judge_classifier(config), control, experiment, config, seed)
    return MetricResult(
        name=values.name,
        classification=detail.classification,
        reason=detail.reason,
        deviation=detail.deviation,
        critical=detail.critical,
        muted=config.muted,
        groups=config.groups,
        experiment=summary_stats(experiment),
        control=summary_stats(control),
        detail=detail,
    )
