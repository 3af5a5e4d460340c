"""The pre-flight plan: its numbers, its warnings, and agreement with the engine in simulation."""

from __future__ import annotations

import statistics

import numpy as np

from analysis.observations import MetricKind, MetricSpec
from analysis.planning import plan
from analysis.sequential import SequentialJudge
from analysis.sequential.workload import Arms, simulate_steps
from analysis.verdicts import Outcome

from .helpers import config

JUDGE = SequentialJudge()
ERRORS = MetricSpec("errors", MetricKind.ERRORS, margin=0.1)


def first_rollback(steps_count: int, seed: int, arms: Arms, rps: float, weight: float) -> int | None:
    """Rollback is permanent once proven, so the first look that rolls back can be found by bisection."""
    steps = simulate_steps(np.random.default_rng(seed), [weight] * steps_count, rps, arms=arms)
    cfg = config(ERRORS, alpha=0.01)
    if JUDGE.judge(steps, cfg).outcome is not Outcome.ROLLBACK:
        return None
    lo, hi = 0, steps_count
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if JUDGE.judge(steps[:mid], cfg).outcome is Outcome.ROLLBACK:
            hi = mid
        else:
            lo = mid
    return hi


def test_detection_time_agrees_with_the_engine_within_a_factor_of_two() -> None:
    estimate = plan(
        baseline_rate=0.01,
        request_rate=20.0,
        schedule=[(10.0, 60.0)] * 120,
        margin=0.1,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
    )
    assert estimate.detect_seconds is not None
    looks = [first_rollback(90, seed, Arms(error_rate=0.01, error_ratio=2.0), 20.0, 10.0) for seed in range(40)]
    simulated = 60.0 * statistics.median(k if k is not None else 10**6 for k in looks)
    assert 0.5 <= simulated / estimate.detect_seconds <= 2.0, (simulated, estimate.detect_seconds)


def test_promotion_time_agrees_with_the_engine_within_a_factor_of_two() -> None:
    estimate = plan(
        baseline_rate=0.05,
        request_rate=200.0,
        schedule=[(50.0, 60.0)] * 60,
        margin=0.1,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
        min_requests=500,
    )
    assert estimate.promote_seconds is not None
    looks = []
    for seed in range(30):
        steps = simulate_steps(np.random.default_rng(100 + seed), [50.0] * 40, 200.0, arms=Arms(error_rate=0.05))
        looks.append(
            next(
                (k for k in range(1, 41) if JUDGE.judge(steps[:k], config(ERRORS)).outcome is Outcome.ADVANCE),
                10**6,
            )
        )
    simulated = 60.0 * statistics.median(looks)
    assert 0.5 <= simulated / estimate.promote_seconds <= 2.0, (simulated, estimate.promote_seconds)


def test_an_absolute_margin_promotes_sooner_and_agrees_with_the_engine_within_a_factor_of_two() -> None:
    # 0.1% errors at 100 req/s: a ratio within 10% takes hours, a rise under 0.2 points minutes.
    settings = dict(baseline_rate=0.001, request_rate=100.0, schedule=[(25.0, 60.0)] * 60, margin=0.1, regression=2.0)
    ratio_only = plan(**settings, alpha=0.01, alpha_promote=0.05, min_requests=500, max_duration=1800.0)
    absolute = plan(
        **settings, alpha=0.01, alpha_promote=0.05, min_requests=500, max_duration=1800.0, absolute_margin=0.002
    )
    assert ratio_only.promote_seconds is not None and ratio_only.promote_seconds > 1800.0
    assert "(an absoluteMargin, a wider margin or more traffic helps)" in ratio_only.warnings[-1]
    assert absolute.promote_seconds is not None and absolute.promote_seconds < 1800.0
    assert not any("healthy canary" in w for w in absolute.warnings)
    spec = MetricSpec("errors", MetricKind.ERRORS, margin=0.1, absolute_margin=0.002)
    looks = []
    for seed in range(30):
        steps = simulate_steps(np.random.default_rng(300 + seed), [25.0] * 40, 100.0, arms=Arms(error_rate=0.001))
        looks.append(
            next((k for k in range(1, 41) if JUDGE.judge(steps[:k], config(spec)).outcome is Outcome.ADVANCE), 10**6)
        )
    simulated = 60.0 * statistics.median(looks)
    assert 0.5 <= simulated / absolute.promote_seconds <= 2.0, (simulated, absolute.promote_seconds)


def test_low_traffic_warns_that_the_deadline_comes_first() -> None:
    estimate = plan(
        baseline_rate=0.001,
        request_rate=20.0,
        schedule=[(10.0, 60.0)] * 30,
        margin=0.1,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
        max_duration=1800.0,
    )
    assert estimate.detect_seconds is not None and estimate.detect_seconds > 1800.0
    assert estimate.detect_requests is not None and estimate.detect_bad_events is not None
    detect, promote = estimate.warnings
    assert detect.startswith("at 0.1% errors and 20 req/s the canary needs ~")
    assert detect.endswith("to detect a 2x regression, longer than maxDuration 30 min")
    assert "a healthy canary needs ~" in promote and "expect INCONCLUSIVE" in promote


def test_busy_services_plan_without_warnings_and_faster_with_more_traffic() -> None:
    busy = plan(
        baseline_rate=0.01,
        request_rate=1000.0,
        schedule=[(5.0, 60.0), (10.0, 60.0), (25.0, 120.0), (50.0, 300.0)],
        margin=0.2,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
        max_duration=3600.0,
    )
    quiet = plan(
        baseline_rate=0.01,
        request_rate=100.0,
        schedule=[(5.0, 60.0), (10.0, 60.0), (25.0, 120.0), (50.0, 300.0)],
        margin=0.2,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
    )
    assert busy.warnings == ()
    assert busy.detect_seconds is not None and quiet.detect_seconds is not None
    assert busy.detect_seconds < quiet.detect_seconds
    assert busy.promote_seconds is not None and busy.promote_seconds <= 3600.0
    assert busy.horizon_seconds == 3600.0


def test_a_regression_inside_the_margin_is_never_proven() -> None:
    estimate = plan(
        baseline_rate=0.01,
        request_rate=100.0,
        schedule=[(10.0, 60.0)],
        margin=0.25,
        regression=1.2,
        alpha=0.01,
        alpha_promote=0.05,
    )
    assert estimate.detect_seconds is None
    assert "a 1.2x regression is within the 25% margin: it is never proven" in estimate.warnings


def test_unusable_inputs_warn_instead_of_raising() -> None:
    estimate = plan(
        baseline_rate=0.0,
        request_rate=-1.0,
        schedule=[],
        margin=0.1,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
    )
    assert estimate.detect_seconds is None and estimate.promote_seconds is None
    assert estimate.warnings and "needs a positive baseline rate" in estimate.warnings[0]


def test_a_min_requests_the_canary_cannot_serve_is_named_as_what_stops_promotion() -> None:
    schedule = [(5.0, 60.0), (10.0, 60.0), (25.0, 120.0), (50.0, 300.0)]  # 189,000 canary requests, then 500/s

    def promotion_warnings(min_requests: float, max_duration: float | None) -> tuple[str, ...]:
        estimate = plan(
            baseline_rate=0.01,
            request_rate=1000.0,
            schedule=schedule,
            margin=0.2,
            regression=2.0,
            alpha=0.01,
            alpha_promote=0.05,
            min_requests=min_requests,
            max_duration=max_duration,
        )
        return tuple(w for w in estimate.warnings if "promoted" in w or "proven within" in w)

    assert promotion_warnings(1e29, None) == (
        "at 1000 req/s the canary never serves minRequests 1e+29: a healthy canary is not promoted; lower minRequests",
    )
    assert promotion_warnings(5e6, 3600.0) == (
        "at 1000 req/s the canary serves ~1.72e+06 requests by maxDuration 60 min, fewer than minRequests 5e+06: "
        "a healthy canary is not promoted; lower minRequests",
    )
    assert promotion_warnings(500, 3600.0) == ()


def test_the_requests_served_by_max_duration_count_the_step_it_cuts_short() -> None:
    # one 10-minute step at 50% of 100 req/s, then its extension; maxDuration ends 5 minutes into the second
    # step, where the run's last judgement comes: 600 s x 50 + 300 s x 50 = 45,000 canary requests, not 30,000
    estimate = plan(
        baseline_rate=0.01,
        request_rate=100.0,
        schedule=[(50.0, 600.0)],
        margin=0.1,
        regression=2.0,
        alpha=0.01,
        alpha_promote=0.05,
        min_requests=1e6,
        max_duration=900.0,
    )
    assert (
        "at 100 req/s the canary serves ~4.5e+04 requests by maxDuration 15 min, fewer than minRequests 1e+06: "
        "a healthy canary is not promoted; lower minRequests"
    ) in estimate.warnings


def test_a_canary_is_not_promoted_before_its_schedule_is_through_and_a_schedule_past_the_deadline_warns() -> None:
    # plenty of traffic: the proof comes within the first step, but the run promotes after its last step
    settings = dict(baseline_rate=0.05, request_rate=5000.0, schedule=[(10.0, 8.0), (25.0, 8.0), (50.0, 8.0)])
    fits = plan(**settings, margin=0.5, regression=2.0, alpha=0.01, alpha_promote=0.05, promote_after=24.0)
    assert fits.promote_seconds == 24.0 and not fits.warnings
    short = plan(
        **settings, margin=0.5, regression=2.0, alpha=0.01, alpha_promote=0.05, promote_after=24.0, max_duration=20.0
    )
    assert short.warnings == (
        "the schedule takes 24s, longer than maxDuration 20s: a healthy canary is not promoted and ends "
        "INCONCLUSIVE; raise maxDuration or take fewer or shorter steps",
    )
