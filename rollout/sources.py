"""The in-process metric source: differences of the embedded mesh's cumulative counters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan

__all__ = ["CountersSource", "MetricQuery", "MetricSource", "MetricsUnavailableError", "StepSpan"]


class Counters(Protocol):
    """Cumulative counts of one version (the embedded mesh's VersionCounters)."""

    @property
    def requests(self) -> float: ...

    @property
    def errors(self) -> float: ...

    @property
    def buckets(self) -> tuple[tuple[float, float], ...]: ...


def _difference(after: Counters | None, before: Counters | None) -> ArmSample:
    if after is None:
        return ArmSample()
    if before is None:
        return ArmSample(after.requests, after.errors, after.buckets)
    earlier = dict(before.buckets)
    buckets = tuple((le, count - earlier.get(le, 0.0)) for le, count in after.buckets)
    return ArmSample(after.requests - before.requests, after.errors - before.errors, buckets)


class CountersSource:
    """Step samples as differences of cumulative counters read in-process (the embedded mesh).

    Serves the built-in Istio templates (the embedded mesh speaks Istio's names).
    """

    SUPPORTED = frozenset({"istio-error-rate", "istio-latency-histogram"})

    def __init__(self, read: Callable[[], Mapping[str, Counters]]) -> None:
        self._read = read
        self._last: Mapping[str, Counters] = read()

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        now = self._read()
        before, self._last = self._last, now
        stable = _difference(now.get(span.stable_version), before.get(span.stable_version))
        canary = _difference(now.get(span.canary_version), before.get(span.canary_version))
        result: dict[str, MetricPair] = {}
        if stable.requests <= 0 and canary.requests <= 0:
            return result
        for metric in metrics:
            if metric.kind is MetricKind.ERRORS:
                result[metric.name] = MetricPair(
                    ArmSample(stable.requests, stable.errors), ArmSample(canary.requests, canary.errors)
                )
            elif metric.kind is MetricKind.LATENCY:
                result[metric.name] = MetricPair(
                    ArmSample(stable.requests, buckets=stable.buckets),
                    ArmSample(canary.requests, buckets=canary.buckets),
                )
        return result
