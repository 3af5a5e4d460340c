"""The threshold engine: Flagger's ranges and cumulative failed checks, but no data is not a failure."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.observations import ArmSample, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.threshold import ThresholdJudge, histogram_quantile
from analysis.verdicts import Outcome

from .helpers import config, errors_pair, step

SUCCESS = MetricSpec("success", MetricKind.ERRORS, min_value=99.0)
P99 = MetricSpec("p99", MetricKind.LATENCY, max_value=500.0, quantile=0.99)
JUDGE = ThresholdJudge()
OK = errors_pair((900.0, 1.0), (100.0, 0.0))  # canary 100% success
BAD = errors_pair((900.0, 1.0), (100.0, 5.0))  # canary 95% success


def steps_of(*pairs: MetricPair) -> list[StepWindow]:
    return [step(i, {"success": p}) for i, p in enumerate(pairs)]


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = ((100.0, 50.0), (200.0, 90.0), (400.0, 100.0), (math.inf, 100.0))
    assert histogram_quantile(0.5, buckets) == 100.0  # rank 50 at the first edge
    assert histogram_quantile(0.7, buckets) == 150.0  # halfway through the second bucket
    assert histogram_quantile(0.25, buckets) == 50.0  # the first bucket starts at 0
    assert histogram_quantile(0.99, buckets) == 380.0
    tail = ((100.0, 50.0), (200.0, 90.0), (math.inf, 100.0))
    assert histogram_quantile(0.99, tail) == 200.0  # rank in +Inf: the last finite edge
    assert math.isnan(histogram_quantile(0.5, ((100.0, 5.0), (200.0, 9.0))))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.5, ((100.0, 0.0), (math.inf, 0.0))))  # no observations


def test_a_passing_step_advances() -> None:
    decision = JUDGE.judge(steps_of(*[OK] * 6), config(SUCCESS, min_requests=500))
    assert decision.outcome is Outcome.ADVANCE
    assert decision.metrics[0].canary_value == 100.0


def test_failed_checks_accumulate_over_the_run_and_roll_back_at_the_threshold() -> None:
    pairs = [BAD, OK, BAD, OK, BAD, OK, BAD]
    held = JUDGE.judge(steps_of(*pairs), config(SUCCESS))
    assert held.outcome is Outcome.HOLD and "failed check 4 of 5" in held.reason
    assert held.adverse, "a failed check is evidence against the canary: the run keeps its weights"
    assert "success rate 95% < min 99%" in held.reason
    rolled = JUDGE.judge(steps_of(*pairs, OK, BAD), config(SUCCESS))
    assert rolled.outcome is Outcome.ROLLBACK
    assert rolled.reason.startswith("rollback: 5 failed checks reached the threshold of 5")
    assert JUDGE.judge(steps_of(*pairs, OK, BAD, OK), config(SUCCESS)).outcome is Outcome.ROLLBACK


@pytest.mark.parametrize("count", [1, 2, 8])
def test_a_configured_failure_threshold_rolls_back_at_that_count_and_not_before(count: int) -> None:
    """analysis.failureThreshold reaches the engine as EngineConfig.failure_threshold, in place of the default 5."""
    configured = config(SUCCESS, failure_threshold=count)
    failed_before = [OK, *[BAD, OK] * (count - 1)]  # count - 1 failed checks
    assert JUDGE.judge(steps_of(*failed_before), configured).outcome is not Outcome.ROLLBACK
    rolled = JUDGE.judge(steps_of(*failed_before, BAD), configured)
    assert rolled.outcome is Outcome.ROLLBACK
    assert rolled.reason.startswith(f"rollback: {count} failed check")
    assert f"reached the threshold of {count} (success: success rate 95% < min 99%)" in rolled.reason
    assert rolled.metrics[0].reason.endswith(f"(failed checks {count} of {count})")


def test_failed_checks_are_counted_out_of_the_configured_count() -> None:
    held = JUDGE.judge(steps_of(BAD, OK, BAD), config(SUCCESS, failure_threshold=3))
    assert held.outcome is Outcome.HOLD and "failed check 2 of 3: success: success rate 95% < min 99%" in held.reason
    assert held.metrics[0].reason.endswith("(failed checks 2 of 3)")


def test_the_experiments_count_wins_over_the_judges_own() -> None:
    judge = ThresholdJudge(failure_threshold=2)
    assert judge.judge(steps_of(BAD, BAD), config(SUCCESS)).outcome is Outcome.ROLLBACK
    held = judge.judge(steps_of(BAD, BAD), config(SUCCESS, failure_threshold=3))
    assert held.outcome is Outcome.HOLD and "failed check 2 of 3" in held.reason


def test_a_step_counts_once_however_many_metrics_fail() -> None:
    buckets = ((100.0, 10.0), (1000.0, 50.0), (math.inf, 100.0))
    slow = MetricPair(ArmSample(requests=100.0, buckets=buckets), ArmSample(requests=100.0, buckets=buckets))
    steps = [step(i, {"success": BAD, "p99": slow}) for i in range(4)]
    decision = ThresholdJudge(failure_threshold=5).judge(steps, config(SUCCESS, P99))
    assert decision.outcome is Outcome.HOLD and "failed check 4 of 5" in decision.reason
    assert "success rate 95% < min 99%" in decision.reason and "p99 1000 > max 500" in decision.reason


def test_no_data_holds_and_is_not_a_failed_check() -> None:
    empty = errors_pair((900.0, 1.0), (0.0, 0.0))
    decision = JUDGE.judge(steps_of(BAD, BAD, BAD, BAD, empty, empty, empty), config(SUCCESS))
    assert decision.outcome is Outcome.HOLD and decision.blocked, "the run holds its weights on it"
    assert "no requests" in decision.reason and "not counted as a failed check" in decision.reason
    assert JUDGE.judge(steps_of(BAD, BAD, BAD, BAD, empty, empty), config(SUCCESS), final=True).outcome is (
        Outcome.INCONCLUSIVE
    )


def test_bad_data_holds_with_the_problem_named() -> None:
    broken = errors_pair((900.0, 1.0), (100.0, math.nan))
    decision = JUDGE.judge(steps_of(OK, broken), config(SUCCESS))
    assert decision.outcome is Outcome.HOLD and "canary bad data: errors is nan" in decision.reason
    assert decision.blocked


def test_latency_uses_the_quantile_of_the_canary_histogram() -> None:
    fast = ((100.0, 95.0), (250.0, 99.0), (500.0, 100.0), (math.inf, 100.0))
    slow = ((100.0, 50.0), (250.0, 60.0), (500.0, 70.0), (math.inf, 100.0))
    pair = MetricPair(ArmSample(requests=100.0, buckets=fast), ArmSample(requests=100.0, buckets=slow))
    decision = JUDGE.judge([step(0, {"p99": pair})], config(P99))
    verdict = decision.metric("p99")
    assert verdict is not None and verdict.canary_value == 500.0 and verdict.stable_value == 250.0
    assert decision.outcome is Outcome.HOLD and not decision.adverse  # within range; min_requests is not met yet
    assert "promotion needs 500 canary requests (has 100)" in decision.reason


def test_promotion_needs_min_requests() -> None:
    assert JUDGE.judge(steps_of(OK), config(SUCCESS)).outcome is Outcome.HOLD
    assert JUDGE.judge(steps_of(OK), config(SUCCESS, min_requests=100)).outcome is Outcome.ADVANCE


def test_min_requests_counts_the_canarys_requests_over_the_run_not_in_one_step() -> None:
    held = JUDGE.judge(steps_of(*[OK] * 4), config(SUCCESS, min_requests=500))
    assert held.outcome is Outcome.HOLD and "promotion needs 500 canary requests (has 400)" in held.reason
    assert held.canary_requests == 400.0 and held.metrics[0].canary_n == 100.0, "n: the step the range judged"
    advanced = JUDGE.judge(steps_of(*[OK] * 5), config(SUCCESS, min_requests=500))
    assert advanced.outcome is Outcome.ADVANCE and advanced.canary_requests == 500.0
    assert advanced.reason == (
        "advance: every metric is within range at judgement 5, and the canary served 500 requests (at least 500)"
    )
    failing = JUDGE.judge(steps_of(OK, BAD), config(SUCCESS))
    assert failing.outcome is Outcome.HOLD and failing.canary_requests == 200.0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.tuples(st.floats(), st.floats()), max_size=5),
    st.lists(st.floats(), max_size=5),
)
def test_arbitrary_numbers_never_raise(
    requests: float, errors: float, buckets: list[tuple[float, float]], gauges: list[float]
) -> None:
    sample = ArmSample(requests=requests, errors=errors, buckets=tuple(buckets), gauges=tuple(gauges))
    specs = (SUCCESS, P99, MetricSpec("cpu", MetricKind.GAUGE, max_value=80.0))
    pairs = {spec.name: MetricPair(sample, sample) for spec in specs}
    decision = JUDGE.judge([step(0, pairs)], config(*specs))
    assert "could not judge" not in decision.reason
    assert decision.outcome is not Outcome.ADVANCE or not sample.problems()


def test_a_latency_range_is_shown_in_the_template_unit() -> None:
    buckets = ((100.0, 10.0), (1000.0, 50.0), (math.inf, 100.0))
    slow = MetricPair(ArmSample(requests=100.0, buckets=buckets), ArmSample(requests=100.0, buckets=buckets))
    spec = MetricSpec("p99", MetricKind.LATENCY, max_value=500.0, quantile=0.99, unit="ms")
    assert "p99 1000 ms > max 500 ms" in JUDGE.judge([step(0, {"p99": slow})], config(spec)).reason
