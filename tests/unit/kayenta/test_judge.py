"""The whole judge: Kayenta's integration scenarios replayed with seeded data, and scoring rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analysis.kayenta.config import CanaryConfig, MetricConfig, MetricValues, ScoreThresholds
from analysis.kayenta.javarandom import JavaRandom
from analysis.kayenta.judge import CanaryLabel, aggregated_judgement, judge
from analysis.kayenta.model import Classification, parse_direction
from analysis.kayenta.scorer import ScoredMetric, WeightedSumScorer, round_half_up
from tests.unit.kayenta.oracle_path import ORACLE_FILE

SCENARIO_THRESHOLDS = ScoreThresholds(pass_score=75.0, marginal=50.0)  # from the scenarios' prose


def _scenarios() -> list[dict[str, Any]]:
    if not ORACLE_FILE.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(ORACLE_FILE.read_text())["cases"]
    return [case for case in cases if case["kind"] == "scenario"]


def _uniform_ints(source: JavaRandom, bounds: list[int], count: int = 60) -> list[float]:
    """The scenarios' generator: integers uniform on [lower, upper), or lower when they are equal."""
    lower, upper = bounds
    return [float(lower if lower == upper else source.next_int(upper - lower) + lower) for _ in range(count)]


SCENARIOS = _scenarios()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("case", SCENARIOS, ids=[c["name"] for c in SCENARIOS])
def test_integration_scenarios_with_seeded_gauges(case: dict[str, Any], seed: int) -> None:
    params, expected = case["params"], case["expected"]
    source = JavaRandom(seed)
    metrics = [
        MetricConfig(
            m["name"],
            direction=parse_direction(m["direction"]),
            critical=m["critical"],
            muted=m.get("muted", False),
            groups=tuple(m["groups"]),
        )
        for m in params["metrics"]
    ]
    pairs = [
        MetricValues(
            m["name"],
            _uniform_ints(source, m["experiment_uniform_int"]),
            _uniform_ints(source, m["control_uniform_int"]),
        )
        for m in params["metrics"]
    ]
    result = judge(CanaryConfig(metrics, params["groupWeights"]), SCENARIO_THRESHOLDS, pairs, seed=seed)
    assert {r.name: str(r.classification) for r in result.results} == expected["metric_classification"]
    if "finalScore" in expected:
        assert result.score == expected["finalScore"]
    passed = aggregated_judgement(result.score, SCENARIO_THRESHOLDS.marginal, SCENARIO_THRESHOLDS.pass_score)
    assert passed == expected["didPassThresholds"]


def test_a_muted_metric_is_reported_but_not_scored() -> None:
    config = CanaryConfig([MetricConfig("bad", muted=True, groups=("g",)), MetricConfig("good", groups=("g",))])
    pairs = [MetricValues("bad", [10.0, 11.0, 12.0], [1.0, 2.0, 1.5]), MetricValues("good", [1.0], [1.0])]
    result = judge(config, ScoreThresholds(), pairs)
    assert [r.classification for r in result.results] == [Classification.HIGH, Classification.PASS]
    assert (result.score, result.label) == (100.0, CanaryLabel.PASS)


def test_labels_follow_the_thresholds() -> None:
    config = CanaryConfig([MetricConfig(n, groups=("g",)) for n in "abcd"])
    pairs = [MetricValues(n, [1.0], [1.0]) for n in "abc"] + [MetricValues("d", [10.0, 11.0, 12.0], [1.0, 2.0, 1.5])]
    assert judge(config, ScoreThresholds(95, 75), pairs).label is CanaryLabel.MARGINAL
    assert judge(config, ScoreThresholds(95, 80), pairs).label is CanaryLabel.FAIL
    assert judge(config, ScoreThresholds(75, 50), pairs).label is CanaryLabel.PASS


def test_a_failing_test_is_an_error_not_a_crash() -> None:
    """One value per arm: the interval's ends tie every observation, as in Kayenta."""
    result = judge(
        CanaryConfig([MetricConfig("m", groups=("g",))]), ScoreThresholds(), [MetricValues("m", [2.0], [1.0])]
    )
    assert result.results[0].classification in (Classification.ERROR, Classification.HIGH)


def test_a_configured_group_without_results_keeps_its_weight() -> None:
    scorer = WeightedSumScorer({"g1": 50.0, "g2": 50.0})
    assert scorer.score([ScoredMetric("m", Classification.PASS, ("g1",))]).summary_score == 50.0


def test_unweighted_groups_share_the_rest() -> None:
    scorer = WeightedSumScorer({"g1": 40.0})
    results = [
        ScoredMetric("a", Classification.PASS, ("g1",)),
        ScoredMetric("b", Classification.HIGH, ("g2",)),
        ScoredMetric("c", Classification.PASS, ("g3",)),
    ]
    assert scorer.score(results).summary_score == 70.0


@pytest.mark.parametrize(("value", "rounded"), [(33.333333, 33.33), (2.675, 2.68), (0.125, 0.13), (99.995, 100.0)])
def test_scores_round_half_up(value: float, rounded: float) -> None:
    assert round_half_up(value, 2) == rounded


@pytest.mark.parametrize(
    ("final", "marginal", "passing", "expected"),
    [(75.0, 75.0, 95.0, False), (80.0, None, None, True), (80.0, 75.0, None, True), (94.9, None, 95.0, False)],
)
def test_aggregated_judgement_uses_only_the_last_score(
    final: float, marginal: float | None, passing: float | None, expected: bool
) -> None:
    assert aggregated_judgement(final, marginal, passing) is expected
