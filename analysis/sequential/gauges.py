"""Gauges (CPU, memory, queue depth): an anytime-valid t-test on per-step block means.

Per step the block mean of the canary's samples minus the block mean of the stable's samples
gives one difference d_t. The test is the scale-invariant Bayes factor of the one-sample t-test
with a N(0, g) prior on the standardised effect δ = μ/sigma and the right-Haar prior on sigma:

    BF_n = (1 + n·g)^(-1/2) · [(1 + t²/(nu(1 + n·g))) / (1 + t²/nu)]^(-(nu+1)/2),   nu = n - 1.

It is the likelihood ratio of the scale-invariant part of the data, hence a nonnegative martingale
under μ = 0 whatever sigma is, and Ville's inequality holds for all n at once. To test μ ≤ margin the
blocks are shifted by the margin and only looks with t > 0 count as evidence; shifting every block
down can only lower every t, so the level holds for the whole composite null. Inverting it gives a closed-form
confidence sequence x̄ ± t*_n(alpha)·s/√n.

Assumptions (documented, not checked): the block differences are independent and roughly Normal
with a common variance, i.e. steps are longer than the gauge's decorrelation time. A drift such as
a memory leak breaks stationarity and shows up as a regression, which is the useful reading.
``g = 1`` puts the prior on effects of about one block standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.sequential.samples import FloatArray

PRIOR_VARIANCE = 1.0


@dataclass(frozen=True)
class GaugeEvidence:
    """One gauge metric's test results, in the metric's own unit (canary - stable)."""

    blocks: int
    estimate: float
    interval: tuple[float, float]
    e_value: float  # current evidence of a regression beyond the margin
    max_e_value: float  # its running maximum over looks (rollback and p-value use it)
    non_inferior: bool


def _log_bf(t: FloatArray, n: FloatArray) -> FloatArray:
    nu = n - 1.0
    a = 1.0 + n * PRIOR_VARIANCE
    t2 = np.minimum(t * t, 1e300)
    return np.asarray(-0.5 * np.log(a) - 0.5 * (nu + 1.0) * (np.log1p(t2 / (a * nu)) - np.log1p(t2 / nu)))


def critical_t(n: int, alpha: float) -> float:
    """The |t| at which BF_n reaches 1/alpha (inf when n blocks can never get there)."""
    if n < 2:
        return math.inf
    nu, a = n - 1.0, 1.0 + n * PRIOR_VARIANCE
    k = math.exp((0.5 * math.log(a) - math.log(alpha)) * 2.0 / (nu + 1.0))
    if k >= a:
        return math.inf
    return math.sqrt(nu * (k - 1.0) / (1.0 - k / a))


def _half_width(n: int, alpha: float, se: float) -> float:
    t = critical_t(n, alpha)
    return t * se if math.isfinite(t) else math.inf


def _t_paths(d: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Running mean, standard error and block count of d (each shaped like d)."""
    n = np.arange(1, len(d) + 1, dtype=float)
    mean = np.cumsum(d) / n
    square = np.cumsum(d * d) / n
    var = np.maximum(square - mean * mean, 0.0) * n / np.maximum(n - 1.0, 1.0)
    return mean, np.sqrt(var / n), n


def _one_sided_log_e(mean: FloatArray, se: FloatArray, n: FloatArray, shift: float, sign: float) -> FloatArray:
    """log of the one-sided e-value on (d - shift): BF_n when sign·t > 0, else min(BF_n, 1).

    Each look's value is at most BF_n, so it is an e-value, and its running maximum reaches 1/alpha
    only when BF_n does. Before two blocks it is 1 (no evidence).
    """
    centred = sign * (mean - shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, centred / np.where(se > 0, se, 1.0), np.where(centred > 0, np.inf, 0.0))
    log_e = _log_bf(t, np.maximum(n, 2.0))
    return np.where(n >= 2, np.where(t > 0, log_e, np.minimum(log_e, 0.0)), 0.0)


def gauge_evidence(
    d: FloatArray,
    margin: float,
    direction_sign: float,
    two_sided: bool,
    alpha_rollback: float,
    alpha_promote: float,
) -> GaugeEvidence:
    """Test the block differences ``d`` (canary - stable, in time order).

    ``direction_sign`` is +1 when an increase is bad and -1 when a decrease is; ``two_sided`` when
    both are (then each side gets half of ``alpha_rollback`` and the interval uses the same level).
    """
    mean, se, n = _t_paths(d)
    count = len(d)
    if two_sided:
        up = _one_sided_log_e(mean, se, n, margin, 1.0)
        down = _one_sided_log_e(mean, se, n, -margin, -1.0)
        log_e = np.maximum(up, down) - math.log(2.0)
    else:
        log_e = _one_sided_log_e(mean, se, n, direction_sign * margin, direction_sign)
    if count == 0:
        return GaugeEvidence(0, math.nan, (-math.inf, math.inf), 1.0, 1.0, False)
    current = float(np.exp(min(float(log_e[-1]), 700.0)))
    peak = float(np.exp(min(float(log_e.max()), 700.0)))
    x, s = float(mean[-1]), float(se[-1])
    good_side = _half_width(count, alpha_promote, s)
    if two_sided:
        rolled = current * alpha_rollback >= 1.0
        half = _half_width(count, alpha_rollback / 2.0, s) if rolled else good_side
        interval = (x - half, x + half)
        non_inferior = x + good_side < margin and x - good_side > -margin
    else:
        bad_side = _half_width(count, alpha_rollback, s)
        low, high = (good_side, bad_side) if direction_sign < 0 else (bad_side, good_side)
        interval = (x - low, x + high)
        non_inferior = direction_sign * x + good_side < margin
    return GaugeEvidence(count, x, interval, current, peak, non_inferior)
