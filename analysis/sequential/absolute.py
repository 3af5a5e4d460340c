"""Non-inferiority within an absolute margin on a rate, for events too rare to bound a ratio.

The events are errors, or requests slower than a latency edge (one row per edge). The canary adds
p_c - p_b to the rate. Two anytime-valid bounds on it, each from two
confidence sequences at alpha/4 (so all four hold together with probability 1 - alpha):

- stratified: (max(ψ⁺, 1) - 1)·p_b⁺, with ψ⁺ from the count e-process's confidence sequence on the
  canary/stable ratio (conditioned on each step, so shared load and incidents cancel) and p_b⁺;
- direct: p_c⁺ - p_b⁻, from each arm's pooled requests.

Rates are bounded with a beta-binomial mixture martingale (Robbins), which assumes an arm's requests
fail independently at one rate over the run. The canary provably adds less than Δ when the smaller
bound is below Δ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import betaln

from analysis.sequential.counts import CountJob
from analysis.sequential.evidence import LOG_PSI_CEIL, confidence_bounds, count_series
from analysis.sequential.explain import number, percent

_PRIOR = 0.5  # Beta(1/2, 1/2) mixing distribution (Jeffreys)


def _rate_bound(bad: float, total: float, alpha: float, upper: bool) -> float:
    if total <= 0:
        return 1.0 if upper else 0.0
    bad = min(max(bad, 0.0), total)
    log_mixture = float(betaln(_PRIOR + bad, _PRIOR + total - bad) - betaln(_PRIOR, _PRIOR))
    threshold = math.log(1.0 / alpha)

    def excess(p: float) -> float:  # log M(p) - log(1/alpha); M grows as p moves away from the data
        log_likelihood = bad * math.log(p) + (total - bad) * math.log1p(-p)
        return log_mixture - log_likelihood - threshold

    inside, outside = max(min(bad / total, 1.0 - 1e-15), 1e-15), (1.0 - 1e-15 if upper else 1e-15)
    if excess(outside) < 0:
        return 1.0 if upper else 0.0
    for _ in range(80):
        mid = 0.5 * (inside + outside)
        inside, outside = (mid, outside) if excess(mid) < 0 else (inside, mid)
    return outside


def rate_upper_bound(bad: float, total: float, alpha: float) -> float:
    """The upper end of an anytime-valid confidence sequence for a Bernoulli rate after ``total`` trials."""
    return _rate_bound(bad, total, alpha, upper=True)


def rate_lower_bound(bad: float, total: float, alpha: float) -> float:
    """The lower end of the same confidence sequence."""
    return _rate_bound(bad, total, alpha, upper=False)


@dataclass(frozen=True)
class AbsoluteCheck:
    """The worst row's bound: what the canary adds to errors, or to the requests slower than an edge."""

    non_inferior: bool  # every row that must be proven adds less than the margin
    added_bound: float  # the most the canary adds to the worst row's rate (at the promotion level)
    margin: float
    ratio_upper: float  # the stratified bound's inputs: psi+ and p_b+
    stable_rate_upper: float
    what: str = "errors"  # the worst row's events: "errors", or "requests slower than 250"
    direct: bool = False  # ``added_bound`` is the direct bound p_c+ - p_b- (else the stratified one)
    canary_rate_upper: float = 1.0  # the direct bound's inputs: p_c+ and p_b-
    stable_rate_lower: float = 0.0

    @property
    def inputs(self) -> str:
        """The bounds ``added_bound`` was computed from, so that a reader can redo it."""
        if self.direct:
            return f"canary rate ≤ {percent(self.canary_rate_upper)}, stable rate ≥ {percent(self.stable_rate_lower)}"
        return f"ratio ≤ {number(self.ratio_upper)}, stable rate ≤ {percent(self.stable_rate_upper)}"

    @property
    def sentence(self) -> str:
        verdict = "within" if self.non_inferior else "not yet within"
        return (
            f"the canary adds at most {100 * self.added_bound:.2f} points of {self.what} ({self.inputs}), "
            f"{verdict} the {100 * self.margin:.2f}-point absolute margin"
        )


def _row_check(job: CountJob, row: int, margin: float, alpha_promote: float, what: str) -> AbsoluteCheck:
    exposure_b = np.broadcast_to(job.exposure_stable, job.bad_stable.shape)[row]
    exposure_c = np.broadcast_to(job.exposure_canary, job.bad_stable.shape)[row]
    keep = np.broadcast_to(job.keep, job.bad_stable.shape)[row]
    one = slice(row, row + 1)  # the e-process works on (rows, steps)
    series = count_series(
        job.bad_stable[one], job.bad_canary[one], exposure_b[None, :], exposure_c[None, :], keep[None, :]
    )
    log_level = np.array([math.log(4.0 / alpha_promote)])
    upper_log = float(confidence_bounds(series, np.array([0]), np.array([-1.0]), log_level)[0])
    ratio_upper = math.exp(upper_log)  # inf when the confidence sequence is unbounded above
    usable = keep & (exposure_b > 0) & (exposure_c > 0)
    bad_b = float(np.where(usable, job.bad_stable[row], 0.0).sum())
    total_b = float(np.where(usable, exposure_b, 0.0).sum())
    bad_c = float(np.where(usable, job.bad_canary[row], 0.0).sum())
    total_c = float(np.where(usable, exposure_c, 0.0).sum())
    quarter = alpha_promote / 4.0
    rate_upper = rate_upper_bound(bad_b, total_b, quarter)
    stratified = max(ratio_upper - 1.0, 0.0) * rate_upper if upper_log < LOG_PSI_CEIL else 1.0
    canary_upper, stable_lower = rate_upper_bound(bad_c, total_c, quarter), rate_lower_bound(bad_b, total_b, quarter)
    direct = canary_upper - stable_lower
    added = max(min(stratified, direct), 0.0)
    return AbsoluteCheck(
        added < margin, added, margin, ratio_upper, rate_upper, what, direct < stratified, canary_upper, stable_lower
    )


def absolute_check(job: CountJob, margin: float, alpha_promote: float) -> AbsoluteCheck:
    """Whether ``job``'s counts prove the canary adds less than ``margin`` to the rate of every row it must prove.

    An error metric has one row; a latency metric a row per tested edge (its promotion edges must all
    pass). Promotion is an intersection-union test, so each row is checked at the full level.
    """
    rows = [r for r in range(len(job.labels)) if not job.promote or job.promote[r]]
    what = [f"requests slower than {label}" if label else "errors" for label in job.labels]
    checks = [_row_check(job, r, margin, alpha_promote, what[r]) for r in rows]
    worst = max(checks, key=lambda c: c.added_bound)
    return replace(worst, non_inferior=all(c.non_inferior for c in checks))
