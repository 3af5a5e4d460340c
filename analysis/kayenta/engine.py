"""The kayenta engine: meshroll's Judge protocol over the NetflixACAJudge port.

Each step is one point per metric and arm; the whole growing window is judged at every step with
the judge's fixed settings (tolerance 0.25, confidence 0.98, mean-ratio gates of 1.0). A score at
or below the marginal threshold rolls back (Kayenta's monitor fails early); a passing score
advances once every metric has ``min_points`` points per arm and the canary served
``min_requests`` requests over the steps (``Decision.canary_requests``; a verdict's ``canary_n`` is
its points); anything else holds. A score below pass holds as evidence against the canary
(``Decision.adverse``: the run keeps its weights, as Argo pauses on an inconclusive run). A low score
without a High or Low metric (Kayenta scores a critical metric without data 0) holds: no data is not a
failure.

``interval_points`` spaces the judgements as Kayenta's standalone analysis does with
``canaryAnalysisIntervalMins``: with 1-minute steps and ``interval_points=5``, the growing window is
judged every 5 minutes (and at the deadline); the looks in between hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from analysis.kayenta.config import CanaryConfig, MetricConfig, MetricValues, ScoreThresholds
from analysis.kayenta.explain import metric_reason, number
from analysis.kayenta.judge import JudgeResult, judge
from analysis.kayenta.metric import MetricResult
from analysis.kayenta.model import Classification
from analysis.kayenta.points import MetricSeries, metric_series
from analysis.observations import EngineConfig, MetricSpec, StepWindow
from analysis.verdicts import Decision, MetricVerdict, Outcome

_FAILING = (Classification.HIGH, Classification.LOW, Classification.NODATA_FAIL)
_MAX_PROBLEMS_SHOWN = 3


def _group_weights(specs: Sequence[MetricSpec]) -> dict[str, float]:
    """Each metric is its own group, weighted by its share of the metrics' weights (percent)."""
    weights = [spec.weight for spec in specs]
    total = sum(weights)
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not (math.isfinite(total) and total > 0):
        return {}  # unusable weights: every metric counts the same
    return {spec.name: 100.0 * spec.weight / total for spec in specs}


def canary_config(specs: Sequence[MetricSpec]) -> CanaryConfig:
    """Kayenta's configuration for meshroll's metrics."""
    metrics = [MetricConfig(s.name, direction=s.direction, critical=s.critical, groups=(s.name,)) for s in specs]
    return CanaryConfig(metrics, _group_weights(specs))


class KayentaJudge:
    """Judges like Kayenta's NetflixACAJudge run by its standalone canary analysis."""

    name = "kayenta"

    def __init__(
        self,
        pass_threshold: float = 95.0,
        marginal_threshold: float = 75.0,
        min_points: int = 3,
        rollback_min_points: int = 1,
        seed: int = 0,
        interval_points: int = 1,
    ) -> None:
        """``rollback_min_points`` (1, as Kayenta) is the points per arm a rollback needs;
        ``seed`` seeds the jitter Kayenta adds to arms that are each constant; ``interval_points``
        is the number of steps between judgements (1: judge every step)."""
        if not marginal_threshold <= pass_threshold:
            raise ValueError(f"marginal threshold {marginal_threshold} is above pass {pass_threshold}")
        if min_points < 1 or rollback_min_points < 1 or interval_points < 1:
            raise ValueError("min_points, rollback_min_points and interval_points must be at least 1")
        self.thresholds = ScoreThresholds(pass_threshold, marginal_threshold)
        self.min_points = min_points
        self.rollback_min_points = rollback_min_points
        self.seed = seed
        self.interval_points = interval_points

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        waiting = len(steps) % self.interval_points
        if waiting and not final:
            due = len(steps) + self.interval_points - waiting
            return self._decision(
                Outcome.HOLD, f"next Kayenta judgement after step {due} (one every {self.interval_points})"
            )
        try:
            with np.errstate(all="ignore"):
                decision = self._judge(steps, config)
        except Exception as exc:  # the protocol forbids raising; say what broke instead
            decision = self._decision(Outcome.HOLD, f"internal error in the kayenta engine: {exc!r}", blocked=True)
        if final and decision.outcome is Outcome.HOLD:
            return replace(
                decision, outcome=Outcome.INCONCLUSIVE, reason=f"deadline reached: {decision.reason}", blocked=False
            )
        return decision

    def _decision(
        self,
        outcome: Outcome,
        reason: str,
        metrics: Sequence[MetricVerdict] = (),
        *,
        blocked: bool = False,
        adverse: bool = False,
    ) -> Decision:
        return Decision(outcome, reason, self.name, tuple(metrics), blocked=blocked, adverse=adverse)

    def _judge(self, steps: Sequence[StepWindow], config: EngineConfig) -> Decision:
        if not config.metrics:
            return self._decision(Outcome.HOLD, "no metrics are configured", blocked=True)
        if not steps:
            return self._decision(Outcome.HOLD, "no steps observed yet", blocked=True)
        series = {spec.name: metric_series(spec, steps) for spec in config.metrics}
        clean = [spec for spec in config.metrics if not series[spec.name].problems]
        result = self._run_judge(clean, series)
        verdicts = self._verdicts(config.metrics, series, result)
        problems = [p for spec in config.metrics for p in series[spec.name].problems]
        # minRequests counts requests over every step, not the points (one a step) the judge compares
        requests = max(s.canary_requests for s in series.values())
        if problems:
            decision = self._decision(Outcome.HOLD, _bad_data_reason(problems), verdicts, blocked=True)
        else:
            decision = self._decide(result, verdicts, requests, config.min_requests)
        return replace(decision, canary_requests=requests)

    def _run_judge(self, specs: Sequence[MetricSpec], series: Mapping[str, MetricSeries]) -> JudgeResult:
        pairs = [MetricValues(s.name, series[s.name].canary, series[s.name].stable) for s in specs]
        return judge(canary_config(specs), self.thresholds, pairs, seed=self.seed)

    def _verdicts(
        self, specs: Sequence[MetricSpec], series: Mapping[str, MetricSeries], result: JudgeResult
    ) -> list[MetricVerdict]:
        by_name = {r.name: r for r in result.results}
        verdicts = []
        for spec in specs:
            problems = series[spec.name].problems
            if problems:
                verdicts.append(_bad_data_verdict(spec, series[spec.name]))
            else:
                verdicts.append(self._metric_verdict(spec, by_name[spec.name]))
        return verdicts

    def _metric_verdict(self, spec: MetricSpec, result: MetricResult) -> MetricVerdict:
        detail = result.detail
        return MetricVerdict(
            metric=spec.name,
            outcome=self._metric_outcome(result),
            reason=metric_reason(result, spec),
            estimate=detail.estimate,
            interval=detail.interval,
            threshold=detail.band,
            stable_n=float(result.control.count),
            canary_n=float(result.experiment.count),
            stable_value=result.control.mean if result.control.count else None,
            canary_value=result.experiment.mean if result.experiment.count else None,
            critical=spec.critical,
        )

    def _metric_outcome(self, result: MetricResult) -> Outcome:
        points = _points(result)
        if result.classification in _FAILING and points >= self.rollback_min_points:
            return Outcome.ROLLBACK
        if result.classification is Classification.PASS and points >= self.min_points:
            return Outcome.ADVANCE
        return Outcome.HOLD

    def _decide(
        self, result: JudgeResult, verdicts: list[MetricVerdict], requests: float, min_requests: int
    ) -> Decision:
        score = f"Kayenta score {number(result.score)}"
        failing = [r for r in result.results if r.classification in _FAILING and not r.muted]
        if result.score <= self.thresholds.marginal:
            if not failing:
                why = f" ({result.reason})" if result.reason else ""
                reason = f"{score} is at or below the marginal threshold, but no metric is High or Low{why}"
                return self._decision(Outcome.HOLD, reason, verdicts)
            most = max(_points(r) for r in failing)
            if most < self.rollback_min_points:
                reason = f"{score} fails, but on only {most} points per arm ({self.rollback_min_points} needed)"
                return self._decision(Outcome.HOLD, reason, verdicts, adverse=True)
            names = ", ".join(f"{r.name} {r.classification}" for r in failing)
            reason = f"{score} is at or below the marginal threshold {number(self.thresholds.marginal)}: {names}"
            return self._decision(Outcome.ROLLBACK, reason, verdicts)
        points = min(_points(r) for r in result.results)
        if result.score < self.thresholds.pass_score:
            reason = f"{score} is marginal (pass at {number(self.thresholds.pass_score)}); waiting for more data"
            return self._decision(Outcome.HOLD, reason, verdicts, adverse=True)
        if points < self.min_points:
            reason = f"{score} passes, but a metric has only {points} points per arm ({self.min_points} needed)"
            return self._decision(Outcome.HOLD, reason, verdicts)
        if not requests >= min_requests:
            reason = f"{score} passes, but the canary served {requests:.0f} requests ({min_requests} needed)"
            return self._decision(Outcome.HOLD, reason, verdicts)
        reason = f"{score} passes with at least {points} points per arm and {requests:.0f} canary requests"
        return self._decision(Outcome.ADVANCE, reason, verdicts)


def _points(result: MetricResult) -> int:
    return min(result.experiment.count, result.control.count)


def _bad_data_reason(problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:_MAX_PROBLEMS_SHOWN])
    more = len(problems) - _MAX_PROBLEMS_SHOWN
    return f"bad data, holding: {shown}" + (f" (and {more} more)" if more > 0 else "")


def _bad_data_verdict(spec: MetricSpec, series: MetricSeries) -> MetricVerdict:
    return MetricVerdict(
        metric=spec.name,
        outcome=Outcome.HOLD,
        reason=_bad_data_reason(series.problems),
        stable_n=float(len(series.stable)),
        canary_n=float(len(series.canary)),
        critical=spec.critical,
    )
