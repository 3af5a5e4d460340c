"""Bad input never raises: the engine holds and its reason names the problem."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.observations import ArmSample, MetricKind, MetricPair, MetricSpec
from analysis.sequential import SequentialJudge
from analysis.verdicts import Outcome

from .helpers import ERRORS, LATENCY, config, errors_pair, reasons, step

JUDGE = SequentialJudge()
CRASH = "could not judge this input"
EDGES = (50.0, 100.0, 250.0, 500.0, math.inf)


def histogram(total: int) -> tuple[tuple[float, float], ...]:
    shares = (0.3, 0.6, 0.95, 0.99, 1.0)
    return tuple((le, float(round(total * s))) for le, s in zip(EDGES, shares, strict=True))


def latency_pair(stable: ArmSample, canary: ArmSample) -> MetricPair:
    return MetricPair(stable, canary)


GOOD_ERRORS = errors_pair((900.0, 9.0), (100.0, 1.0))
GOOD_LATENCY = latency_pair(
    ArmSample(requests=900.0, buckets=histogram(900)), ArmSample(requests=100.0, buckets=histogram(100))
)

bad_number = st.sampled_from([math.nan, math.inf, -math.inf, -5.0, -0.5])
arm = st.sampled_from(["stable", "canary"])


@st.composite
def broken_errors(draw: st.DrawFn) -> tuple[MetricPair, str]:
    """A corrupted errors sample and a fragment the reason must contain."""
    field = draw(st.sampled_from(["requests", "errors", "errors_above", "zero"]))
    which = draw(arm)
    good = ArmSample(requests=100.0, errors=1.0)
    if field == "zero":
        broken, expected = ArmSample(requests=0.0, errors=0.0), f"the {which} received no requests"
    elif field == "errors_above":
        broken, expected = ArmSample(requests=10.0, errors=draw(st.floats(11.0, 1e6))), "exceed requests"
    else:
        value = draw(bad_number)
        broken = ArmSample(requests=value if field == "requests" else 100.0, errors=value if field == "errors" else 1.0)
        expected = f"{which} {field} is " + ("negative" if value < 0 and math.isfinite(value) else f"{value}")
    pair = MetricPair(broken, good) if which == "stable" else MetricPair(good, broken)
    return pair, expected


@st.composite
def broken_histograms(draw: st.DrawFn) -> tuple[MetricPair, str]:
    which = draw(arm)
    kind = draw(st.sampled_from(["nan", "reset", "edges", "negative", "empty"]))
    buckets = list(histogram(100))
    position = draw(st.integers(1, len(buckets) - 1))
    if kind == "nan":
        buckets[position] = (buckets[position][0], math.nan)
        expected = "a histogram bucket is NaN"
    elif kind == "reset":
        buckets[position] = (buckets[position][0], buckets[position - 1][1] - draw(st.floats(1.0, 50.0)))
        expected = "buckets are not monotone"
    elif kind == "edges":
        buckets[position] = (buckets[position - 1][0], buckets[position][1])
        expected = "bucket edges are not increasing"
    elif kind == "negative":
        buckets = [(le, -1.0 - c) for le, c in buckets]  # a reset below zero: the first bucket is already < 0
        expected = "buckets are not monotone at le=50"
    else:
        buckets = [(le, 0.0) for le, _ in buckets]
        expected = f"the {which} histogram has no observations"
    broken = ArmSample(requests=100.0, buckets=tuple(buckets))
    good = ArmSample(requests=100.0, buckets=histogram(100))
    pair = MetricPair(broken, good) if which == "stable" else MetricPair(good, broken)
    return pair, expected


@settings(max_examples=80, deadline=None, derandomize=True)
@given(broken_errors(), st.integers(0, 3))
def test_bad_error_counts_in_the_latest_step_hold_with_a_reason_naming_them(
    case: tuple[MetricPair, str], clean_steps: int
) -> None:
    pair, expected = case
    steps = [step(i, {"errors": GOOD_ERRORS}) for i in range(clean_steps)] + [step(clean_steps, {"errors": pair})]
    decision = JUDGE.judge(steps, config(ERRORS))
    assert decision.outcome is Outcome.HOLD and decision.blocked, "the run must not take it as no regression"
    assert expected in decision.reason, decision.reason
    assert CRASH not in decision.reason


@settings(max_examples=60, deadline=None, derandomize=True)
@given(broken_histograms(), st.integers(0, 3))
def test_bad_histograms_in_the_latest_step_hold_with_a_reason_naming_them(
    case: tuple[MetricPair, str], clean_steps: int
) -> None:
    pair, expected = case
    steps = [step(i, {"latency": GOOD_LATENCY}) for i in range(clean_steps)] + [step(clean_steps, {"latency": pair})]
    decision = JUDGE.judge(steps, config(LATENCY))
    assert decision.outcome is Outcome.HOLD and decision.blocked, "the run must not take it as no regression"
    assert expected in decision.reason, decision.reason
    assert CRASH not in decision.reason


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=0,
        max_size=6,
    ),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_arbitrary_numbers_never_raise(
    buckets: list[tuple[float, float]], gauges: list[float], requests: float, errors: float, weight: float
) -> None:
    sample = ArmSample(requests=requests, errors=errors, buckets=tuple(buckets), gauges=tuple(gauges))
    good = ArmSample(requests=100.0, errors=1.0, buckets=histogram(100), gauges=(1.0, 2.0))
    specs = (ERRORS, LATENCY, MetricSpec("cpu", MetricKind.GAUGE))
    pairs = {
        "errors": MetricPair(good, sample),
        "latency": MetricPair(sample, good),
        "cpu": MetricPair(good, sample),
    }
    steps = [step(0, {name: MetricPair(good, good) for name in pairs}), step(1, pairs, weight=weight)]
    for final in (False, True):
        decision = JUDGE.judge(steps, config(*specs), final=final)
        assert CRASH not in reasons(decision)
        assert decision.outcome is not Outcome.ADVANCE or not sample.problems()


def test_an_earlier_bad_step_is_excluded_and_reported() -> None:
    steps = [
        step(0, {"errors": errors_pair((900.0, 9.0), (100.0, math.nan))}),
        step(1, {"errors": GOOD_ERRORS}),
    ]
    decision = JUDGE.judge(steps, config(ERRORS))
    verdict = decision.metric("errors")
    assert verdict is not None and "1 earlier step(s) excluded for bad data; first: step 0: canary errors is nan" in (
        verdict.reason
    )
    assert verdict.canary_n == 100.0


def test_a_metric_missing_from_the_latest_step_holds() -> None:
    steps = [step(0, {"errors": GOOD_ERRORS}), step(1, {})]
    decision = JUDGE.judge(steps, config(ERRORS))
    assert decision.outcome is Outcome.HOLD and decision.blocked
    assert "no data for this metric in step 1" in decision.reason


def test_a_bad_canary_weight_holds() -> None:
    decision = JUDGE.judge([step(0, {"errors": GOOD_ERRORS}, weight=math.nan)], config(ERRORS))
    assert decision.outcome is Outcome.HOLD and decision.blocked
    assert "canary weight is nan" in decision.reason


def test_an_unusable_configuration_holds_and_says_why() -> None:
    bad = MetricSpec("errors", MetricKind.ERRORS, margin=-1.0, weight=0.0)
    decision = JUDGE.judge([step(0, {"errors": GOOD_ERRORS})], config(bad, alpha=2.0))
    assert decision.outcome is Outcome.HOLD and decision.blocked
    for fragment in ("alpha must be between 0 and 1", "margin must be", "weight must be positive"):
        assert fragment in decision.reason


def test_no_steps_hold() -> None:
    assert JUDGE.judge([], config(ERRORS)).outcome is Outcome.HOLD
    assert JUDGE.judge([], config(ERRORS), final=True).outcome is Outcome.INCONCLUSIVE


def test_a_clean_step_that_is_not_yet_conclusive_is_an_ordinary_hold() -> None:
    """Valid data that only is not enough yet (few requests; too few to choose latency edges) is "no regression
    so far": the run may give the canary its next weight. Only a step it could not judge at all is blocked."""
    decision = JUDGE.judge([step(0, {"errors": GOOD_ERRORS, "latency": GOOD_LATENCY})], config(ERRORS, LATENCY))
    assert decision.outcome is Outcome.HOLD and not decision.blocked, decision.reason
    assert "not yet known" in decision.reason

    few = latency_pair(ArmSample(requests=9.0, buckets=histogram(9)), ArmSample(requests=1.0, buckets=histogram(1)))
    decision = JUDGE.judge([step(0, {"latency": few})], config(LATENCY))
    assert decision.outcome is Outcome.HOLD and not decision.blocked, decision.reason
    assert "choosing bucket edges needs" in reasons(decision)
