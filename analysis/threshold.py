"""The threshold engine: Flagger-style ranges on the canary alone (for migration and as a baseline).

What it mirrors from Flagger's analysis (``analysis.metrics[].thresholdRange`` and
``analysis.threshold``):

- each step, every metric's canary aggregate over the step (what Flagger's query over
  ``interval`` returns) is checked against ``[min_value, max_value]``: ``request-success-rate`` as
  100 x (1 - errors/requests), ``request-duration`` as ``histogram_quantile`` of the buckets (with
  Prometheus's interpolation), a gauge as its mean;
- a step with any metric out of range is one failed check (Flagger counts once per analysis run,
  however many metrics fail), and failed checks accumulate over the whole run: they are never
  reset by passing steps;
- the canary is rolled back when failed checks reach the threshold (Flagger's ``threshold``):
  ``EngineConfig.failure_threshold`` when the Experiment sets ``analysis.failureThreshold``, else the
  judge's own (``FAILURE_THRESHOLD``, 5, Flagger's default); a step where every metric is in range
  advances, and a failed check short of the threshold holds the weights (``Decision.adverse``), as
  Flagger halts advancement on it.

Where it deliberately differs: a metric with no data (no requests, no samples, an empty
histogram) or with bad data holds the step and is *not* a failed check (Flagger counts "no values
found" as a failure and so rolls back every canary during a metrics outage); advancing also needs
the canary to have served ``EngineConfig.min_requests`` requests over the whole run, not in one
step (``Decision.canary_requests`` carries that count to the rollout's own gate); and ``final=True``
turns a hold into INCONCLUSIVE. There is no baseline comparison and no statistical error control:
that is the point of comparing it with the sequential engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from analysis.aggregates import histogram_quantile
from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricSpec, StepWindow
from analysis.verdicts import Decision, MetricVerdict, Outcome


@dataclass(frozen=True)
class _Reading:
    value: float | None  # None: no data or bad data
    why: str  # what is missing or wrong when value is None
    n: float  # requests (or samples) behind the value


def _aggregate(spec: MetricSpec, sample: ArmSample) -> _Reading:
    problems = sample.problems()
    if problems:
        return _Reading(None, "bad data: " + "; ".join(problems), 0.0)
    if spec.kind is MetricKind.ERRORS:
        if sample.requests <= 0:
            return _Reading(None, "no requests", 0.0)
        return _Reading(100.0 * (1.0 - sample.errors / sample.requests), "", sample.requests)
    if spec.kind is MetricKind.LATENCY:
        value = histogram_quantile(spec.quantile, sample.buckets)
        n = sample.buckets[-1][1] if sample.buckets else 0.0
        if math.isnan(value):
            return _Reading(None, "no histogram observations (or no +Inf bucket)", n)
        return _Reading(value, "", n)
    if not sample.gauges:
        return _Reading(None, "no gauge samples", 0.0)
    n = len(sample.gauges)
    return _Reading(math.fsum(g / n for g in sample.gauges), "", float(n))  # divided first: no overflow


def _describe(spec: MetricSpec) -> str:
    if spec.kind is MetricKind.ERRORS:
        return "success rate"
    if spec.kind is MetricKind.LATENCY:
        return f"p{100 * spec.quantile:g}"
    return "mean"


def _check(spec: MetricSpec, value: float) -> tuple[bool, float | None, str]:
    """(passes, the bound it was compared with, the comparison in words)."""
    unit = "%" if spec.kind is MetricKind.ERRORS else f" {spec.unit}" if spec.unit else ""
    shown = f"{_describe(spec)} {value:.4g}{unit}"
    if spec.min_value is not None and value < spec.min_value:
        return False, spec.min_value, f"{shown} < min {spec.min_value:g}{unit}"
    if spec.max_value is not None and value > spec.max_value:
        return False, spec.max_value, f"{shown} > max {spec.max_value:g}{unit}"
    bound = spec.max_value if spec.max_value is not None else spec.min_value
    return True, bound, f"{shown} within range"


def _requests(sample: ArmSample) -> float:
    """The canary's requests in a sample: the request count, or the histogram's total."""
    histogram = sample.buckets[-1][1] if sample.buckets and math.isinf(sample.buckets[-1][0]) else 0.0
    return max(sample.requests, histogram)


@dataclass(frozen=True)
class _Check:
    spec: MetricSpec
    canary: _Reading
    stable: _Reading
    passes: bool
    bound: float | None
    text: str

    @property
    def has_data(self) -> bool:
        return self.canary.value is not None


def _checks(step: StepWindow, config: EngineConfig) -> list[_Check]:
    checks = []
    for spec in config.metrics:
        pair = step.metrics.get(spec.name)
        if pair is None:
            missing = _Reading(None, f"no data in step {step.index}", 0.0)
            checks.append(_Check(spec, missing, missing, True, None, missing.why))
            continue
        canary, stable = _aggregate(spec, pair.canary), _aggregate(spec, pair.stable)
        if canary.value is None:
            checks.append(_Check(spec, canary, stable, True, None, f"canary {canary.why} in step {step.index}"))
            continue
        passes, bound, text = _check(spec, canary.value)
        checks.append(_Check(spec, canary, stable, passes, bound, text))
    return checks


def _exposure(steps: Sequence[StepWindow], config: EngineConfig) -> float:
    """The requests the canary served over every step judged (minRequests counts the whole run, not a step): the
    largest over the metrics, each summing the steps whose canary sample is sound."""
    return max(
        (
            sum(_requests(p.canary) for step in steps if (p := step.metrics.get(spec.name)) and not p.canary.problems())
            for spec in config.metrics
        ),
        default=0.0,
    )


FAILURE_THRESHOLD = 5  # Flagger's default analysis.threshold: failed checks before a rollback


class ThresholdJudge:
    """Flagger-style engine (see the module docstring). Pure: no I/O, no clock."""

    name: str

    def __init__(self, name: str = "threshold", failure_threshold: int = FAILURE_THRESHOLD) -> None:
        self.name = name
        self.failure_threshold = failure_threshold

    def _threshold(self, config: EngineConfig) -> int:
        """Failed checks before a rollback: the Experiment's ``failureThreshold`` if it sets one, else the judge's."""
        return self.failure_threshold if config.failure_threshold is None else config.failure_threshold

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        try:
            return self._judge(steps, config, final)
        except Exception as exc:  # a last resort: a controller must never crash on input it cannot judge
            return self._undecided(
                f"the threshold engine could not judge this input ({type(exc).__name__}: {exc})",
                (),
                final,
                blocked=True,
            )

    def _judge(self, steps: Sequence[StepWindow], config: EngineConfig, final: bool) -> Decision:
        if not steps:
            return self._undecided("no steps observed yet", (), final, blocked=True)
        exposure = _exposure(steps, config)
        return replace(self._decide(steps, config, final, exposure), canary_requests=exposure)

    def _decide(self, steps: Sequence[StepWindow], config: EngineConfig, final: bool, exposure: float) -> Decision:
        per_step = [_checks(step, config) for step in steps]
        failed = sum(1 for checks in per_step if any(c.has_data and not c.passes for c in checks))
        current = per_step[-1]
        threshold = self._threshold(config)
        rolled = failed >= threshold
        verdicts = tuple(self._verdict(c, f"{failed} of {threshold}", rolled) for c in current)
        if rolled:
            failing = "; ".join(f"{c.spec.name}: {c.text}" for c in current if c.has_data and not c.passes)
            reason = f"rollback: {failed} failed check{'' if failed == 1 else 's'} reached the threshold of {threshold}"
            return Decision(Outcome.ROLLBACK, reason + (f" ({failing})" if failing else ""), self.name, verdicts)
        no_data = [c for c in current if not c.has_data]
        if no_data:
            text = "; ".join(f"{c.spec.name}: {c.text}" for c in no_data)
            return self._undecided(f"{text} (not counted as a failed check)", verdicts, final, blocked=True)
        out_of_range = [c for c in current if not c.passes]
        if out_of_range:
            text = "; ".join(f"{c.spec.name}: {c.text}" for c in out_of_range)
            return self._undecided(f"failed check {failed} of {threshold}: {text}", verdicts, final, adverse=True)
        if exposure < config.min_requests:
            return self._undecided(
                f"every metric is within range, but promotion needs {config.min_requests} canary requests "
                f"(has {exposure:.0f})",
                verdicts,
                final,
            )
        reason = (
            f"advance: every metric is within range at judgement {len(steps)}, and the canary served "
            f"{exposure:.0f} requests (at least {config.min_requests})"
        )
        return Decision(Outcome.ADVANCE, reason, self.name, verdicts)

    def _verdict(self, check: _Check, count: str, rolled: bool) -> MetricVerdict:
        if not check.has_data:
            outcome = Outcome.HOLD
        elif check.passes:
            outcome = Outcome.ADVANCE
        else:
            outcome = Outcome.ROLLBACK if rolled else Outcome.HOLD
        suffix = "" if check.passes or not check.has_data else f" (failed checks {count})"
        return MetricVerdict(
            metric=check.spec.name,
            outcome=outcome,
            reason=check.text + suffix,
            estimate=check.canary.value,
            threshold=check.bound,
            stable_n=check.stable.n,
            canary_n=check.canary.n,
            stable_value=check.stable.value,
            canary_value=check.canary.value,
            critical=check.spec.critical,
        )

    def _undecided(
        self,
        reason: str,
        verdicts: Sequence[MetricVerdict],
        final: bool,
        *,
        blocked: bool = False,
        adverse: bool = False,
    ) -> Decision:
        if final:
            marked = tuple(
                replace(v, outcome=Outcome.INCONCLUSIVE) if v.outcome is Outcome.HOLD else v for v in verdicts
            )
            return Decision(Outcome.INCONCLUSIVE, f"inconclusive at the deadline: {reason}", self.name, marked)
        return Decision(Outcome.HOLD, f"hold: {reason}", self.name, tuple(verdicts), blocked=blocked, adverse=adverse)
