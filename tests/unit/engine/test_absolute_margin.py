"""An absolute margin on the error rate: rare errors can be proven harmless long before a ratio can."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.sequential.absolute import absolute_check, rate_lower_bound, rate_upper_bound
from analysis.sequential.counts import CountJob
from analysis.sequential.engine import SequentialJudge
from analysis.sequential.explain import percent
from analysis.verdicts import Outcome
from tests.unit.engine.helpers import errors_pair, step

RATIO_ONLY = MetricSpec("errors", MetricKind.ERRORS, margin=0.1)
ABSOLUTE = MetricSpec("errors", MetricKind.ERRORS, margin=0.1, absolute_margin=0.01)


def rare_error_steps(rng: np.random.Generator, steps: int, stable_rate: float, canary_rate: float) -> list[StepWindow]:
    windows = []
    for i in range(steps):
        r_b, r_c = 2700, 300
        pair = errors_pair((r_b, rng.binomial(r_b, stable_rate)), (r_c, rng.binomial(r_c, canary_rate)))
        windows.append(step(i, {"errors": pair}))
    return windows


def test_rare_errors_are_proven_within_one_point_where_a_ratio_stays_unknown() -> None:
    windows = rare_error_steps(np.random.default_rng(7), 10, 0.002, 0.002)
    config = EngineConfig(metrics=(ABSOLUTE,), min_requests=500)
    decision = SequentialJudge().judge(windows, config)
    assert decision.outcome is Outcome.ADVANCE
    assert "absolute margin" in decision.metrics[0].reason
    ratio_only = SequentialJudge().judge(windows, EngineConfig(metrics=(RATIO_ONLY,), min_requests=500))
    assert ratio_only.outcome is Outcome.HOLD


def test_a_canary_adding_more_than_the_margin_is_never_promoted_on_it() -> None:
    rng = np.random.default_rng(11)
    config = EngineConfig(metrics=(ABSOLUTE,), min_requests=0)
    promoted = 0
    for _ in range(100):
        windows = rare_error_steps(rng, 12, 0.002, 0.012)  # adds exactly the 1-point margin
        judge = SequentialJudge()
        if any(judge.judge(windows[:k], config).outcome is Outcome.ADVANCE for k in range(1, 13)):
            promoted += 1
    assert promoted <= 5 + 4, f"promoted {promoted}/100 at the margin; alpha_promote is 5% (with MC slack)"


def test_the_rate_bound_covers_the_true_rate_at_every_look() -> None:
    rng = np.random.default_rng(3)
    misses = 0
    for _ in range(300):
        draws = rng.random(5000) < 0.003
        bad = np.cumsum(draws)
        looks = range(100, 5001, 100)
        if any(
            not rate_lower_bound(float(bad[n - 1]), float(n), 0.05)
            <= 0.003
            <= rate_upper_bound(float(bad[n - 1]), float(n), 0.05)
            for n in looks
        ):
            misses += 1
    assert misses <= 15 + 8, f"{misses}/300 paths left the 95% confidence sequence"


LATENCY_ABSOLUTE = MetricSpec(
    "latency", MetricKind.LATENCY, margin=0.05, latency_edges=(100.0, 1000.0), absolute_margin=0.01
)


def latency_steps(
    rng: np.random.Generator, steps: int, stable: tuple[float, float], canary: tuple[float, float]
) -> list[StepWindow]:
    """Requests slower than 100 ms and than 1000 ms, with these shares per arm."""

    def arm(n: int, shares: tuple[float, float]) -> ArmSample:
        slow_100 = rng.binomial(n, shares[0])
        slow_1000 = rng.binomial(slow_100, shares[1] / shares[0])
        return ArmSample(requests=n, buckets=((100.0, n - slow_100), (1000.0, n - slow_1000), (math.inf, n)))

    return [step(i, {"latency": MetricPair(arm(4500, stable), arm(500, canary))}) for i in range(steps)]


def test_a_latency_absolute_margin_holds_at_every_edge_that_must_be_proven() -> None:
    # As fast as stable past 100 ms, but 3 more points of requests past 1000 ms (of 10% in stable).
    rng = np.random.default_rng(5)
    n_b, n_c, steps = np.full(20, 45_000.0), np.full(20, 5_000.0), 20
    slow_b = np.stack([rng.binomial(45_000, 0.30, steps), rng.binomial(45_000, 0.10, steps)]).astype(float)
    slow_c = np.stack([rng.binomial(5_000, 0.30, steps), rng.binomial(5_000, 0.13, steps)]).astype(float)
    job = CountJob(
        LATENCY_ABSOLUTE, 0.01, ("100", "1000"), slow_b, slow_c, n_b, n_c, np.ones((2, steps), dtype=bool), (True, True)
    )
    check = absolute_check(job, 0.01, 0.05)
    assert not check.non_inferior
    assert "points of requests slower than 1000" in check.sentence
    only_the_first = replace(job, promote=(True, False))  # an edge outside the promotion test is not required
    assert absolute_check(only_the_first, 0.01, 0.05).non_inferior


def test_a_latency_absolute_margin_promotes_a_healthy_canary_the_ratio_cannot_bound_yet() -> None:
    windows = latency_steps(np.random.default_rng(9), 10, (0.05, 0.01), (0.05, 0.01))
    two_points = replace(LATENCY_ABSOLUTE, absolute_margin=0.02)
    ratio_only = replace(LATENCY_ABSOLUTE, absolute_margin=None)
    assert SequentialJudge().judge(windows, EngineConfig(metrics=(ratio_only,))).outcome is Outcome.HOLD
    decision = SequentialJudge().judge(windows, EngineConfig(metrics=(two_points,)))
    assert decision.outcome is Outcome.ADVANCE, decision.reason
    assert "points of requests slower than 100" in decision.metrics[0].reason


def _errors_job(stable: tuple[float, float], canary: tuple[float, float], steps: int) -> CountJob:
    """``steps`` equal steps of (requests, errors) per arm."""
    ones = np.ones(steps)
    return CountJob(
        ABSOLUTE,
        0.01,
        ("",),
        (stable[1] * ones)[None, :],
        (canary[1] * ones)[None, :],
        stable[0] * ones,
        canary[0] * ones,
        np.ones((1, steps), dtype=bool),
    )


def test_the_sentence_shows_the_inputs_of_the_bound_it_states() -> None:
    # Few errors: the ratio is unbounded in practice, so the direct bound p_c+ - p_b- wins.
    rare = absolute_check(_errors_job((1800.0, 2.0), (200.0, 0.0), 2), 0.02, 0.05)
    assert rare.direct
    assert rare.added_bound == pytest.approx(rare.canary_rate_upper - rare.stable_rate_lower)
    assert f"(canary rate ≤ {percent(rare.canary_rate_upper)}, stable rate ≥ {percent(rare.stable_rate_lower)})" in (
        rare.sentence
    )
    assert "ratio ≤" not in rare.sentence
    # Many errors in both arms: the ratio is tight and the stratified bound (psi+ - 1) p_b+ wins.
    common = absolute_check(_errors_job((45_000.0, 4500.0), (45_000.0, 4500.0), 20), 0.02, 0.05)
    assert not common.direct
    assert common.added_bound == pytest.approx((common.ratio_upper - 1.0) * common.stable_rate_upper)
    assert f"stable rate ≤ {percent(common.stable_rate_upper)})" in common.sentence and "ratio ≤" in common.sentence
