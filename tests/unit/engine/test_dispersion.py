"""Arms that drift apart between steps (overdispersion): the e-process tempers its evidence.

The count model has one canary/stable ratio for the whole run; real arms also differ for a while
(pods, caches, neighbours). The tempering estimates that extra variance from earlier steps only.
"""

from __future__ import annotations

import math

import numpy as np

from analysis.sequential.evidence import CountSeries, count_series, dispersion_temper, log_evidence_path
from analysis.sequential.samples import FloatArray

ALPHA = 0.01
NULL = math.log(1.1)  # the rollback null at a 10% margin
Arms = tuple[FloatArray, FloatArray, FloatArray, FloatArray]


def drifting(seed: int, runs: int, steps: int, sd: float, rps: float = 20_000.0, rate: float = 0.02) -> Arms:
    """A/A on average, but the canary's true error rate wanders: log ratio AR(1), phi 0.7, stationary sd ``sd``."""
    rng = np.random.default_rng(seed)
    total = rng.poisson(rps, size=(runs, steps)).astype(float)
    canary = rng.binomial(total.astype(np.int64), 0.25).astype(float)
    stable = total - canary
    drift = np.zeros((runs, steps))
    drift[:, 0] = rng.normal(0.0, sd, runs)
    for t in range(1, steps):
        drift[:, t] = 0.7 * drift[:, t - 1] + rng.normal(0.0, sd * math.sqrt(1 - 0.49), runs)
    bad_c = rng.binomial(canary.astype(np.int64), np.minimum(rate * np.exp(drift), 1.0)).astype(float)
    bad_b = rng.binomial(stable.astype(np.int64), rate).astype(float)
    return bad_b, bad_c, stable, canary


def untempered(series: CountSeries) -> CountSeries:
    return CountSeries(series.bad_canary, series.total_bad, series.exposure_canary, series.exposure_stable, None)


def rejects(series: CountSeries) -> float:
    paths = log_evidence_path(series, np.full(series.rows, NULL), np.ones(series.rows))
    return float((paths.max(axis=1) >= math.log(1 / ALPHA)).mean())


def test_drifting_arms_fool_the_untempered_test_more_often_than_the_tempered_one() -> None:
    series = count_series(*drifting(1, 400, 30, sd=0.2))
    raw, tempered = rejects(untempered(series)), rejects(series)
    assert raw > 0.1  # the drift is real at each step: with this many requests it looks like a regression
    assert tempered < 0.8 * raw


def test_without_drift_the_exponents_stay_near_one_and_a_regression_is_still_found() -> None:
    bad_b, bad_c, stable, canary = drifting(2, 200, 30, sd=0.0, rps=3000.0, rate=0.01)
    series = count_series(bad_b, bad_c, stable, canary)
    assert series.temper is not None and float(series.temper.mean()) > 0.9
    assert rejects(series) == 0.0
    regressed = np.random.default_rng(3).binomial(canary.astype(np.int64), 0.02).astype(float)  # twice as many
    assert rejects(count_series(bad_b, regressed, stable, canary)) == 1.0


def test_the_exponent_of_a_step_depends_only_on_earlier_steps() -> None:
    bad_b, bad_c, stable, canary = drifting(4, 50, 12, sd=0.3)
    before = dispersion_temper(count_series(bad_b, bad_c, stable, canary))
    changed = bad_c.copy()
    changed[:, -1] += 40  # only the last step differs
    after = dispersion_temper(count_series(bad_b, changed, stable, canary))
    assert np.array_equal(before, after)  # predictable: the last step's own exponent used the steps before it
    assert ((before > 0) & (before <= 1)).all() and (before[:, 0] == 1).all()


def test_a_day_long_run_is_tempered_from_a_window_of_recent_steps() -> None:
    # 1440 one-minute steps: the estimate looks at the last DISPERSION_WINDOW steps, not all of them.
    calm = count_series(*drifting(5, 4, 1440, sd=0.0, rps=3000.0, rate=0.01))
    wandering = count_series(*drifting(5, 4, 1440, sd=0.2))
    assert calm.temper is not None and wandering.temper is not None
    assert float(calm.temper[:, 100:].mean()) > 0.9
    assert float(wandering.temper[:, 100:].mean()) < 0.5
