"""Count metrics (errors, latency-edge exceedances): rollback and non-inferiority tests, batched.

Every error metric is one row and every tested edge of a latency metric is one row; all rows of all
metrics go through the e-process together (one vectorised pass), then are regrouped per metric.

Per row, with ψ₁ = 1 + margin:
- direction ``increase``: the row's regression evidence is the "ψ > ψ₁" e-process; it is non-inferior
  when "ψ < ψ₁" reaches 1/alpha_promote (promotion is an intersection-union test over rows and
  metrics, so no split);
- ``decrease``: the mirror image around 1/ψ₁;
- ``either``: the mean of both regression e-processes; non-inferior on both sides.
A metric regresses when the *mean* of its R rows' evidence reaches 1/alpha_m (alpha_m: the metric's
share of the rollback level). A mean of test supermartingales on the same steps is one, so Ville's
inequality holds for it; it rejects whenever Bonferroni (any row at R/alpha_m) would, and sooner
when several edges of one histogram see the same slowdown, as a shifted distribution does.
Each row's interval is its confidence sequence at the Bonferroni level R/alpha_m on the regression
side and 1/alpha_promote on the promotion side (for ``increase``); a row's lower end lies above ψ₁
exactly when that row alone proves a regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.observations import Direction, MetricSpec
from analysis.sequential.evidence import (
    CountSeries,
    confidence_bounds,
    count_series,
    log_evidence_now,
    log_evidence_path,
    log_mle,
    take,
)
from analysis.sequential.samples import BoolArray, FloatArray

_MAX_LOG = 700.0


@dataclass(frozen=True)
class CountJob:
    """One metric's count rows (shape (R, T)); exposures may be (T,) and are then shared by the rows."""

    spec: MetricSpec
    alpha: float  # the metric's share of the family-wise rollback level
    labels: tuple[str, ...]
    bad_stable: FloatArray
    bad_canary: FloatArray
    exposure_stable: FloatArray
    exposure_canary: FloatArray
    keep: BoolArray
    promote: tuple[bool, ...] = ()  # rows that must be proven non-inferior (default: all)


@dataclass(frozen=True)
class RowResult:
    label: str
    promote: bool  # part of the promotion test
    estimate: float | None  # pooled MLE of ψ: 0 with no bad events in the canary, inf with none in the stable
    interval: tuple[float, float]  # confidence sequence on ψ: a lower end of 0, an upper end of inf when unbounded
    e_value: float  # current regression evidence of this row (before the split over rows)
    peak_e_value: float  # its running maximum over looks
    threshold: float  # what this row's evidence must reach: rows x 1/alpha_m (x 2 when two-sided)
    alone: bool  # this row's evidence reaches its threshold now: its interval excludes the margin by itself
    non_inferior: bool
    slack: float  # log distance of the interval's end from the margin on the promotion side (< 0: proven)
    bad_stable: float
    bad_canary: float
    exposure_stable: float
    exposure_canary: float

    @property
    def rate_stable(self) -> float | None:
        return self.bad_stable / self.exposure_stable if self.exposure_stable > 0 else None

    @property
    def rate_canary(self) -> float | None:
        return self.bad_canary / self.exposure_canary if self.exposure_canary > 0 else None


@dataclass(frozen=True)
class CountResult:
    spec: MetricSpec
    rows: tuple[RowResult, ...]
    e_value: float = 0.0  # the metric's regression evidence now: the mean over its rows
    peak_e_value: float = 0.0  # its running maximum over looks
    level: float = math.inf  # what it must reach: 1/alpha_m

    @property
    def regressed(self) -> bool:
        """A regression was proven at some look (the evidence reached the level)."""
        return bool(self.rows) and self.peak_e_value >= self.level

    @property
    def non_inferior(self) -> bool:
        return bool(self.rows) and all(r.non_inferior for r in self.rows if r.promote)


def _exp(x: FloatArray) -> FloatArray:
    return np.asarray(np.exp(np.minimum(x, _MAX_LOG)))


def _logsumexp_rows(paths: FloatArray) -> FloatArray:
    """log Σ_rows exp(paths) per step (rows of -inf allowed)."""
    top = paths.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(safe + np.log(np.exp(paths - safe).sum(axis=0)))


def _stack(jobs: Sequence[CountJob]) -> tuple[CountSeries, list[int]]:
    owners: list[int] = []
    parts: list[list[FloatArray]] = [[], [], [], [], []]
    for j, job in enumerate(jobs):
        rows = len(job.labels)
        owners.extend([j] * rows)
        shape = (rows, job.keep.shape[-1])
        for k, array in enumerate((job.bad_stable, job.bad_canary, job.exposure_stable, job.exposure_canary, job.keep)):
            parts[k].append(np.broadcast_to(array, shape))
    b_b, b_c, r_b, r_c, keep = (np.concatenate(p, axis=0) for p in parts)
    return count_series(b_b, b_c, r_b, r_c, keep.astype(bool)), owners


def _clamp(end: FloatArray, null: FloatArray, rejected: BoolArray, lower_end: bool) -> FloatArray:
    """Put an interval end on the side of ``null`` that the exact test there decided.

    The lower end lies above ``null`` exactly when the "ψ > null" test rejects; the upper end lies
    below it exactly when the "ψ < null" test rejects. Bisection alone could miss by a hair.
    """
    if lower_end:
        return np.where(rejected, np.maximum(end, null), np.minimum(end, null))
    return np.where(rejected, np.minimum(end, null), np.maximum(end, null))


def judge_counts(jobs: Sequence[CountJob], alpha_promote: float) -> list[CountResult]:
    """Run every job's rows through the e-process at once; one result per job, in order."""
    if not any(job.labels for job in jobs):
        return [CountResult(job.spec, ()) for job in jobs]
    series, owners = _stack(jobs)
    n = series.rows
    specs = [jobs[o].spec for o in owners]
    split = np.array([len(jobs[o].labels) / jobs[o].alpha for o in owners])
    log_hi = np.array([math.log1p(max(s.margin, 0.0)) for s in specs])
    up_bad = np.array([s.direction is not Direction.DECREASE for s in specs])
    down_bad = np.array([s.direction is not Direction.INCREASE for s in specs])
    two_sided = up_bad & down_bad
    rollback_threshold = split * np.where(two_sided, 2.0, 1.0)
    log_rb, log_promote = np.log(rollback_threshold), math.log(1.0 / alpha_promote)
    # Regression evidence at every look ("ψ > ψ₁" and/or "ψ < 1/ψ₁", as the direction says)
    # and non-inferiority now (the mirror images, at the promotion level); -inf where not asked for.
    up_rows, down_rows = np.flatnonzero(up_bad), np.flatnonzero(down_bad)
    asked_rows = np.concatenate([up_rows, down_rows])
    nulls = np.concatenate([log_hi[up_rows], -log_hi[down_rows]])
    side = np.concatenate([np.ones(len(up_rows)), -np.ones(len(down_rows))])
    asked = take(series, asked_rows)
    paths = log_evidence_path(asked, nulls, side)
    good = log_evidence_now(asked, nulls, -side)
    up_path, down_path = np.full((n, paths.shape[1]), -np.inf), np.full((n, paths.shape[1]), -np.inf)
    up_path[up_rows], down_path[down_rows] = paths[: len(up_rows)], paths[len(up_rows) :]
    below_hi, above_lo = np.ones(n, dtype=bool), np.ones(n, dtype=bool)  # vacuous where not asked for
    below_hi[up_rows] = good[: len(up_rows)] >= log_promote
    above_lo[down_rows] = good[len(up_rows) :] >= log_promote
    up_now, down_now = up_path[:, -1], down_path[:, -1]
    bad_path = np.maximum(up_path, down_path)
    current, peak = _exp(bad_path[:, -1]), _exp(bad_path.max(axis=1))
    row_path = np.where(two_sided[:, None], np.logaddexp(up_path, down_path) - math.log(2.0), bad_path)
    rejected_now = current >= rollback_threshold
    non_inferior = below_hi & above_lo
    rows2 = np.concatenate([np.arange(n), np.arange(n)])
    # Interval ends at the levels of the tests they mirror (see the module docstring).
    lower_rb = np.where(two_sided, rejected_now, up_bad)
    upper_rb = np.where(two_sided, rejected_now, ~up_bad)
    ends = confidence_bounds(
        series,
        rows2,
        np.repeat([1.0, -1.0], n),
        np.concatenate([np.where(lower_rb, log_rb, log_promote), np.where(upper_rb, log_rb, log_promote)]),
    )
    lower = _clamp(
        ends[:n],
        np.where(lower_rb, log_hi, -log_hi),
        np.where(lower_rb, up_now >= log_rb, above_lo),
        lower_end=True,
    )
    upper = _clamp(
        ends[n:],
        np.where(upper_rb, -log_hi, log_hi),
        np.where(upper_rb, down_now >= log_rb, below_hi),
        lower_end=False,
    )
    slack = np.maximum(np.where(up_bad, upper - log_hi, -np.inf), np.where(down_bad, -log_hi - lower, -np.inf))
    mle = log_mle(series)
    bad_b, bad_c = (series.total_bad - series.bad_canary).sum(axis=1), series.bad_canary.sum(axis=1)
    results: list[CountResult] = []
    start = 0
    for job in jobs:
        rows = []
        keep = np.broadcast_to(job.keep, (len(job.labels), job.keep.shape[-1]))
        r_b = np.broadcast_to(job.exposure_stable, keep.shape)
        r_c = np.broadcast_to(job.exposure_canary, keep.shape)
        usable = keep & (r_b > 0) & (r_c > 0)
        for k, label in enumerate(job.labels):
            i = start + k
            rows.append(
                RowResult(
                    label=label,
                    promote=job.promote[k] if job.promote else True,
                    estimate=None if math.isnan(mle[i]) else float(np.exp(mle[i])),
                    interval=(float(np.exp(lower[i])), float(np.exp(upper[i]))),
                    e_value=float(current[i]),
                    peak_e_value=float(peak[i]),
                    threshold=float(rollback_threshold[i]),
                    alone=bool(rejected_now[i]),
                    non_inferior=bool(non_inferior[i]),
                    slack=float(slack[i]),
                    bad_stable=float(bad_b[i]),
                    bad_canary=float(bad_c[i]),
                    exposure_stable=float(np.where(usable[k], r_b[k], 0.0).sum()),
                    exposure_canary=float(np.where(usable[k], r_c[k], 0.0).sum()),
                )
            )
        if not job.labels:
            results.append(CountResult(job.spec, ()))
            continue
        metric_path = _logsumexp_rows(row_path[start : start + len(job.labels)]) - math.log(len(job.labels))
        start += len(job.labels)
        results.append(
            CountResult(
                job.spec,
                tuple(rows),
                e_value=float(_exp(metric_path[-1:])[0]),
                peak_e_value=float(_exp(metric_path.max(keepdims=True))[0]),
                level=1.0 / job.alpha,
            )
        )
    return results
