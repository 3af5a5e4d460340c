"""The engine never raises, whatever the steps hold (NaN, negative, non-monotone, huge)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.kayenta import KayentaJudge
from analysis.observations import ArmSample, Direction, EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.verdicts import Outcome
from tests.unit.kayenta.steps import buckets

NAMES = ("errors", "latency", "cpu")
any_float = st.floats(allow_nan=True, allow_infinity=True)
count = st.one_of(st.floats(min_value=-5, max_value=1e6), any_float, st.integers(0, 50).map(float))
edges = st.one_of(any_float, st.sampled_from([0.1, 0.5, 1.0, math.inf]))

wild_arms = st.builds(
    ArmSample,
    requests=count,
    errors=count,
    buckets=st.lists(st.tuples(edges, count), max_size=5).map(tuple),
    gauges=st.lists(st.one_of(any_float, st.floats(0, 100)), max_size=4).map(tuple),
)


@st.composite
def valid_arms(draw: st.DrawFn) -> ArmSample:
    """Consistent samples (often of few distinct values, as real error counts are)."""
    requests = float(draw(st.sampled_from([0, 1, 10, 100, 1000])))
    errors = float(draw(st.integers(0, 3))) if requests >= 3 else 0.0
    shares = sorted(draw(st.lists(st.sampled_from([0.2, 0.5, 0.9, 1.0]), min_size=5, max_size=5)))
    gauges = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 40.0]), max_size=3))
    return ArmSample(requests, errors, buckets(tuple(shares), requests), tuple(gauges))


arm_samples = st.one_of(valid_arms(), valid_arms(), valid_arms(), wild_arms)
metric_pairs = st.builds(MetricPair, stable=arm_samples, canary=arm_samples)
metric_specs = st.builds(
    MetricSpec,
    name=st.sampled_from(NAMES),
    kind=st.sampled_from(MetricKind),
    direction=st.sampled_from(Direction),
    critical=st.booleans(),
    weight=st.one_of(st.just(1.0), any_float),
    quantile=st.one_of(st.just(0.99), st.floats(0, 1), any_float),
)


@st.composite
def step_lists(draw: st.DrawFn) -> list[StepWindow]:
    steps = []
    for index in range(draw(st.integers(0, 8))):
        metrics = draw(st.dictionaries(st.sampled_from(NAMES), metric_pairs, min_size=2, max_size=3))
        steps.append(StepWindow(index, 60.0 * index, 60.0 * index + 60.0, draw(any_float), metrics))
    return steps


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=step_lists(),
    specs=st.lists(metric_specs, max_size=3),
    min_requests=st.integers(0, 1000),
    final=st.booleans(),
)
def test_the_engine_never_raises(
    steps: list[StepWindow], specs: list[MetricSpec], min_requests: int, final: bool
) -> None:
    decision = KayentaJudge().judge(steps, EngineConfig(metrics=specs, min_requests=min_requests), final=final)
    assert decision.outcome in set(Outcome)
    assert decision.reason
    assert "internal error" not in decision.reason
    assert not (final and decision.outcome is Outcome.HOLD)
    assert len(decision.metrics) in (0, len(specs))
