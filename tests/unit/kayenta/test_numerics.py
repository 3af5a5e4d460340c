"""Pieces the oracle does not pin: the Java generator, Prometheus's histogram_quantile, the solver."""

from __future__ import annotations

import math

import pytest

from analysis.kayenta.arrays import to_array
from analysis.kayenta.brent import brent_solve
from analysis.kayenta.errors import TiedObservationsError
from analysis.kayenta.javarandom import JavaRandom
from analysis.kayenta.mannwhitney import average_ranks, mann_whitney_ci, wilcoxon_diff
from analysis.kayenta.points import histogram_quantile

BUCKETS = ((0.1, 50.0), (0.5, 90.0), (1.0, 95.0), (math.inf, 100.0))


def test_java_random_matches_the_jdk_for_seed_42() -> None:
    assert JavaRandom(42).next_gaussian() == pytest.approx(1.1419053154730547, abs=1e-15)
    source = JavaRandom(42)
    assert [source.next_int(10) for _ in range(3)] == [0, 3, 8]


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.1), (0.25, 0.05), (0.7, 0.3), (0.9, 0.5), (0.95, 1.0), (0.99, 1.0), (0.0, 0.0)],
)
def test_histogram_quantile_interpolates_like_prometheus(q: float, expected: float) -> None:
    assert histogram_quantile(q, BUCKETS) == pytest.approx(expected)


def test_histogram_quantile_edge_cases_follow_prometheus() -> None:
    assert math.isnan(histogram_quantile(0.5, BUCKETS[:-1]))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.5, ((0.1, 0.0), (math.inf, 0.0))))  # no observations
    assert math.isnan(histogram_quantile(0.5, ((math.inf, 10.0),)))  # fewer than two buckets
    assert histogram_quantile(-0.1, BUCKETS) == -math.inf
    assert histogram_quantile(1.1, BUCKETS) == math.inf
    assert histogram_quantile(0.5, ((-1.0, 10.0), (math.inf, 10.0))) == -1.0
    assert math.isnan(histogram_quantile(0.0, ((0.1, 0.0), (0.5, 5.0), (math.inf, 5.0))))


def test_average_ranks_tie_and_put_nan_last() -> None:
    assert list(average_ranks(to_array([3.0, 1.0, 3.0, math.nan, 2.0]))) == [3.5, 1.0, 3.5, 5.0, 2.0]


def test_wilcoxon_diff_refuses_all_ties() -> None:
    with pytest.raises(TiedObservationsError, match="all observations are tied"):
        wilcoxon_diff(1.0, 0.0, to_array([2.0, 2.0]), to_array([1.0, 1.0]))


def test_brent_returns_an_end_whose_value_is_zero() -> None:
    assert brent_solve(1.0, 2.0, 0.0, 5.0, lambda x: x) == 1.0
    assert brent_solve(1.0, 2.0, -5.0, 5e-324, lambda x: x) == 2.0


def test_brent_stops_within_its_absolute_tolerance() -> None:
    root = brent_solve(0.0, 2.0, -2.0, 2.0, lambda x: x * x - 2.0)
    assert abs(root - math.sqrt(2.0)) < 1e-4


def test_the_interval_of_separated_samples() -> None:
    result = mann_whitney_ci(to_array([10.0, 20.0, 30.0, 40.0]), to_array([1.0, 2.0, 3.0, 4.0]), 0.95)
    assert (result.lower, result.upper, result.estimate) == pytest.approx((6.0, 39.0, 22.5), abs=1e-6)
