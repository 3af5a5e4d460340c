"""``ratio``: an example meshroll judge plugin (docs/plugins.md).

Per error metric, on the error rates of all steps so far:

- ROLLBACK when the canary's error rate exceeds ``k`` times stable's and the canary has at least
  ``min_errors`` errors;
- ADVANCE when the canary served ``minRequests`` and its rate is within ``1 + margin`` of stable's;
- HOLD otherwise, and for every metric that is not an error count (it does not judge latency or
  gauges, so an experiment with such metrics never promotes under it).

This is a rule of thumb, not a test: nothing bounds its false rollbacks or promotions. Measure it
with ``meshroll bench analysis --engine sequential --engine ratio`` before trusting it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from analysis.observations import EngineConfig, MetricKind, MetricSpec, StepWindow
from analysis.verdicts import Decision, MetricVerdict, Outcome


class RatioJudge:
    name = "ratio"

    def __init__(self, k: float = 2.0, min_errors: int = 5) -> None:
        self.k = k
        self.min_errors = min_errors

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        verdicts = tuple(self._metric(spec, steps, config) for spec in config.metrics)
        outcomes = {v.outcome for v in verdicts}
        if Outcome.ROLLBACK in outcomes:
            bad = [v for v in verdicts if v.outcome is Outcome.ROLLBACK]
            return Decision(Outcome.ROLLBACK, "; ".join(v.reason for v in bad), self.name, verdicts)
        if verdicts and outcomes == {Outcome.ADVANCE}:
            return Decision(Outcome.ADVANCE, "every error rate is within its margin", self.name, verdicts)
        waiting = "; ".join(v.reason for v in verdicts if v.outcome is not Outcome.ADVANCE) or "no metrics"
        return Decision(Outcome.INCONCLUSIVE if final else Outcome.HOLD, waiting, self.name, verdicts)

    def _metric(self, spec: MetricSpec, steps: Sequence[StepWindow], config: EngineConfig) -> MetricVerdict:
        if spec.kind is not MetricKind.ERRORS:
            return MetricVerdict(spec.name, Outcome.HOLD, f"{spec.name}: ratio judges error metrics only")
        s_req = s_err = c_req = c_err = 0.0
        for step in steps:
            pair = step.metrics.get(spec.name)
            if pair is None:
                continue
            if pair.stable.problems() or pair.canary.problems():
                problem = (pair.stable.problems() + pair.canary.problems())[0]
                return MetricVerdict(spec.name, Outcome.HOLD, f"{spec.name}: step {step.index}: {problem}")
            s_req, s_err = s_req + pair.stable.requests, s_err + pair.stable.errors
            c_req, c_err = c_req + pair.canary.requests, c_err + pair.canary.errors
        if s_req <= 0 or c_req <= 0:
            return MetricVerdict(spec.name, Outcome.HOLD, f"{spec.name}: no requests on one arm yet")
        stable_rate, canary_rate = s_err / s_req, c_err / c_req
        ratio = canary_rate / stable_rate if stable_rate > 0 else (1.0 if canary_rate == 0 else math.inf)
        rates = f"canary error rate {canary_rate:.3%}, stable {stable_rate:.3%}"

        def verdict(outcome: Outcome, reason: str, threshold: float | None = None) -> MetricVerdict:
            return MetricVerdict(
                spec.name,
                outcome,
                f"{spec.name}: {reason}",
                estimate=ratio if math.isfinite(ratio) else None,
                threshold=threshold,
                stable_n=s_req,
                canary_n=c_req,
                stable_value=stable_rate,
                canary_value=canary_rate,
                critical=spec.critical,
            )

        if ratio > self.k and c_err >= self.min_errors:
            return verdict(Outcome.ROLLBACK, f"{rates}: above {self.k:g}x stable's", self.k)
        if c_req >= config.min_requests and ratio <= 1 + spec.margin:
            limit = 1 + spec.margin
            return verdict(Outcome.ADVANCE, f"{rates}: within {limit:g}x stable's", limit)
        return verdict(Outcome.HOLD, f"{rates} over {c_req:.0f} canary requests: not yet decided")
