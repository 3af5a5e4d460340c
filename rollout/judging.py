"""From the user's analysis spec to what the engines read. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from analysis.observations import Direction, EngineConfig, MetricKind, MetricPair, MetricSpec
from analysis.templates import BUILTIN_TEMPLATES
from analysis.verdicts import Decision, MetricVerdict, Outcome
from rollout.events import Judged, MetricNumbers
from rollout.spec.analysis import AnalysisSpec
from rollout.spec.models import Experiment


def metric_kind(analysis: AnalysisSpec, template: str) -> MetricKind:
    for custom in analysis.templates:
        if custom.name == template:
            return MetricKind(custom.kind)
    return BUILTIN_TEMPLATES[template].kind


def metric_unit(analysis: AnalysisSpec, template: str) -> str:
    for custom in analysis.templates:
        if custom.name == template:
            return custom.unit
    return BUILTIN_TEMPLATES[template].unit


def engine_config(experiment: Experiment) -> EngineConfig:
    """The engine's view of an experiment's analysis (an empty config for chaos-only runs)."""
    analysis = experiment.spec.analysis
    if analysis is None:
        return EngineConfig(metrics=(), alpha=0.01, min_requests=0)
    metrics = []
    for m in analysis.metrics:
        bounds = m.threshold_range
        metrics.append(
            MetricSpec(
                name=m.name,
                kind=metric_kind(analysis, m.template),
                margin=m.margin,
                direction=Direction(m.direction),
                critical=m.critical,
                weight=m.weight,
                latency_edges=tuple(m.latency_edges),
                min_value=bounds.min if bounds else None,
                max_value=bounds.max if bounds else None,
                quantile=m.quantile,
                absolute_margin=m.absolute_margin,
                unit=metric_unit(analysis, m.template),
            )
        )
    return EngineConfig(metrics=tuple(metrics), alpha=analysis.alpha, min_requests=analysis.min_requests)


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None if value is None or value != value else value
    return value


def numbers(verdict: MetricVerdict) -> MetricNumbers:
    interval = verdict.interval
    return MetricNumbers(
        metric=verdict.metric,
        outcome=verdict.outcome.value,
        reason=verdict.reason,
        estimate=_finite(verdict.estimate),
        interval=(float(interval[0]), float(interval[1])) if interval is not None else None,
        e_value=_finite(verdict.e_value),
        p_value=_finite(verdict.p_value),
        threshold=_finite(verdict.threshold),
        stable_n=verdict.stable_n,
        canary_n=verdict.canary_n,
        stable_value=_finite(verdict.stable_value),
        canary_value=_finite(verdict.canary_value),
        critical=verdict.critical,
    )


def judged(decision: Decision) -> Judged:
    """A decision as the event the machine records."""
    return Judged(
        outcome=decision.outcome.value,
        engine=decision.engine,
        reason=decision.reason,
        metrics=tuple(numbers(m) for m in decision.metrics),
        blocked=decision.blocked and decision.outcome is Outcome.HOLD,
    )


def observed_share(pairs: Mapping[str, MetricPair]) -> float:
    """The canary's share of requests in a window whose split is not a weight (A/B cohort, mirror)."""
    for pair in pairs.values():
        total = pair.stable.requests + pair.canary.requests
        if total > 0:
            return 100.0 * pair.canary.requests / total
    return 0.0
