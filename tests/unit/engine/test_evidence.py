"""The count e-process and its confidence sequence: validity, coverage and consistency (seeded)."""

from __future__ import annotations

import math

import numpy as np

from analysis.sequential.evidence import (
    CountSeries,
    confidence_bounds,
    count_series,
    log_evidence_now,
    log_evidence_path,
    log_mle,
)
from analysis.sequential.gauges import critical_t, gauge_evidence


def simulate(
    seed: int, runs: int, steps: int, rate: float, share: float, ratio: float, rps: float = 2000.0
) -> CountSeries:
    """Bernoulli requests (not the Poisson model the test assumes), split Binomially per step."""
    rng = np.random.default_rng(seed)
    total = rng.poisson(rps, size=(runs, steps))
    canary = rng.binomial(total, share)
    stable = total - canary
    bad_c = rng.binomial(canary, min(rate * ratio, 1.0))
    bad_b = rng.binomial(stable, rate)
    return count_series(bad_b, bad_c, stable, canary)


def ever_reaches(series: CountSeries, log_null: float, side: float, alpha: float) -> float:
    paths = log_evidence_path(series, np.full(series.rows, log_null), np.full(series.rows, side))
    return float((paths.max(axis=1) >= math.log(1 / alpha)).mean())


def test_type_one_error_over_60_looks_stays_below_alpha_at_the_null_boundary() -> None:
    # The hardest null: the canary is exactly 1 + margin times worse. 2000 runs; Monte Carlo slack
    # is three standard errors of a proportion at alpha.
    alpha, runs = 0.05, 2000
    slack = 3 * math.sqrt(alpha * (1 - alpha) / runs)
    for rate, share in ((0.01, 0.1), (0.3, 0.5), (0.001, 0.05)):
        series = simulate(11, runs, 60, rate, share, ratio=1.1, rps=20000 * 0.01 / rate if rate < 0.3 else 2000)
        assert ever_reaches(series, math.log(1.1), +1.0, alpha) <= alpha + slack  # false rollback
        assert ever_reaches(series, math.log(1.1), -1.0, alpha) <= alpha + slack  # false promotion


def test_an_aa_canary_with_a_zero_margin_is_still_controlled() -> None:
    alpha, runs = 0.05, 2000
    series = simulate(12, runs, 60, 0.02, 0.2, ratio=1.0)
    assert ever_reaches(series, 0.0, +1.0, alpha) <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_the_confidence_sequence_covers_the_true_ratio_at_every_look() -> None:
    runs, truth = 400, 1.5
    series = simulate(13, runs, 40, 0.02, 0.2, ratio=truth)
    rows = np.arange(runs)
    # Any look: the truth is outside when the "psi > truth" or "psi < truth" e-process ever passes 1/0.025.
    up = log_evidence_path(series, np.full(runs, math.log(truth)), np.ones(runs)).max(axis=1)
    down = log_evidence_path(series, np.full(runs, math.log(truth)), -np.ones(runs)).max(axis=1)
    missed = (np.maximum(up, down) >= math.log(40.0)).mean()
    assert missed <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)
    # And at the last look the bisection's interval agrees with the direct test.
    lower = confidence_bounds(series, rows, np.ones(runs), np.full(runs, math.log(40.0)))
    upper = confidence_bounds(series, rows, -np.ones(runs), np.full(runs, math.log(40.0)))
    outside = (lower > math.log(truth)) | (upper < math.log(truth))
    direct = (log_evidence_now(series, np.full(runs, math.log(truth)), np.ones(runs)) >= math.log(40.0)) | (
        log_evidence_now(series, np.full(runs, math.log(truth)), -np.ones(runs)) >= math.log(40.0)
    )
    assert (outside == direct).mean() >= 0.99  # the bisection may miss only by a hair at the boundary


def test_the_interval_brackets_the_pooled_estimate_which_finds_the_truth() -> None:
    series = simulate(14, 50, 60, 0.02, 0.3, ratio=2.0, rps=5000)
    mle = np.exp(log_mle(series))
    rows = np.arange(50)
    lower = np.exp(confidence_bounds(series, rows, np.ones(50), np.full(50, math.log(100.0))))
    upper = np.exp(confidence_bounds(series, rows, -np.ones(50), np.full(50, math.log(20.0))))
    assert np.all(lower < mle) and np.all(mle < upper)
    assert abs(float(np.median(mle)) - 2.0) < 0.05


def test_evidence_is_monotone_in_the_null() -> None:
    series = simulate(15, 5, 20, 0.02, 0.2, ratio=1.3)
    nulls = np.log(np.linspace(0.5, 3.0, 30))
    up = np.stack([log_evidence_now(series, np.full(5, v), np.ones(5)) for v in nulls])
    down = np.stack([log_evidence_now(series, np.full(5, v), -np.ones(5)) for v in nulls])
    assert np.all(np.diff(up, axis=0) <= 1e-9) and np.all(np.diff(down, axis=0) >= -1e-9)


def test_steps_without_traffic_in_an_arm_carry_no_evidence() -> None:
    series = count_series(
        np.array([[0.0, 5.0]]), np.array([[50.0, 0.0]]), np.array([[0.0, 100.0]]), np.array([[100.0, 0.0]])
    )
    assert series.total_bad.sum() == 0.0
    assert log_evidence_now(series, np.zeros(1), np.ones(1))[0] == 0.0
    assert math.isnan(log_mle(series)[0])


def test_the_gauge_t_test_controls_type_one_error_and_its_interval_matches_the_test() -> None:
    rng = np.random.default_rng(16)
    alpha, runs = 0.05, 1000
    rejected = 0
    for _ in range(runs):
        d = rng.normal(2.0, 3.0, size=40)  # true difference exactly at the margin of 2
        rejected += gauge_evidence(d, 2.0, 1.0, False, alpha, 0.05).max_e_value >= 1 / alpha
    assert rejected / runs <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
    d = rng.normal(5.0, 1.0, size=12)
    evidence = gauge_evidence(d, 2.0, 1.0, False, 0.01, 0.05)
    assert (evidence.e_value >= 100) == (evidence.interval[0] > 2.0)
    assert math.isinf(critical_t(2, 0.01)) and critical_t(30, 0.01) > critical_t(300, 0.01) > 2.5
