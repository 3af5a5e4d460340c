"""Builders of step windows for the engine tests."""

from __future__ import annotations

import math

from analysis.observations import ArmSample, MetricPair, StepWindow

LATENCY_EDGES = (0.05, 0.1, 0.25, 0.5, 1.0)


def buckets(shares: tuple[float, ...], total: float) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets over LATENCY_EDGES from cumulative shares, closed by +Inf."""
    finite = tuple((le, share * total) for le, share in zip(LATENCY_EDGES, shares, strict=True))
    return (*finite, (math.inf, total))


def step(index: int, **metrics: MetricPair) -> StepWindow:
    return StepWindow(index=index, start=60.0 * index, end=60.0 * (index + 1), canary_weight=10.0, metrics=metrics)


def errors(stable: tuple[float, float], canary: tuple[float, float]) -> MetricPair:
    """``(requests, errors)`` per arm."""
    return MetricPair(ArmSample(requests=stable[0], errors=stable[1]), ArmSample(requests=canary[0], errors=canary[1]))
