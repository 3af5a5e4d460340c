"""Turn the steps' samples of one metric into arrays, and find the data that cannot be used.

A step whose sample is bad (NaN, negative or infinite counts, a counter reset, errors above
requests, non-monotone buckets) is excluded from that metric's tests and reported as an issue; a
missing sample or an arm without traffic only carries no information. Validation is vectorised
and the readable message comes from :meth:`ArmSample.problems` of the offending sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.observations import ArmSample, MetricPair, StepWindow

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MAX_COUNT = 1e15  # more requests than this in one step is a broken series, not traffic
MAX_GAUGE = 1e100
IMPLAUSIBLE = f"counts are implausibly large (over {MAX_COUNT:g} in one step)"


@dataclass(frozen=True)
class Issue:
    """Something wrong with one step's data for one metric."""

    position: int  # 0-based position in the steps judged
    step: int  # StepWindow.index, for people
    message: str

    def describe(self) -> str:
        return f"step {self.step}: {self.message}"


@dataclass(frozen=True)
class Counts:
    """Requests and errors of one metric per step (arrays of length T)."""

    requests_stable: FloatArray
    requests_canary: FloatArray
    errors_stable: FloatArray
    errors_canary: FloatArray
    present: BoolArray  # the step has a sample for this metric
    keep: BoolArray  # present and clean
    issues: tuple[Issue, ...]


def pairs_of(steps: Sequence[StepWindow], name: str) -> list[MetricPair | None]:
    return [step.metrics.get(name) for step in steps]


def _scalar_problems(values: FloatArray) -> BoolArray:
    """Rows (requests, errors) that ArmSample.problems() would flag, for one arm; values is (T, 2)."""
    requests, errors = values[:, 0], values[:, 1]
    bad = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1) | (values > MAX_COUNT).any(axis=1)
    return np.asarray(bad | (errors > requests))


def arm_message(sample: ArmSample, arm: str, fallback: str) -> str:
    found = sample.problems()
    return f"{arm} " + ("; ".join(found) if found else fallback)


def read_counts(steps: Sequence[StepWindow], name: str) -> Counts:
    """Requests and errors per step and arm, with the steps that must be excluded."""
    pairs = pairs_of(steps, name)
    empty = ArmSample()
    stable = np.array([(p.stable.requests, p.stable.errors) if p else (0.0, 0.0) for p in pairs], dtype=float)
    canary = np.array([(p.canary.requests, p.canary.errors) if p else (0.0, 0.0) for p in pairs], dtype=float)
    stable, canary = stable.reshape(-1, 2), canary.reshape(-1, 2)
    present = np.array([p is not None for p in pairs], dtype=bool)
    bad_stable, bad_canary = _scalar_problems(stable), _scalar_problems(canary)
    issues = []
    for t in np.flatnonzero(present & (bad_stable | bad_canary)):
        pair = pairs[t] or MetricPair(empty, empty)
        arm, sample = ("stable", pair.stable) if bad_stable[t] else ("canary", pair.canary)
        issues.append(Issue(int(t), steps[int(t)].index, arm_message(sample, arm, IMPLAUSIBLE)))
    keep = present & ~bad_stable & ~bad_canary
    stable, canary = np.where(keep[:, None], stable, 0.0), np.where(keep[:, None], canary, 0.0)
    return Counts(stable[:, 0], canary[:, 0], stable[:, 1], canary[:, 1], present, keep, tuple(issues))


@dataclass(frozen=True)
class Gauges:
    """Per-step block means of one gauge metric, for steps where both arms have clean samples."""

    difference: FloatArray  # canary mean - stable mean, per kept step (compressed)
    positions: NDArray[np.intp]  # positions of the kept steps
    samples_stable: float
    samples_canary: float
    mean_stable: float | None
    mean_canary: float | None
    requests_stable: float
    requests_canary: float
    present: BoolArray
    issues: tuple[Issue, ...]


def read_gauges(steps: Sequence[StepWindow], name: str) -> Gauges:
    pairs = pairs_of(steps, name)
    diffs: list[float] = []
    positions: list[int] = []
    issues: list[Issue] = []
    sums, counts, requests = [0.0, 0.0], [0, 0], [0.0, 0.0]
    for t, pair in enumerate(pairs):
        if pair is None:
            continue
        arms = (("stable", pair.stable), ("canary", pair.canary))
        broken = [(arm, s) for arm, s in arms if s.problems() or any(abs(g) > MAX_GAUGE for g in s.gauges)]
        if broken:
            arm, sample = broken[0]
            issues.append(Issue(t, steps[t].index, arm_message(sample, arm, "gauge samples are implausibly large")))
            continue
        for k, (_, sample) in enumerate(arms):
            sums[k] += math.fsum(sample.gauges)
            counts[k] += len(sample.gauges)
            requests[k] += sample.requests
        if pair.stable.gauges and pair.canary.gauges:
            stable_mean = math.fsum(pair.stable.gauges) / len(pair.stable.gauges)
            canary_mean = math.fsum(pair.canary.gauges) / len(pair.canary.gauges)
            diffs.append(canary_mean - stable_mean)
            positions.append(t)
    return Gauges(
        difference=np.array(diffs, dtype=float),
        positions=np.array(positions, dtype=np.intp),
        samples_stable=float(counts[0]),
        samples_canary=float(counts[1]),
        mean_stable=sums[0] / counts[0] if counts[0] else None,
        mean_canary=sums[1] / counts[1] if counts[1] else None,
        requests_stable=requests[0],
        requests_canary=requests[1],
        present=np.array([p is not None for p in pairs], dtype=bool),
        issues=tuple(issues),
    )
