"""Oracle checks for the judge: classifiers, the scorer, the aggregated judgement, seeded noise."""

from __future__ import annotations

import math

from analysis.kayenta.arrays import FloatArray, to_array
from analysis.kayenta.classifier import MannWhitneyClassifier, MeanInequalityClassifier
from analysis.kayenta.descriptive import mean, sample_variance
from analysis.kayenta.javarandom import JavaRandom, normal_samples
from analysis.kayenta.judge import aggregated_judgement
from analysis.kayenta.model import (
    Classification,
    ClassifierResult,
    parse_direction,
    parse_effect_size_measure,
    parse_nan_strategy,
)
from analysis.kayenta.oracle_checks import KindCheck, Mismatches, tolerance
from analysis.kayenta.oracle_fields import Fields
from analysis.kayenta.scorer import ScoredMetric, WeightedSumScorer
from analysis.kayenta.transforms import add_gaussian_noise

_DEFAULT_SEED = 0


def _pair(fields: Fields, key: str) -> tuple[float, float]:
    values = fields.numbers(key)
    if len(values) != 2:
        fields.fail(key, f"must hold two numbers, got {len(values)}")
    return values[0], values[1]


def _mann_whitney(params: Fields) -> MannWhitneyClassifier:
    return MannWhitneyClassifier(
        tolerance=params.number("tolerance"),
        confidence=params.number("confLevel"),
        effect_size_thresholds=_pair(params, "effectSizeThresholds"),
        critical_thresholds=_pair(params, "criticalThresholds"),
        effect_size_measure=parse_effect_size_measure(params.string("effectSizeMeasure")),
    )


def _classify(case: Fields) -> ClassifierResult:
    params = case.child("params")
    control, experiment = to_array(case.numbers("control")), to_array(case.numbers("experiment"))
    direction = parse_direction(params.string("direction"))
    nan_strategy = parse_nan_strategy(params.string("nanStrategy"))
    critical, required = params.boolean("isCriticalMetric"), params.boolean("isDataRequired")
    name = params.string("classifier")
    if name == "MeanInequalityClassifier":
        return MeanInequalityClassifier().classify(control, experiment, direction, nan_strategy, critical, required)
    if name != "MannWhitneyClassifier":
        params.fail("classifier", f"{name!r} is not MannWhitneyClassifier or MeanInequalityClassifier")
    return _mann_whitney(params).classify(control, experiment, direction, nan_strategy, critical, required)


def check_classifier(case: Fields) -> Mismatches:
    expected, found = case.child("expected"), Mismatches()
    result = _classify(case)
    if expected.has("classification"):
        found.equal("classification", expected.string("classification"), str(result.classification))
    if expected.has("critical"):
        found.equal("critical", expected.boolean("critical"), result.critical)
    if expected.has("deviation"):
        found.near("deviation", expected.number("deviation"), result.deviation)
    if expected.has("reason_non_empty"):
        found.equal("reason is non-empty", expected.boolean("reason_non_empty"), bool(result.reason))
    return found


def _scored(fields: Fields) -> ScoredMetric:
    label = fields.string("classification")
    if label not in {c.value for c in Classification}:
        fields.fail("classification", f"{label!r} is not a Kayenta classification")
    return ScoredMetric(
        fields.string("name"), Classification(label), tuple(fields.strings("groups")), fields.boolean("critical")
    )


def check_scorer(case: Fields) -> Mismatches:
    params, expected, found = case.child("params"), case.child("expected"), Mismatches()
    results = [_scored(r) for r in params.children("metricResults")]
    scores = WeightedSumScorer(params.number_map("groupWeights")).score(results)
    found.near("summaryScore", expected.number("summaryScore"), scores.summary_score)
    if expected.has("numGroups"):
        found.equal("number of groups", expected.integer("numGroups"), len(scores.group_scores))
    if expected.has("groupScores"):
        got = {g.name: g.score for g in scores.group_scores}
        for name, value in expected.number_map("groupScores").items():
            found.near(f"group {name} score", value, got.get(name, math.nan))
    return found


def check_aggregated_judgement(case: Fields) -> Mismatches:
    params, found = case.child("params"), Mismatches()
    passed = aggregated_judgement(
        params.number("finalCanaryScore"),
        params.optional_number("marginalThreshold"),
        params.optional_number("passThreshold"),
    )
    found.equal("didPassThresholds", case.child("expected").boolean("didPassThresholds"), passed)
    return found


def _seed(params: Fields) -> int:
    return params.integer("seed") if params.has("seed") else _DEFAULT_SEED


def _random_sample(case: Fields) -> FloatArray:
    params = case.child("params")
    source = JavaRandom(_seed(params))
    if params.has("transform"):
        if params.string("transform") != "addGaussianNoise":
            params.fail("transform", "must be addGaussianNoise for a random case")
        values = to_array(case.numbers("experiment"))
        return add_gaussian_noise(values, params.number("mean"), params.number("stdev"), source)
    if params.string("fn") != "normal":
        params.fail("fn", "must be normal for a random case")
    count = params.integer("numSamples")
    return to_array(normal_samples(source, params.number("mean"), params.number("stdev"), count))


def check_random(case: Fields) -> Mismatches:
    """The tolerance assertions on a sample drawn with a seeded ``java.util.Random``."""
    expected, found = case.child("expected"), Mismatches()
    sample = _random_sample(case)
    variance = sample_variance(sample)
    for key, got in (("mean", mean(sample)), ("variance", variance), ("stdev", math.sqrt(variance))):
        if expected.has(key):
            found.near(key, expected.number(key), got, tolerance(expected, f"{key}_abs_tol"))
    if expected.has("length"):
        found.equal("length", expected.integer("length"), len(sample))
    if expected.has("values"):
        found.all_near("values", expected.numbers("values"), [float(v) for v in sample])
    return found


JUDGE_CHECKS: dict[str, KindCheck] = {
    "classifier": KindCheck(check_classifier, ("classification", "critical", "deviation", "reason_non_empty")),
    "scorer": KindCheck(check_scorer, ("summaryScore", "numGroups", "groupScores")),
    "aggregated_judgement": KindCheck(check_aggregated_judgement, ("didPassThresholds",)),
    "random": KindCheck(
        check_random,
        ("mean", "variance", "stdev", "length", "values"),
        ("mean_abs_tol", "variance_abs_tol", "stdev_abs_tol"),
    ),
}
