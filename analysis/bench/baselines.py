"""Two reference engines for the benchmark, both implementing the ``Judge`` protocol.

- ``NaiveJudge``: what a careless engine does, a fixed-alpha one-sided two-proportion z-test on
  cumulative counts, repeated at every step (peeking), rolling back at the first p < alpha.
- ``OracleSprtJudge``: Wald's SPRT told the true effect (and its onset), on the conditional
  binomial of each step's bad events. It tests the hypotheses the engines are configured with,
  "ψ = 1 + margin" against the true ψ, at the whole rollback level: no engine that does not know
  the truth (which metric, which edge, how large) can beat it at the same task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import norm

from analysis.bench.generator import SMALLEST_ERROR_RATIO
from analysis.bench.scenario import Scenario, arm_requests, bad_count
from analysis.observations import Direction, EngineConfig, MetricKind, MetricSpec, StepWindow
from analysis.verdicts import Decision, MetricVerdict, Outcome

NAIVE_DEFAULT_EDGE_MS = 250.0
_UNTESTED = "not tested by the naive engine"


@dataclass(frozen=True)
class _Totals:
    canary_bad: float = 0.0
    canary_n: float = 0.0
    stable_bad: float = 0.0
    stable_n: float = 0.0
    skipped: int = 0


def _cumulate(steps: Sequence[StepWindow], metric: str, kind: MetricKind, edge: float | None) -> _Totals:
    cb = cn = sb = sn = 0.0
    skipped = 0
    for step in steps:
        pair = step.metrics.get(metric)
        if pair is None:
            continue
        if pair.stable.problems() or pair.canary.problems():
            skipped += 1
            continue
        cb += bad_count(pair.canary, kind, edge)
        cn += arm_requests(pair.canary)
        sb += bad_count(pair.stable, kind, edge)
        sn += arm_requests(pair.stable)
    return _Totals(cb, cn, sb, sn, skipped)


def two_proportion_p_value(totals: _Totals, direction: Direction) -> float | None:
    """One-sided (two-sided for EITHER) pooled z-test p-value; None when there is nothing to test."""
    if totals.canary_n <= 0 or totals.stable_n <= 0:
        return None
    pooled = (totals.canary_bad + totals.stable_bad) / (totals.canary_n + totals.stable_n)
    if pooled <= 0.0 or pooled >= 1.0:
        return None
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / totals.canary_n + 1.0 / totals.stable_n))
    z = (totals.canary_bad / totals.canary_n - totals.stable_bad / totals.stable_n) / se
    if direction is Direction.DECREASE:
        return float(norm.cdf(z))
    if direction is Direction.EITHER:
        return float(2.0 * norm.sf(abs(z)))
    return float(norm.sf(z))


@dataclass
class NaiveJudge:
    """A z-test on cumulative errors (and on exceedances of one latency edge) at every look."""

    name: str = "naive"
    alpha: float = 0.01
    edge_ms: float = NAIVE_DEFAULT_EDGE_MS

    def _edge(self, spec: MetricSpec) -> float | None:
        if spec.kind is not MetricKind.LATENCY:
            return None
        return spec.latency_edges[0] if spec.latency_edges else self.edge_ms

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        verdicts: list[MetricVerdict] = []
        for spec in config.metrics:
            if spec.kind is MetricKind.GAUGE:
                verdicts.append(MetricVerdict(spec.name, Outcome.HOLD, f"{_UNTESTED}: gauges"))
                continue
            totals = _cumulate(steps, spec.name, spec.kind, self._edge(spec))
            p = two_proportion_p_value(totals, spec.direction)
            if p is not None and p < self.alpha:
                outcome, reason = Outcome.ROLLBACK, f"z-test p={p:.3g} < {self.alpha:g}"
            elif totals.canary_n >= config.min_requests:
                outcome, reason = Outcome.ADVANCE, "no significant difference"
            else:
                outcome, reason = Outcome.HOLD, f"{totals.canary_n:g} canary requests < {config.min_requests}"
            if totals.skipped:
                reason += f"; {totals.skipped} step(s) with bad data skipped"
            verdicts.append(
                MetricVerdict(
                    spec.name,
                    outcome,
                    reason,
                    p_value=p,
                    threshold=self.alpha,
                    stable_n=totals.stable_n,
                    canary_n=totals.canary_n,
                    stable_value=totals.stable_bad / totals.stable_n if totals.stable_n else None,
                    canary_value=totals.canary_bad / totals.canary_n if totals.canary_n else None,
                    critical=spec.critical,
                )
            )
        return _combine(self.name, verdicts, final)


def _combine(engine: str, verdicts: list[MetricVerdict], final: bool) -> Decision:
    rolled = [v for v in verdicts if v.outcome is Outcome.ROLLBACK]
    if rolled:
        return Decision(Outcome.ROLLBACK, f"{rolled[0].metric}: {rolled[0].reason}", engine, tuple(verdicts))
    tested = [v for v in verdicts if not v.reason.startswith(_UNTESTED)]
    if tested and all(v.outcome is Outcome.ADVANCE for v in tested):
        return Decision(Outcome.ADVANCE, "every metric passed", engine, tuple(verdicts))
    if final:
        return Decision(Outcome.INCONCLUSIVE, "deadline reached without a decision", engine, tuple(verdicts))
    return Decision(Outcome.HOLD, "not enough evidence yet", engine, tuple(verdicts))


def conditional_binomial_llr(
    canary_bad: float, stable_bad: float, canary_n: float, stable_n: float, psi: float
) -> float:
    """log L(psi) - log L(1) of the canary's share of one step's bad events.

    Given the step's bad-event total, the canary's count is Binomial(B, psi r_c / (psi r_c + r_b)).
    """
    if canary_n <= 0 or stable_n <= 0 or canary_bad + stable_bad <= 0:
        return 0.0
    log_h1 = math.log(psi * canary_n + stable_n)
    log_h0 = math.log(canary_n + stable_n)
    return canary_bad * (math.log(psi) - log_h1 + log_h0) + stable_bad * (log_h0 - log_h1)


@dataclass
class OracleSprtJudge:
    """Wald's SPRT of psi0 = 1 + the metric's margin against the true psi1, from the true onset, on one metric.

    When the truth lies within the margin (psi1 <= 1 + margin), psi0 is 1: the SPRT of no change.

    Rolls back as soon as the log-likelihood ratio reaches log(1/alpha). It never stops to accept
    psi = 1 (so that the time to detect is not cut short), but answers ADVANCE while the log-LR
    is at or below Wald's acceptance level log(beta/(1-alpha)), beta = ``alpha_promote``, once
    the canary has ``min_requests``.
    """

    metric: str
    kind: MetricKind
    psi1: float
    edge: float | None = None
    onset_step: int = 0
    name: str = "oracle"

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> OracleSprtJudge:
        effect = scenario.effect
        kind = scenario.metric_kind(effect.metric) or MetricKind.ERRORS
        psi1 = effect.ratio if effect.ratio > 1.0 else SMALLEST_ERROR_RATIO
        return cls(effect.metric, kind, psi1, effect.edge, effect.onset_step)

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        upper = math.log(1.0 / config.alpha)
        lower = math.log(config.alpha_promote / (1.0 - config.alpha))
        psi0 = self.null(config)
        llr = 0.0
        canary_n = 0.0
        for position, step in enumerate(steps):
            pair = step.metrics.get(self.metric)
            if pair is None or position < self.onset_step or pair.stable.problems() or pair.canary.problems():
                continue
            c_n, s_n = arm_requests(pair.canary), arm_requests(pair.stable)
            canary_n += c_n
            counts = (
                bad_count(pair.canary, self.kind, self.edge),
                bad_count(pair.stable, self.kind, self.edge),
                c_n,
                s_n,
            )
            llr += conditional_binomial_llr(*counts, self.psi1) - conditional_binomial_llr(*counts, psi0)
            if llr >= upper:
                return self._decision(Outcome.ROLLBACK, f"log LR {llr:.2f} >= {upper:.2f}", llr, upper)
        if llr <= lower and canary_n >= config.min_requests:
            return self._decision(Outcome.ADVANCE, f"log LR {llr:.2f} <= {lower:.2f}: no regression", llr, upper)
        if final:
            return self._decision(Outcome.INCONCLUSIVE, "deadline reached between the SPRT bounds", llr, upper)
        return self._decision(Outcome.HOLD, f"log LR {llr:.2f} between the bounds", llr, upper)

    def null(self, config: EngineConfig) -> float:
        """psi0: 1 + the configured margin of the watched metric, or 1 when the truth is within it."""
        spec = next((m for m in config.metrics if m.name == self.metric), None)
        psi0 = 1.0 + max(spec.margin, 0.0) if spec is not None else 1.0
        return psi0 if self.psi1 > psi0 else 1.0

    def _decision(self, outcome: Outcome, reason: str, llr: float, upper: float) -> Decision:
        verdict = MetricVerdict(
            self.metric,
            outcome,
            reason,
            estimate=self.psi1,
            e_value=math.exp(min(llr, 700.0)),
            threshold=math.exp(upper),
        )
        return Decision(outcome, f"{self.metric}: {reason}", self.name, (verdict,))
