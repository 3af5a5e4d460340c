"""Aggregate values of one arm's sample, as people and threshold rules read them. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from analysis.observations import ArmSample, MetricKind


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The q-quantile of cumulative ``(le, count)`` buckets, interpolated as Prometheus does.

    Linear interpolation inside the bucket holding the rank (from 0 for the first bucket); the
    upper edge of the last finite bucket when the rank falls in ``+Inf``. NaN without a ``+Inf``
    bucket, with fewer than two buckets or with no observations; -Inf/+Inf for q below 0 / above 1.
    """
    if math.isnan(q):
        return math.nan
    if q < 0 or q > 1:
        return -math.inf if q < 0 else math.inf
    buckets = sorted(buckets)
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return math.nan
    total = buckets[-1][1]
    if not total > 0:
        return math.nan
    rank = q * total
    b = next(i for i, (_, count) in enumerate(buckets) if count >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count) if count > 0 else math.nan  # 0/0, as Prometheus gives it


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
