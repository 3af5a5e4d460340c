"""SequentialJudge: anytime-valid rollback and promotion decisions over many metrics (stats.md §5).

Multiple metrics: metric m gets the rollback level alpha_m = alpha * v_m / sum(v), with
v_m = weight x 2 for critical metrics (weighted Bonferroni on e-values: valid under any dependence
between metrics; a critical metric's regression needs log 2 fewer nats of evidence, about 10%
fewer bad events). Promotion is an intersection-union test: every metric must be non-inferior at
alpha_promote, with no adjustment, and the canary must have served ``min_requests`` requests.

Decision: ROLLBACK if any metric's regression is proven (at this look or an earlier one: the
e-process's running maximum is what Ville's inequality bounds); else HOLD on a traffic-split
mismatch or on bad data now; else ADVANCE if every metric is non-inferior with enough exposure;
else HOLD, which ``final=True`` turns into INCONCLUSIVE. The engine is called after every step
with every step so far and stays valid under that repeated calling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from analysis.observations import Direction, EngineConfig, MetricKind, MetricSpec, StepWindow
from analysis.sequential.absolute import absolute_check
from analysis.sequential.counts import CountJob, judge_counts
from analysis.sequential.explain import count_verdict, gauge_verdict, number, with_unit
from analysis.sequential.gauges import gauge_evidence
from analysis.sequential.latency import read_latency
from analysis.sequential.samples import FloatArray, Gauges, Issue, read_counts, read_gauges
from analysis.sequential.srm import check_split
from analysis.verdicts import Decision, MetricVerdict, Outcome

CRITICAL_FACTOR = 2.0


def rollback_levels(config: EngineConfig) -> dict[str, float]:
    """Each metric's share alpha_m of the family-wise rollback level (weighted Bonferroni)."""
    shares = {m.name: m.weight * (CRITICAL_FACTOR if m.critical else 1.0) for m in config.metrics}
    total = sum(shares.values())
    return {name: config.alpha * share / total for name, share in shares.items()}


def config_problems(config: EngineConfig) -> list[str]:
    found: list[str] = []
    for label, value in (
        ("alpha", config.alpha),
        ("alpha_promote", config.alpha_promote),
        ("srm_alpha", config.srm_alpha),
    ):
        if not (isinstance(value, int | float) and 0.0 < value < 1.0):
            found.append(f"{label} must be between 0 and 1 (is {value})")
    if not (isinstance(config.srm_tolerance, int | float) and 0.0 <= config.srm_tolerance < 1.0):
        found.append(f"srm_tolerance must be at least 0 and below 1 (is {config.srm_tolerance})")
    if not (isinstance(config.min_requests, int | float) and config.min_requests >= 0):
        found.append(f"min_requests must be 0 or more (is {config.min_requests})")
    if not config.metrics:
        found.append("no metrics are configured")
    names = [m.name for m in config.metrics]
    if len(set(names)) != len(names):
        found.append("metric names repeat")
    for m in config.metrics:
        if not (math.isfinite(m.margin) and m.margin >= 0):
            found.append(f"{m.name}: margin must be a finite number of 0 or more (is {m.margin})")
        if not (math.isfinite(m.weight) and m.weight > 0):
            found.append(f"{m.name}: weight must be positive (is {m.weight})")
        if not 0.0 < m.quantile < 1.0:
            found.append(f"{m.name}: quantile must be between 0 and 1 (is {m.quantile})")
        if any(not math.isfinite(e) for e in m.latency_edges):
            found.append(f"{m.name}: latency edges must be finite")
        if m.kind not in tuple(MetricKind):
            found.append(f"{m.name}: unknown kind {m.kind!r}")
    return found


@dataclass(frozen=True)
class _Traffic:
    """Requests per step and arm of one metric, for the exposure gate and the split check."""

    stable: FloatArray
    canary: FloatArray


@dataclass(frozen=True)
class _Read:
    """One metric's data as read from the steps, before any test."""

    present: bool  # a sample in the latest step
    issues: tuple[Issue, ...]
    job: CountJob | None = None  # errors and latency
    traffic: _Traffic | None = None
    gauges: Gauges | None = None
    note: str = ""  # a reason the metric cannot be judged yet (latency edges)
    empty_arm: str = "received no requests"


def _read(spec: MetricSpec, steps: Sequence[StepWindow], alpha_m: float) -> _Read:
    if spec.kind is MetricKind.ERRORS:
        c = read_counts(steps, spec.name)
        job = CountJob(
            spec,
            alpha_m,
            ("",),
            c.errors_stable[None, :],
            c.errors_canary[None, :],
            c.requests_stable,
            c.requests_canary,
            c.keep[None, :],
        )
        return _Read(bool(c.present[-1]), c.issues, job, _Traffic(c.requests_stable, c.requests_canary))
    if spec.kind is MetricKind.LATENCY:
        x = read_latency(steps, spec)
        job = CountJob(
            spec,
            alpha_m,
            tuple(with_unit(number(e), spec.unit) for e in x.edges),
            x.slow_stable,
            x.slow_canary,
            x.total_stable,
            x.total_canary,
            x.keep,
            tuple(bool(b) for b in x.promote),
        )
        return _Read(
            bool(x.present[-1]),
            x.issues,
            job,
            _Traffic(x.total_stable, x.total_canary),
            note=x.note,
            empty_arm="histogram has no observations",
        )
    g = read_gauges(steps, spec.name)
    return _Read(bool(g.present[-1]), g.issues, gauges=g)


def _exposure_note(config: EngineConfig, exposure: float) -> str:
    return f"promotion needs {config.min_requests} canary requests (has {exposure:.0f})"


def _latest_blocker(steps: Sequence[StepWindow], read: _Read) -> tuple[str, bool]:
    """What keeps the metric from advancing in the latest step, and whether that step could not be judged at
    all (missing, bad or empty data: True) or only not yet (too few requests to choose latency edges: False)."""
    last = len(steps) - 1
    index = steps[last].index
    if not read.present:
        return f"no data for this metric in step {index}", True
    for issue in read.issues:
        if issue.position == last:
            return f"bad data in {issue.describe()}", True
    if read.traffic is not None:
        for arm, values in (("canary", read.traffic.canary), ("stable", read.traffic.stable)):
            if values[last] <= 0:
                return f"the {arm} {read.empty_arm} in step {index}", True
    return read.note, False


def _earlier_issues(issues: Sequence[Issue], last: int) -> str:
    earlier = [i for i in issues if i.position != last]
    if not earlier:
        return ""
    return f" [{len(earlier)} earlier step(s) excluded for bad data; first: {earlier[0].describe()}]"


def _gauge_verdict(
    spec: MetricSpec,
    gauges: Gauges,
    alpha_m: float,
    config: EngineConfig,
    exposure: tuple[bool, str],
    blocker: str,
) -> tuple[MetricVerdict, bool]:
    sign = -1.0 if spec.direction is Direction.DECREASE else 1.0
    two_sided = spec.direction is Direction.EITHER
    evidence = gauge_evidence(gauges.difference, spec.margin, sign, two_sided, alpha_m, config.alpha_promote)
    means = (gauges.mean_stable, gauges.mean_canary)
    samples = (gauges.samples_stable, gauges.samples_canary)
    verdict = gauge_verdict(spec, evidence, alpha_m, means, samples, exposure[0], exposure[1], blocker)
    return verdict, evidence.non_inferior


def _judge(steps: Sequence[StepWindow], config: EngineConfig, final: bool, engine: str) -> Decision:
    problems = config_problems(config)
    if problems:
        reason = f"the analysis configuration is unusable: {'; '.join(problems)}"
        return _undecided(reason, (), final, engine, blocked=True)
    if not steps:
        return _undecided("no steps observed yet", (), final, engine, blocked=True)
    levels = rollback_levels(config)
    reads = {spec.name: _read(spec, steps, levels[spec.name]) for spec in config.metrics}
    results = {r.spec.name: r for r in judge_counts([r.job for r in reads.values() if r.job], config.alpha_promote)}
    traffics = {name: r.traffic for name, r in reads.items() if r.traffic is not None}
    exposure = max(
        [float(t.canary.sum()) for t in traffics.values()]
        + [r.gauges.requests_canary for r in reads.values() if r.gauges is not None]
        + [0.0]
    )
    gate = (exposure >= config.min_requests, _exposure_note(config, exposure))
    verdicts: list[MetricVerdict] = []
    blocked: list[str] = []
    blind = False  # some metric's latest step could not be judged at all
    proven: list[str] = []
    for spec in config.metrics:
        read = reads[spec.name]
        blocker, unusable = _latest_blocker(steps, read)
        blind = blind or unusable
        if read.gauges is None:
            result = results[spec.name]
            verdict = count_verdict(result, levels[spec.name], gate[0], gate[1], blocker)
            non_inferior = result.non_inferior
            if not non_inferior and spec.absolute_margin is not None and read.job is not None:
                verdict, non_inferior = _within_absolute_margin(verdict, read.job, config, gate, blocker)
        else:
            verdict, non_inferior = _gauge_verdict(spec, read.gauges, levels[spec.name], config, gate, blocker)
        if blocker and verdict.outcome is not Outcome.ROLLBACK:
            blocked.append(spec.name)
        if non_inferior and not blocker:
            proven.append(spec.name)
        extra = _earlier_issues(read.issues, len(steps) - 1)
        verdicts.append(replace(verdict, reason=verdict.reason + extra) if extra else verdict)
    decision = _decide(steps, config, verdicts, (blocked, blind), proven, traffics, exposure, final, engine)
    return replace(decision, canary_requests=exposure)


def _within_absolute_margin(
    verdict: MetricVerdict, job: CountJob, config: EngineConfig, gate: tuple[bool, str], blocker: str
) -> tuple[MetricVerdict, bool]:
    """A ratio not yet bounded may still be proven harmless in absolute terms (rare errors or slow requests)."""
    assert job.spec.absolute_margin is not None
    check = absolute_check(job, job.spec.absolute_margin, config.alpha_promote)
    if not check.non_inferior or verdict.outcome is Outcome.ROLLBACK:
        return replace(verdict, reason=f"{verdict.reason}; {check.sentence}"), False
    if blocker or not gate[0]:
        return replace(verdict, reason=f"{check.sentence}, but {blocker or gate[1]}"), True
    return replace(verdict, outcome=Outcome.ADVANCE, reason=f"non-inferior: {check.sentence}"), True


def _split(steps: Sequence[StepWindow], traffics: dict[str, _Traffic], config: EngineConfig) -> tuple[bool, str]:
    if not traffics:
        return False, ""
    stable = np.stack([t.stable for t in traffics.values()])
    canary = np.stack([t.canary for t in traffics.values()])
    pick = np.argmax(stable + canary, axis=0)
    columns = np.arange(stable.shape[1])
    r_b, r_c = stable[pick, columns], canary[pick, columns]
    weights = np.array([s.canary_weight for s in steps], dtype=float)
    check = check_split(weights, r_b, r_c, (r_b + r_c) > 0, config.srm_alpha, config.srm_tolerance)
    return check.mismatch, check.describe(config.srm_alpha, config.srm_tolerance)


def _decide(
    steps: Sequence[StepWindow],
    config: EngineConfig,
    verdicts: list[MetricVerdict],
    blockers: tuple[list[str], bool],
    proven: list[str],
    traffics: dict[str, _Traffic],
    exposure: float,
    final: bool,
    engine: str,
) -> Decision:
    blocked, blind = blockers
    rolled = [v for v in verdicts if v.outcome is Outcome.ROLLBACK]
    mismatch, split_text = _split(steps, traffics, config)
    if rolled:
        reason = "rollback: " + "; ".join(f"{v.metric}: {v.reason}" for v in rolled)
        if mismatch:
            reason += f" (also, {split_text})"
        return Decision(Outcome.ROLLBACK, reason, engine, tuple(verdicts))
    weight = steps[-1].canary_weight
    if not (math.isfinite(weight) and 0.0 <= weight <= 100.0):
        reason = f"bad data in step {steps[-1].index}: canary weight is {weight}"
        return _undecided(reason, verdicts, final, engine, blocked=True)
    split_hold = f"{split_text}; the rollout decides what to do about it"
    if blocked:
        text = "; ".join(f"{v.metric}: {v.reason}" for v in verdicts if v.metric in blocked)
        text += f" (also, {split_hold})" if mismatch else ""
        return _undecided(text, verdicts, final, engine, blocked=blind or mismatch)
    if mismatch:
        return _undecided(split_hold, verdicts, final, engine, blocked=True)
    if all(v.outcome is Outcome.ADVANCE for v in verdicts):
        which = f"all {len(verdicts)} metrics are" if len(verdicts) > 1 else "the metric is"
        reason = (
            f"advance: {which} non-inferior and the canary served "
            f"{exposure:.0f} requests (at least {config.min_requests})"
        )
        return Decision(Outcome.ADVANCE, reason, engine, tuple(verdicts))
    waiting = [v for v in verdicts if v.outcome is not Outcome.ADVANCE]
    if all(v.metric in proven for v in waiting):  # only the exposure is missing
        return _undecided(
            f"every metric is non-inferior, but {_exposure_note(config, exposure)}", verdicts, final, engine
        )
    return _undecided("; ".join(f"{v.metric}: {v.reason}" for v in waiting), verdicts, final, engine)


def _undecided(
    reason: str, verdicts: Sequence[MetricVerdict], final: bool, engine: str, *, blocked: bool = False
) -> Decision:
    if final:
        marked = tuple(replace(v, outcome=Outcome.INCONCLUSIVE) if v.outcome is Outcome.HOLD else v for v in verdicts)
        return Decision(Outcome.INCONCLUSIVE, f"inconclusive at the deadline: {reason}", engine, marked)
    return Decision(Outcome.HOLD, f"hold: {reason}", engine, tuple(verdicts), blocked=blocked)


class SequentialJudge:
    """The default engine (see the module docstring). Pure: no I/O, no clock."""

    name: str

    def __init__(self, name: str = "sequential") -> None:
        self.name = name

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        try:
            return _judge(steps, config, final, self.name)
        except Exception as exc:  # a last resort: a controller must never crash on input it cannot judge
            return _undecided(
                f"the sequential engine could not judge this input ({type(exc).__name__}: {exc})",
                (),
                final,
                self.name,
                blocked=True,
            )


__all__ = ["SequentialJudge", "config_problems", "rollback_levels"]
