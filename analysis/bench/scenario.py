"""A benchmark scenario: one canary's per-step data, what is truly wrong with it, and its schedule.

Pure data. The steps are exactly what the engines judge (``StepWindow`` with ``ArmSample``s);
the rest tells the harness and the measures what the right answer is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from analysis.observations import ArmSample, MetricKind, MetricPair, StepWindow

ISTIO_EDGES_MS: tuple[float, ...] = (
    0.5,
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    30000.0,
    60000.0,
    300000.0,
    600000.0,
    1800000.0,
    3600000.0,
)
"""Istio's default request-duration bucket edges (milliseconds); ``+Inf`` closes every histogram."""

ERRORS_METRIC = "errors"
LATENCY_METRIC = "latency"


class EffectKind(StrEnum):
    """What the canary does wrong (``NONE`` for a healthy, A/A canary)."""

    NONE = "none"
    ERRORS = "errors"  # error rate multiplied by ``magnitude``
    LATENCY = "latency"  # lognormal median multiplied by ``1 + magnitude``
    TAIL = "tail"  # a fraction ``magnitude`` of requests is 1 s slower


@dataclass(frozen=True)
class TrueEffect:
    """The truth the oracle SPRT is told and the measures judge against.

    ``ratio`` is the canary/stable ratio of the bad-event rate on ``metric`` (errors, or
    requests slower than ``edge`` ms for latency metrics); 1.0 for a healthy canary.
    ``onset_step`` is the first step (0-based) in which the regression is present.
    """

    kind: EffectKind
    metric: str
    ratio: float = 1.0
    magnitude: float = 0.0
    edge: float | None = None
    onset_step: int = 0

    @property
    def is_regression(self) -> bool:
        return self.kind is not EffectKind.NONE


@dataclass(frozen=True)
class MetricInfo:
    """A metric's name and kind, as a scenario declares it."""

    name: str
    kind: MetricKind


@dataclass(frozen=True)
class Scenario:
    """One replayable canary.

    ``final_step`` is the 0-based index of the last step of the weight schedule: a run promotes
    when the engine answers ADVANCE at or after it. Steps after it (up to the deadline) keep the
    last weight.
    """

    name: str
    scenario_class: str
    effect: TrueEffect
    metrics: tuple[MetricInfo, ...]
    steps: tuple[StepWindow, ...]
    final_step: int

    @property
    def step_seconds(self) -> float:
        return self.steps[0].duration if self.steps else 0.0

    def metric_kind(self, name: str) -> MetricKind | None:
        return next((m.kind for m in self.metrics if m.name == name), None)


def exceedances(sample: ArmSample, edge: float) -> float:
    """Requests slower than ``edge``: the total minus the cumulative count at the edge.

    The total is the ``+Inf`` bucket when present, else ``requests``. An edge that is not a
    bucket boundary uses the largest boundary below it (a conservative count).
    """
    if not sample.buckets:
        return 0.0
    total = sample.buckets[-1][1] if math.isinf(sample.buckets[-1][0]) else sample.requests
    below = 0.0
    for le, count in sample.buckets:
        if le > edge:
            break
        below = count
    return max(0.0, total - below)


def bad_count(sample: ArmSample, kind: MetricKind, edge: float | None) -> float:
    """The bad events of one arm: errors, or exceedances of ``edge`` for a latency metric."""
    if kind is MetricKind.LATENCY and edge is not None:
        return exceedances(sample, edge)
    return sample.errors


def arm_requests(sample: ArmSample) -> float:
    """The arm's requests (the ``+Inf`` bucket when ``requests`` was left at zero)."""
    if sample.requests > 0 or not sample.buckets:
        return sample.requests
    return sample.buckets[-1][1] if math.isinf(sample.buckets[-1][0]) else 0.0


def pair_of(step: StepWindow, metric: str) -> MetricPair | None:
    return step.metrics.get(metric)


def total_requests(steps: Sequence[StepWindow], metric: str) -> float:
    """Canary plus stable requests of ``metric`` over ``steps``."""
    total = 0.0
    for step in steps:
        pair = step.metrics.get(metric)
        if pair is not None:
            total += arm_requests(pair.stable) + arm_requests(pair.canary)
    return total
