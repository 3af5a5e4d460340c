"""The in-process metric source: differences of the embedded mesh's cumulative counters."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan, no_data_reason

if TYPE_CHECKING:
    from rollout.spec.analysis import AnalysisSpec

__all__ = ["CountersSource", "MetricQuery", "MetricSource", "MetricsUnavailableError", "StepSpan", "no_data_reason"]


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

    Stateless by span: every read is remembered with its time, and a span's sample is the counters
    now minus the last read at or before the span's start, so step judgements and steady-state
    checks can read overlapping windows independently. Serves the built-in Istio templates (the
    embedded mesh speaks Istio's names).
    """

    SUPPORTED = frozenset({"istio-error-rate", "istio-latency-histogram"})
    SERVED = " and ".join(sorted(SUPPORTED))  # as messages name them

    @classmethod
    def unserved(cls, analysis: AnalysisSpec) -> list[int]:
        """The indices of ``analysis.metrics`` these counters cannot serve: a template of the experiment's own
        (even one named like a built-in), or another mesh's."""
        custom = {t.name for t in analysis.templates}
        return [i for i, m in enumerate(analysis.metrics) if m.template in custom or m.template not in cls.SUPPORTED]

    def __init__(self, read: Callable[[], Mapping[str, Counters]], clock: Callable[[], float] = time.time) -> None:
        self._read = read
        self._clock = clock
        self._reads: list[tuple[float, Mapping[str, Counters]]] = [(clock(), read())]

    def mark(self) -> None:
        """Read the counters now, as the baseline of a window starting from now on: requests served before
        (a steady-state measurement ahead of the run, all on stable) are then in no step's window."""
        self._reads.append((max(self._clock(), self._reads[-1][0]), self._read()))

    def _baseline(self, start: float) -> Mapping[str, Counters]:
        times = [t for t, _ in self._reads]
        index = max(bisect.bisect_right(times, start) - 1, 0)
        return self._reads[index][1]

    def no_data(self, span: StepSpan) -> str:
        return "no requests reached either version during the step"

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        before = self._baseline(span.start)
        now = self._read()
        self._reads.append((max(span.end, self._reads[-1][0]), now))  # read at the span's end
        del self._reads[:-512]  # bounded memory: a run needs only recent baselines
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
