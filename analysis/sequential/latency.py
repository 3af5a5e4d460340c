"""Latency histograms as counts: requests slower than a bucket edge x, per step, arm and edge.

With cumulative ``le`` buckets, the requests slower than x are ``total - count(le = x)``, where
``total`` is the ``+Inf`` bucket (or, without one, the sample's request count). These exceedances
and the arm's total feed the count e-process exactly like errors and requests.

Which edges are tested: ``MetricSpec.latency_edges`` if given (each must then be proven
non-inferior). Otherwise the edges are chosen once, at the first step by which both arms together
have served ``EDGE_CHOICE_REQUESTS`` requests, from the pooled counts so far:

- regression tests: every finite edge that at most half of the requests exceeded and at least one
  did, plus the next edge up (so that a new slow tail just beyond the observed range is seen);
- promotion: those of them that at least a (1 - quantile) share of requests exceeded (by default
  the edges between the median and the p99: the part of the distribution the metric is about;
  rarer edges could not be shown non-inferior within any canary's traffic anyway).

The choice uses only pooled counts and exposures, which the test conditions on, and is never
revised, so the mean of the chosen edges' e-processes stays an e-process (see counts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from analysis.observations import ArmSample, MetricSpec, StepWindow
from analysis.sequential.samples import (
    IMPLAUSIBLE,
    MAX_COUNT,
    BoolArray,
    FloatArray,
    Issue,
    arm_message,
    pairs_of,
)

EDGE_CHOICE_REQUESTS = 500.0
MAX_EXCEEDING_SHARE = 0.5


@dataclass(frozen=True)
class Exceedances:
    """Per tested edge (rows) and step (columns): requests slower than the edge, per arm."""

    edges: tuple[float, ...]
    promote: BoolArray  # (E,) edges that must be proven non-inferior
    slow_stable: FloatArray  # (E, T)
    slow_canary: FloatArray
    total_stable: FloatArray  # (T,) histogram totals (0 where unusable)
    total_canary: FloatArray
    keep: BoolArray  # (E, T)
    present: BoolArray  # (T,)
    issues: tuple[Issue, ...]
    note: str  # why no edge is tested yet, or edges that are missing; "" when all is well


@dataclass(frozen=True)
class _Stack:
    """One arm's histograms of equal length, validated: rows are steps, columns buckets."""

    rows: NDArray[np.intp]
    le: FloatArray
    counts: FloatArray
    totals: FloatArray  # NaN where unusable


def _stacks(
    samples: Sequence[ArmSample | None], steps: Sequence[StepWindow], arm: str, issues: list[Issue]
) -> list[_Stack]:
    groups: dict[int, list[tuple[int, ArmSample]]] = {}
    for t, sample in enumerate(samples):
        if sample is not None and sample.buckets:
            groups.setdefault(len(sample.buckets), []).append((t, sample))
    stacks = []
    for k, group in groups.items():
        n = len(group)
        flat = np.fromiter(chain.from_iterable(chain.from_iterable(s.buckets for _, s in group)), float, 2 * k * n)
        grid = flat.reshape(n, k, 2)
        le, counts = grid[:, :, 0], grid[:, :, 1]
        scalars = np.fromiter(chain.from_iterable((s.requests, s.errors) for _, s in group), float, 2 * n)
        scalars = scalars.reshape(n, 2)
        with np.errstate(invalid="ignore", over="ignore"):
            bad = (
                np.isnan(le).any(axis=1)
                | ~np.isfinite(counts).all(axis=1)
                | (counts < 0).any(axis=1)
                | (counts > MAX_COUNT).any(axis=1)
                | (scalars > MAX_COUNT).any(axis=1)
                | ~(np.diff(le, axis=1) > 0).all(axis=1)
                | ~(np.diff(counts, axis=1) >= 0).all(axis=1)
                | ~np.isfinite(scalars).all(axis=1)
                | (scalars < 0).any(axis=1)
                | (scalars[:, 1] > scalars[:, 0])
            )
            closed = np.isposinf(le[:, -1])
            total = np.where(closed, counts[:, -1], scalars[:, 0])
            unclosed = ~bad & ~closed & (scalars[:, 0] < counts[:, -1])
        for i in np.flatnonzero(bad | unclosed):
            t, sample = group[i]
            message = (
                arm_message(sample, arm, "histogram has infinite or " + IMPLAUSIBLE)
                if bad[i]
                else f"{arm} histogram has no +Inf bucket and fewer requests than its count"
            )
            issues.append(Issue(t, steps[t].index, message))
        totals = np.where(bad | unclosed, np.nan, total)
        stacks.append(_Stack(np.array([t for t, _ in group]), le, counts, totals))
    return stacks


def _same_edge(le: FloatArray, candidates: FloatArray) -> BoolArray:
    """Which ``le`` values are each candidate (a relative tolerance of 1e-9 absorbs unit conversions)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(
            np.abs(le[None, ...] - candidates.reshape((-1,) + (1,) * le.ndim))
            <= 1e-9 * np.abs(candidates.reshape((-1,) + (1,) * le.ndim))
        )


def _at_edges(stacks: Sequence[_Stack], steps: int, candidates: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Totals (T,) and cumulative counts at ``candidates`` (C, T); NaN where absent or unusable."""
    totals = np.full(steps, np.nan)
    cumulative = np.full((len(candidates), steps), np.nan)
    for stack in stacks:
        totals[stack.rows] = stack.totals
        usable: BoolArray = np.isfinite(stack.totals)
        if (stack.le == stack.le[0]).all():  # one layout for every step: match the edges once
            match = _same_edge(stack.le[0], candidates)  # (C, k)
            found = np.asarray(match.any(axis=1))[:, None] & usable[None, :]
            at_edge = stack.counts[:, np.argmax(match, axis=1)].T  # (C, n)
        else:
            match = _same_edge(stack.le, candidates)  # (C, n, k)
            found = match.any(axis=2) & usable[None, :]
            at_edge = np.where(match, stack.counts[None, :, :], 0.0).sum(axis=2)
        cumulative[:, stack.rows] = np.where(found, at_edge, np.nan)
    return totals, cumulative


def _choose(slow: FloatArray, totals: FloatArray, keep: BoolArray, quantile: float) -> tuple[BoolArray, BoolArray, str]:
    """The automatic edge choice (see the module docstring): (tested, promote, note)."""
    none = np.zeros(slow.shape[0], dtype=bool)
    pooled = np.cumsum(np.where(np.isfinite(totals), totals, 0.0))
    reached = np.flatnonzero(pooled >= EDGE_CHOICE_REQUESTS)
    if reached.size == 0:
        have = float(pooled[-1]) if pooled.size else 0.0
        return (
            none,
            none,
            (f"choosing bucket edges needs {EDGE_CHOICE_REQUESTS:.0f} requests in both arms together (has {have:.0f})"),
        )
    upto = int(reached[0]) + 1
    mask = keep[:, :upto]
    slow_sum = np.where(mask, slow[:, :upto], 0.0).sum(axis=1)
    total_sum = np.where(mask, totals[None, :upto], 0.0).sum(axis=1)
    share = slow_sum / np.maximum(total_sum, 1.0)
    observed = (slow_sum >= 1.0) & (share <= MAX_EXCEEDING_SHARE)
    if not observed.any():
        return none, none, "no bucket edge is exceeded by at most half of the requests yet"
    tested = observed.copy()
    beyond = int(np.flatnonzero(observed)[-1]) + 1
    if beyond < len(tested):
        tested[beyond] = True
    promote = observed & (share >= 1.0 - quantile)
    if not promote.any():
        promote[int(np.argmax(np.where(observed, share, -1.0)))] = True
    return tested, promote, ""


def _missing_note(candidates: FloatArray, seen: BoolArray, unit: str) -> str:
    """Which listed edges no step has in both arms' histograms: they cannot be proven, so they hold promotion;
    the edges that are there are judged all the same."""
    names = [f"{e:g} {unit}".strip() for e in candidates]
    missing = [name for name, there in zip(names, seen, strict=True) if not there]
    judged = [name for name, there in zip(names, seen, strict=True) if there]
    if not missing:
        return ""
    one = len(missing) == 1
    edge = f"edge{'' if one else 's'} {', '.join(missing)}"
    question = "(is it a bucket boundary?)" if one else "(is each a bucket boundary?)"
    if not judged:
        return f"no step has {edge} in both arms' histograms {question}"
    others = f"the other edge ({judged[0]}) is" if len(judged) == 1 else f"the other edges ({', '.join(judged)}) are"
    return (
        f"no step has {edge} in both arms' histograms {question}: {'it holds' if one else 'they hold'} promotion, "
        f"and {others} judged"
    )


def read_latency(steps: Sequence[StepWindow], spec: MetricSpec) -> Exceedances:
    pairs = pairs_of(steps, spec.name)
    issues: list[Issue] = []
    stable_stacks = _stacks([p.stable if p else None for p in pairs], steps, "stable", issues)
    canary_stacks = _stacks([p.canary if p else None for p in pairs], steps, "canary", issues)
    if spec.latency_edges:
        candidates = np.unique(np.array([e for e in spec.latency_edges if np.isfinite(e)], dtype=float))
    else:
        good_rows = [s.le[np.isfinite(s.totals)] for s in stable_stacks + canary_stacks]
        seen = [le[np.isfinite(le)] for le in good_rows]
        candidates = np.unique(np.concatenate(seen)) if seen else np.zeros(0)
    total_stable, cum_stable = _at_edges(stable_stacks, len(steps), candidates)
    total_canary, cum_canary = _at_edges(canary_stacks, len(steps), candidates)
    slow_stable = np.rint(total_stable)[None, :] - np.rint(cum_stable)
    slow_canary = np.rint(total_canary)[None, :] - np.rint(cum_canary)
    keep = np.isfinite(slow_stable) & np.isfinite(slow_canary)
    if spec.latency_edges:
        # Every listed edge keeps its share of alpha, with or without data, so the split never moves.
        tested = np.ones(len(candidates), dtype=bool)
        promote = tested
        note = _missing_note(candidates, keep.any(axis=1), spec.unit)
    else:
        pooled = np.where(np.isfinite(total_stable + total_canary), total_stable + total_canary, np.nan)
        tested, promote, note = _choose(slow_stable + slow_canary, pooled, keep, spec.quantile)
    issues.sort(key=lambda issue: issue.position)
    return Exceedances(
        edges=tuple(float(e) for e in candidates[tested]),
        promote=promote[tested],
        slow_stable=np.where(keep, slow_stable, 0.0)[tested],
        slow_canary=np.where(keep, slow_canary, 0.0)[tested],
        total_stable=np.nan_to_num(total_stable),
        total_canary=np.nan_to_num(total_canary),
        keep=keep[tested],
        present=np.array([p is not None for p in pairs], dtype=bool),
        issues=tuple(issues),
        note=note,
    )
