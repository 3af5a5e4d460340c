"""Aggregate values of one arm's sample, as people and threshold rules read them. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from analysis.observations import ArmSample, MetricKind


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The q-quantile of cumulative ``(le, count)`` buckets, interpolated as Prometheus does; NaN when empty."""
    if not buckets or not 0.0 <= q <= 1.0:
        return math.nan
    total = buckets[-1][1]
    if total <= 0 or not math.isinf(buckets[-1][0]):
        return math.nan
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower_le
            if count == lower_count:
                return le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return lower_le


def error_rate(sample: ArmSample) -> float:
    """Errors per request; NaN with no requests."""
    return sample.errors / sample.requests if sample.requests > 0 else math.nan


def value(kind: MetricKind, sample: ArmSample, quantile: float = 0.99) -> float:
    """The sample's headline value: error rate, latency quantile (ms) or gauge mean; NaN when empty."""
    if kind is MetricKind.ERRORS:
        return error_rate(sample)
    if kind is MetricKind.LATENCY:
        return histogram_quantile(quantile, sample.buckets)
    return sum(sample.gauges) / len(sample.gauges) if sample.gauges else math.nan


def combined(a: ArmSample, b: ArmSample) -> ArmSample:
    """Both arms' samples as one (for a rule that watches all traffic)."""
    by_le: dict[float, float] = {}
    for le, count in (*a.buckets, *b.buckets):
        by_le[le] = by_le.get(le, 0.0) + count
    return ArmSample(a.requests + b.requests, a.errors + b.errors, tuple(sorted(by_le.items())), (*a.gauges, *b.gauges))
