"""NetflixACAJudge: classify every metric, score the groups, label the canary.

Also the standalone (multi-interval) canary's aggregated judgement of the last score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from analysis.kayenta.config import CanaryConfig, MetricValues, ScoreThresholds
from analysis.kayenta.metric import MetricResult, classify_metric
from analysis.kayenta.scorer import GroupScore, ScoredMetric, WeightedSumScorer


class CanaryLabel(StrEnum):
    PASS = "Pass"
    MARGINAL = "Marginal"
    FAIL = "Fail"


@dataclass(frozen=True)
class JudgeResult:
    """The score (0..100), its label, the scorer's reason, each group's score and each metric's
    result (muted metrics included, though they do not count)."""

    score: float
    label: CanaryLabel
    reason: str
    group_scores: tuple[GroupScore, ...]
    results: tuple[MetricResult, ...]


def label_for(score: float, thresholds: ScoreThresholds) -> CanaryLabel:
    if score >= thresholds.pass_score:
        return CanaryLabel.PASS
    if score >= thresholds.marginal:
        return CanaryLabel.MARGINAL
    return CanaryLabel.FAIL


def _scored(result: MetricResult) -> ScoredMetric:
    return ScoredMetric(result.name, result.classification, result.groups, result.critical, result.reason)


def judge(
    config: CanaryConfig, thresholds: ScoreThresholds, pairs: Sequence[MetricValues], seed: int = 0
) -> JudgeResult:
    """Judge the canary on each metric's values. ``seed`` seeds the jitter of constant arms."""
    results = tuple(classify_metric(config.metric(pair.name), pair, seed=seed) for pair in pairs)
    counted = [_scored(r) for r in results if not r.muted]
    scores = WeightedSumScorer(config.group_weights).score(counted)
    label = label_for(scores.summary_score, thresholds)
    return JudgeResult(scores.summary_score, label, scores.reason, scores.group_scores, results)


def aggregated_judgement(final_score: float, marginal_threshold: float | None, pass_threshold: float | None) -> bool:
    """Did a multi-interval canary pass? Only the last score counts; a score equal to the marginal
    threshold fails here (though the judge labels it Marginal)."""
    if marginal_threshold is None and pass_threshold is None:
        return True
    if marginal_threshold is not None and final_score <= marginal_threshold:
        return False
    if pass_threshold is None:
        return True
    return final_score >= pass_threshold
