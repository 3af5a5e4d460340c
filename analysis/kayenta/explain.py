"""Plain sentences for the engine's verdicts."""

from __future__ import annotations

from analysis.kayenta.config import JUDGE_CONFIDENCE, JUDGE_TOLERANCE
from analysis.kayenta.metric import MetricResult
from analysis.kayenta.model import Classification, ClassifierResult
from analysis.observations import Direction, MetricKind, MetricSpec


def number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def quantity(spec: MetricSpec) -> str:
    """What a point of the metric is, e.g. "error ratio" or "p99 latency"."""
    if spec.kind is MetricKind.ERRORS:
        return "error ratio"
    if spec.kind is MetricKind.LATENCY:
        return f"p{spec.quantile * 100:g} latency"
    return "gauge mean"


def _band_clause(detail: ClassifierResult, direction: Direction) -> str:
    lower, upper = detail.interval or (0.0, 0.0)
    band = detail.band or 0.0
    where = f"±{JUDGE_TOLERANCE:.0%} of the estimate {number(detail.estimate)}"
    if detail.classification is Classification.HIGH:
        return f"lies above {where}"
    if detail.classification is Classification.LOW:
        return f"lies below {where}"
    if lower > band:
        return f"lies above {where}, but " + (
            "only a decrease counts against this metric"
            if direction is Direction.DECREASE
            else f"the mean ratio is under the allowed increase {number(1.0)}"
        )
    if upper < -band:
        return f"lies below {where}, but " + (
            "only an increase counts against this metric"
            if direction is Direction.INCREASE
            else f"the mean ratio is over the allowed decrease {number(1.0)}"
        )
    return f"does not clear {where}"


def _tested(result: MetricResult, spec: MetricSpec) -> str:
    detail = result.detail
    lower, upper = detail.interval or (0.0, 0.0)
    text = (
        f"canary {quantity(spec)} is {result.classification}: Mann-Whitney {JUDGE_CONFIDENCE:.0%} CI "
        f"[{number(lower)}, {number(upper)}] {_band_clause(detail, spec.direction)}; "
        f"mean ratio {number(result.deviation)}"
    )
    if detail.jittered:
        text += " (each arm was constant, so both were jittered as Kayenta does)"
    if result.critical:
        text += "; a critical failure"
    return text


def metric_reason(result: MetricResult, spec: MetricSpec) -> str:
    """Why the metric got its classification, in one sentence."""
    points = f"{result.experiment.count} canary and {result.control.count} stable points"
    label = result.classification
    if label in (Classification.NODATA, Classification.NODATA_FAIL):
        return f"canary {quantity(spec)} has no data to compare: {points} ({result.reason})"
    if label is Classification.ERROR:
        return f"canary {quantity(spec)} could not be classified ({points}): {result.reason}"
    if result.detail.interval is None:
        return f"canary {quantity(spec)} is {label}: {result.reason} ({points})"
    return _tested(result, spec)
