"""meshroll's step windows as Kayenta time series: one point per step, metric and arm.

Kayenta treats each Prometheus step value as one sample; here each StepWindow is that step:
ERRORS give the step's error ratio, LATENCY the step's quantile interpolated from the cumulative
buckets as Prometheus's ``histogram_quantile`` does, GAUGE the mean of the step's samples.
A point is NaN when the step has nothing to measure (no requests, no observations, no samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.aggregates import histogram_quantile
from analysis.observations import ArmSample, MetricKind, MetricSpec, StepWindow


def _ratio(numerator: float, denominator: float) -> float:
    """IEEE division, as Prometheus does it: NaN for 0/0."""
    if denominator == 0:
        return math.nan if numerator == 0 or math.isnan(numerator) else math.copysign(math.inf, numerator)
    return numerator / denominator


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def arm_point(spec: MetricSpec, sample: ArmSample) -> float:
    """The step's value of the metric for one arm (NaN when there is nothing to measure)."""
    if spec.kind is MetricKind.ERRORS:
        return sample.errors / sample.requests if sample.requests > 0 else math.nan
    if spec.kind is MetricKind.LATENCY:
        return histogram_quantile(spec.quantile, sample.buckets)
    return _mean(sample.gauges)


def arm_requests(sample: ArmSample) -> float:
    """The requests behind a step: the request count, or the histogram's total when larger."""
    total = max((count for le, count in sample.buckets if math.isinf(le) and le > 0), default=0.0)
    return max(sample.requests, total)


@dataclass(frozen=True)
class MetricSeries:
    """One metric's points per arm over the steps that observed it, and what was wrong."""

    stable: tuple[float, ...]
    canary: tuple[float, ...]
    canary_requests: float
    problems: tuple[str, ...]


def _problems(step: StepWindow, arm: str, sample: ArmSample) -> list[str]:
    return [f"step {step.index} {arm}: {problem}" for problem in sample.problems()]


def metric_series(spec: MetricSpec, steps: Sequence[StepWindow]) -> MetricSeries:
    """The metric's points over ``steps`` (oldest first); steps without the metric are skipped."""
    stable: list[float] = []
    canary: list[float] = []
    problems: list[str] = []
    requests = 0.0
    for step in steps:
        pair = step.metrics.get(spec.name)
        if pair is None:
            continue
        problems += _problems(step, "stable", pair.stable) + _problems(step, "canary", pair.canary)
        stable.append(arm_point(spec, pair.stable))
        canary.append(arm_point(spec, pair.canary))
        requests += arm_requests(pair.canary)
    return MetricSeries(tuple(stable), tuple(canary), requests, tuple(problems))
