"""Kayenta's weighted-sum scorer: each group's share of passing metrics, weighted, 0..100."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from analysis.kayenta.model import Classification

NODATA_THRESHOLD = 50.0
_COUNTABLE = (Classification.PASS, Classification.HIGH, Classification.LOW, Classification.NODATA_FAIL)


@dataclass(frozen=True)
class ScoredMetric:
    """What the scorer needs of a metric's result."""

    name: str
    classification: Classification
    groups: tuple[str, ...] = ()
    critical: bool = False
    reason: str = ""


@dataclass(frozen=True)
class GroupScore:
    """A group's score: 100 * passing / countable metrics (0 when none is countable)."""

    name: str
    score: float
    no_data: bool
    counts: Mapping[Classification, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreResult:
    summary_score: float
    group_scores: tuple[GroupScore, ...]
    reason: str = ""


def round_half_up(value: float, places: int = 2) -> float:
    """Round to ``places`` decimals, halves away from zero, on the value as it prints."""
    if not math.isfinite(value):
        return value
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _groups_in_order(results: Sequence[ScoredMetric]) -> list[str]:
    seen: dict[str, None] = {}
    for result in results:
        for group in result.groups:
            seen.setdefault(group, None)
    return list(seen)


def group_score(name: str, members: Sequence[ScoredMetric]) -> GroupScore:
    """Score one group; Nodata and Error results are not counted."""
    counts = {label: sum(1 for m in members if m.classification is label) for label in Classification}
    countable = sum(counts[label] for label in _COUNTABLE)
    if countable == 0:
        return GroupScore(name, 0.0, True, counts)
    return GroupScore(name, 100.0 * counts[Classification.PASS] / countable, False, counts)


def _weights(groups: Sequence[str], configured: Mapping[str, float]) -> dict[str, float]:
    """Configured weights; groups without one share what is left of 100 equally."""
    unweighted = [g for g in groups if g not in configured]
    share = (100.0 - sum(configured.values())) / len(unweighted) if unweighted else 0.0
    return {g: configured.get(g, share) for g in groups}


@dataclass(frozen=True)
class WeightedSumScorer:
    """Scores metric results by group, weighting each group (percent)."""

    group_weights: Mapping[str, float] = field(default_factory=dict)

    def score(self, results: Sequence[ScoredMetric]) -> ScoreResult:
        groups = _groups_in_order(results)
        scores = tuple(group_score(g, [r for r in results if g in r.groups]) for g in groups)
        critical = next((r for r in results if r.critical and r.classification is not Classification.PASS), None)
        if critical is not None:
            reason = f"critical metric {critical.name} is {critical.classification}"
            return ScoreResult(0.0, scores, f"{reason}: {critical.reason}" if critical.reason else reason)
        nodata = sum(1 for r in results if r.classification is Classification.NODATA)
        if results and 100.0 * nodata / len(results) >= NODATA_THRESHOLD:
            return ScoreResult(0.0, scores, f"{nodata} of {len(results)} metrics have no data")
        weights = _weights(groups, self.group_weights)
        total = sum((100.0 if s.no_data else s.score) * weights[s.name] / 100.0 for s in scores)
        return ScoreResult(round_half_up(total, 2), scores)
