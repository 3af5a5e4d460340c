"""The replay harness: every engine sees identical data at identical decision times.

After step k (0-based) an engine is called with ``steps[0..k]`` (the very same tuple objects for
every engine); ``final=True`` on the last step. A run ends at the first ROLLBACK, or when the
engine answers ADVANCE at or after the schedule's final step (the canary is promoted); a run
that reaches the last step with neither is inconclusive. ADVANCE before the final step changes
nothing: the replayed weights are fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from analysis.bench.scenario import Scenario, arm_requests, bad_count
from analysis.observations import EngineConfig, MetricKind, MetricSpec, StepWindow
from analysis.verdicts import Judge, Outcome


class RunOutcome(StrEnum):
    ROLLBACK = "rollback"
    PROMOTE = "promote"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class RunRecord:
    """What one engine did on one scenario, with the exposure up to its decision."""

    engine: str
    scenario: str
    scenario_class: str
    regression: bool
    outcome: RunOutcome
    steps_run: int  # steps seen when the run ended: k + 1 for a decision after step k
    seconds_run: float  # from the first step's start to the end of the last step seen
    step_seconds: float
    onset_step: int
    requests: float  # canary + stable requests of the effect's metric over the steps run
    blast_radius: float  # excess bad requests the canary served until the rollback (else every step)
    engine_errors: int = 0  # exceptions the engine raised (each counted as a HOLD)
    first_error: str = ""
    rps: float = 0.0  # the scenario's mean request rate, both arms, over all its steps

    @property
    def rolled_back(self) -> bool:
        return self.outcome is RunOutcome.ROLLBACK

    @property
    def detected(self) -> bool:
        """A rollback of a regression once it was present (not before its onset)."""
        return self.regression and self.rolled_back and self.steps_run > self.onset_step

    @property
    def steps_to_detect(self) -> int:
        return self.steps_run - self.onset_step

    @property
    def seconds_to_detect(self) -> float:
        return self.steps_to_detect * self.step_seconds


@dataclass(frozen=True)
class BenchConfig:
    """How the scenarios' metrics are configured for every engine (Flagger's defaults for ranges)."""

    alpha: float = 0.01
    alpha_promote: float = 0.05
    min_requests: int = 500
    error_margin: float = 0.1
    latency_margin: float = 0.05
    error_absolute_margin: float | None = None  # MetricSpec.absolute_margin of the errors metric
    min_success_rate: float = 99.0  # threshold engine: success rate >= 99 %
    max_p99_ms: float = 500.0  # threshold engine: p99 <= 500 ms
    latency_edges: tuple[float, ...] = ()  # empty: each engine's own choice


def spec_for(name: str, kind: MetricKind, bench: BenchConfig) -> MetricSpec:
    if kind is MetricKind.ERRORS:
        return MetricSpec(
            name,
            kind,
            margin=bench.error_margin,
            min_value=bench.min_success_rate,
            absolute_margin=bench.error_absolute_margin,
        )
    if kind is MetricKind.LATENCY:
        return MetricSpec(
            name,
            kind,
            margin=bench.latency_margin,
            max_value=bench.max_p99_ms,
            latency_edges=bench.latency_edges,
            quantile=0.99,
        )
    return MetricSpec(name, kind)


def engine_config(scenario: Scenario, bench: BenchConfig | None = None) -> EngineConfig:
    """The one configuration every engine gets for ``scenario``."""
    b = bench or BenchConfig()
    return EngineConfig(
        metrics=tuple(spec_for(m.name, m.kind, b) for m in scenario.metrics),
        alpha=b.alpha,
        alpha_promote=b.alpha_promote,
        min_requests=b.min_requests,
    )


def excess_bad(steps: Sequence[StepWindow], scenario: Scenario, promoted_after: int | None = None) -> float:
    """Blast radius: the sum over ``steps`` of bad_c - bad_b * r_c / r_b on the effect's metric.

    Bad events are errors, or exceedances of the effect's edge on a latency metric. A step with no
    stable requests counts all the canary's bad events. From step ``promoted_after`` on the canary
    is the new stable and serves every request: its step counts the canary's excess rate over the
    stable's times both arms' requests.
    """
    effect = scenario.effect
    kind = scenario.metric_kind(effect.metric) or MetricKind.ERRORS
    total = 0.0
    for k, step in enumerate(steps):
        pair = step.metrics.get(effect.metric)
        if pair is None:
            continue
        bad_c = bad_count(pair.canary, kind, effect.edge)
        bad_b = bad_count(pair.stable, kind, effect.edge)
        r_c, r_b = arm_requests(pair.canary), arm_requests(pair.stable)
        if promoted_after is not None and k >= promoted_after and r_c > 0 and r_b > 0:
            total += (bad_c / r_c - bad_b / r_b) * (r_c + r_b)
        else:
            total += bad_c - (bad_b * r_c / r_b if r_b > 0 else 0.0)
    return total


def _requests(steps: Sequence[StepWindow], metric: str) -> float:
    total = 0.0
    for step in steps:
        pair = step.metrics.get(metric)
        if pair is not None:
            total += arm_requests(pair.canary) + arm_requests(pair.stable)
    return total


def replay(
    scenario: Scenario,
    judge: Judge,
    config: EngineConfig,
    prefixes: Sequence[tuple[StepWindow, ...]] | None = None,
    engine: str | None = None,
) -> RunRecord:
    """Replay ``scenario`` through ``judge``. ``prefixes[k]`` is ``steps[0..k]`` (shared between engines)."""
    views = prefixes if prefixes is not None else step_prefixes(scenario)
    last = len(views) - 1
    outcome = RunOutcome.INCONCLUSIVE
    seen = len(views)
    errors = 0
    first_error = ""
    for k, view in enumerate(views):
        try:
            decision = judge.judge(view, config, final=k == last).outcome
        except Exception as exc:  # an engine under test must not stop the benchmark
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            decision = Outcome.HOLD
        if decision is Outcome.ROLLBACK:
            outcome, seen = RunOutcome.ROLLBACK, k + 1
            break
        if decision is Outcome.ADVANCE and k >= scenario.final_step:
            outcome, seen = RunOutcome.PROMOTE, k + 1
            break
    run_steps = views[seen - 1] if views else ()
    # Until a rollback the canary keeps serving: a promoted or undecided run's harm runs to the
    # horizon, and after a promotion the canary serves all the traffic.
    exposed = run_steps if outcome is RunOutcome.ROLLBACK or not views else views[-1]
    promoted_after = seen if outcome is RunOutcome.PROMOTE else None
    return RunRecord(
        engine=engine or judge.name,
        scenario=scenario.name,
        scenario_class=scenario.scenario_class,
        regression=scenario.effect.is_regression,
        outcome=outcome,
        steps_run=seen,
        seconds_run=(run_steps[-1].end - run_steps[0].start) if run_steps else 0.0,
        step_seconds=scenario.step_seconds,
        onset_step=scenario.effect.onset_step,
        requests=_requests(run_steps, scenario.effect.metric),
        blast_radius=excess_bad(exposed, scenario, promoted_after),
        engine_errors=errors,
        first_error=first_error[:200],
        rps=mean_rate(scenario),
    )


def mean_rate(scenario: Scenario) -> float:
    """Requests per second (both arms) of the effect's metric over the whole scenario."""
    steps = scenario.steps
    span = steps[-1].end - steps[0].start if steps else 0.0
    return _requests(steps, scenario.effect.metric) / span if span > 0 else 0.0


def step_prefixes(scenario: Scenario) -> list[tuple[StepWindow, ...]]:
    return [scenario.steps[: k + 1] for k in range(len(scenario.steps))]


def replay_all(scenario: Scenario, judges: Mapping[str, Judge], bench: BenchConfig | None = None) -> list[RunRecord]:
    """Replay one scenario through every judge, on the same step objects and the same config."""
    config = engine_config(scenario, bench)
    prefixes = step_prefixes(scenario)
    return [replay(scenario, judge, config, prefixes, name) for name, judge in judges.items()]
