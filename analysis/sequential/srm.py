"""Sample-ratio mismatch: does the canary get the share of requests its weight promises?

Each request is routed to the canary with probability w_t (the step's canary weight), so given a
step's total requests the canary's count is Binomial(total, w_t). A mismatch by an odds factor κ
makes that share κ·w/(κ·w + 1 - w): exactly the count model of :mod:`evidence` with exposures
(1 - w, w) and the canary's requests as the "bad" events. The gate averages two one-sided mixture
e-processes (a two-sided sequential multinomial test in the spirit of stats.md §3.2, stratified by
step so that changing weights are handled), and flags a mismatch when the current value reaches
1/srm_alpha. Steps at weight 0 or 100 carry no information (mirrored traffic may reach a canary at
weight 0). The gate only ever holds: the regression tests condition on the exposures actually
observed, so a mismatch does not bias them, but it may mean the arms see different traffic, which
makes promotion unsafe.

The null is not κ = 1 exactly but |log κ| ≤ log(1 + tolerance): each one-sided e-process tests from
the edge of that zone outwards (the conditional Binomial has a monotone likelihood ratio, so the
test from the edge is valid for every κ inside). A point null is too strict at production traffic:
the seconds a proxy takes to apply a new weight leave each step's canary a few percent short of its
share, which at 2000 req/s a point-null gate flagged in every run (holding it until the deadline),
while the mismatches worth stopping for (a route ignored, a canary half-ready) are far outside 10%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.sequential.evidence import count_series, log_evidence_now
from analysis.sequential.explain import number
from analysis.sequential.samples import BoolArray, FloatArray


@dataclass(frozen=True)
class SplitCheck:
    mismatch: bool
    e_value: float
    observed_share: float | None  # percent of requests the canary got, over the informative steps
    expected_share: float | None  # percent its weights promised

    def describe(self, srm_alpha: float, tolerance: float = 0.0) -> str:
        if self.observed_share is None or self.expected_share is None:
            return "no step with a canary weight strictly between 0 and 100 and traffic to check the split"
        off = f"the traffic split is off by more than {tolerance:.0%}" if tolerance > 0 else "the traffic split is off"
        verdict = off if self.mismatch else "the traffic split matches the weights"
        return (
            f"{verdict}: the canary got {self.observed_share:.2f}% of requests where its weights "
            f"promise {self.expected_share:.2f}% (split e-value {number(self.e_value)}, "
            f"threshold {number(1 / srm_alpha)})"
        )


def check_split(
    weights: FloatArray,
    requests_stable: FloatArray,
    requests_canary: FloatArray,
    usable: BoolArray,
    srm_alpha: float,
    tolerance: float = 0.0,
) -> SplitCheck:
    w = np.where(np.isfinite(weights), weights, -1.0) / 100.0
    informative = usable & (w > 0) & (w < 1) & (requests_stable + requests_canary > 0)
    if not informative.any():
        return SplitCheck(False, 1.0, None, None)
    w = np.where(informative, w, 0.5)

    def twice(row: FloatArray) -> FloatArray:
        return np.repeat(row[None, :], 2, axis=0)

    both = count_series(
        twice(requests_stable),
        twice(requests_canary),
        twice(1.0 - w),
        twice(w),
        np.repeat(informative[None, :], 2, 0),
    )
    edge = float(np.log1p(tolerance))
    log_e = log_evidence_now(both, np.array([edge, -edge]), np.array([1.0, -1.0]))
    e_value = 0.5 * float(np.exp(np.minimum(log_e, 700.0)).sum())
    totals = both.total_bad[0]
    if totals.sum() <= 0:
        return SplitCheck(False, 1.0, None, None)
    share = float(both.bad_canary[0].sum() / totals.sum())
    expected = float((w * totals).sum() / totals.sum())
    return SplitCheck(e_value * srm_alpha >= 1.0, e_value, 100.0 * share, 100.0 * expected)
