"""The Mann-Whitney confidence interval and shift estimate, as Kayenta computes them.

A port of R's ``wilcox.test(conf.int=TRUE, exact=FALSE, correct=TRUE)`` for two samples: the
normal approximation with tie and continuity corrections, inverted with Brent's root finder
(``brent.py``) at an absolute tolerance of 1e-4. ``x`` is the experiment (canary), ``y`` the
control (baseline); the interval and estimate are for the shift ``x - y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from analysis.kayenta.arrays import FloatArray
from analysis.kayenta.brent import brent_solve
from analysis.kayenta.errors import TiedObservationsError


@dataclass(frozen=True)
class MannWhitneyResult:
    """The interval ``[lower, upper]`` for the shift x - y and its estimate.

    Kayenta does not sort the interval: with heavy ties the solver's tolerance can invert it.
    """

    lower: float
    upper: float
    estimate: float


@dataclass(frozen=True)
class _Ranking:
    ranks: FloatArray
    tie_sizes: list[int]


def _rank(values: FloatArray) -> _Ranking:
    """Average ranks (1-based); NaN ranks as the largest value, tied with +inf."""
    cleaned = np.where(np.isnan(values), np.inf, values)
    order = np.argsort(cleaned, kind="mergesort")
    ordered = cleaned[order]
    count = len(ordered)
    if count == 0:
        return _Ranking(np.zeros(0, dtype=np.float64), [])
    is_new = np.ones(count, dtype=bool)
    is_new[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(is_new)
    ends = np.append(starts[1:], count)
    sizes = ends - starts
    ranks = np.empty(count, dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, sizes)
    return _Ranking(ranks, [int(size) for size in sizes])


def average_ranks(values: FloatArray) -> FloatArray:
    """Ranks 1..n with ties given their average rank (commons-math NaturalRanking, NaN maximal)."""
    return _rank(values).ranks


def _sign(value: float) -> float:
    if value > 0:
        return 1.0
    if value < 0:
        return -1.0
    return value  # 0 (or NaN)


def wilcoxon_diff(mu: float, zq: float, x: FloatArray, y: FloatArray) -> float:
    """The standardised, continuity-corrected rank-sum of ``x - mu`` against ``y``, minus ``zq``.

    Its root in ``mu`` is an end of the confidence interval (``zq`` a normal quantile) or the
    estimate (``zq = 0``). Raises TiedObservationsError when the variance is zero.
    """
    nx, ny = len(x), len(y)
    ranking = _rank(np.concatenate([x - mu, y]))
    dz = float(np.sum(ranking.ranks[:nx])) - nx * (nx + 1) / 2 - nx * ny / 2
    total = nx + ny
    ties = sum(size**3 - size for size in ranking.tie_sizes)
    variance = nx * ny / 12 * ((total + 1) - ties / (total * (total - 1))) if total > 1 else 0.0
    sigma = math.sqrt(variance) if variance > 0 else 0.0
    if sigma == 0.0:
        raise TiedObservationsError("cannot compute confidence interval when all observations are tied")
    return (dz - _sign(dz) * 0.5) / sigma - zq


def normal_quantile(p: float) -> float:
    """The standard normal quantile function."""
    return float(norm.ppf(p))


def wilcoxon_diff_at(zq: float, x: FloatArray, y: FloatArray) -> Callable[[float], float]:
    """``wilcoxon_diff`` as a function of ``mu`` alone."""
    return lambda mu: wilcoxon_diff(mu, zq, x, y)


def _interval_end(zq: float, mu_min: float, mu_max: float, x: FloatArray, y: FloatArray) -> float:
    diff = wilcoxon_diff_at(zq, x, y)
    f_lower = diff(mu_min)
    f_upper = diff(mu_max)
    if f_lower <= 0:
        return mu_min
    if f_upper >= 0:
        return mu_max
    return brent_solve(mu_min, mu_max, f_lower, f_upper, diff)


def mann_whitney_ci(x: FloatArray, y: FloatArray, confidence: float) -> MannWhitneyResult:
    """Kayenta's Mann-Whitney interval and estimate of the shift ``x - y``.

    Both samples must be non-empty. Raises TiedObservationsError when every observation is tied.
    """
    alpha = 1.0 - confidence
    mu_min = float(np.min(x) - np.max(y))
    mu_max = float(np.max(x) - np.min(y))
    z = normal_quantile(alpha / 2)
    lower = _interval_end(-z, mu_min, mu_max, x, y)
    upper = _interval_end(z, mu_min, mu_max, x, y)
    centre = wilcoxon_diff_at(0.0, x, y)
    estimate = brent_solve(mu_min, mu_max, centre(mu_min), centre(mu_max), centre)
    return MannWhitneyResult(lower, upper, estimate)
