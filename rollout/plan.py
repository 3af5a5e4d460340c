"""What an Experiment asks for, in the terms the machine works with. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chaos.faults import Abort, Arm, Delay, Fault
from chaos.matching import MatchKind, RequestMatch, StringMatch, cookie_match
from chaos.steady_state import HaltRule
from chaos.timing import FaultTiming, is_on
from rollout.mesh.plan import StickySession, TrafficPlan
from rollout.spec.chaos import FaultSpec
from rollout.spec.models import Experiment
from rollout.spec.traffic import MatchSpec, SessionAffinitySpec, StrategySpec
from rollout.status import Status, Traffic


class Kind(StrEnum):
    CANARY = "canary"
    AB_TEST = "ab-test"
    MIRROR = "mirror"
    CHAOS = "chaos"


@dataclass(frozen=True)
class PlannedFault:
    fault: Fault
    timing: FaultTiming


@dataclass(frozen=True)
class Affinity:
    """``strategy.canary.sessionAffinity``: the cookie that keeps a canary user on the canary, and the
    one that keeps a stable user on stable (``primaryCookieName``; None: stable users follow the weights)."""

    cookie_name: str
    max_age: int  # seconds
    primary_cookie_name: str | None = None


@dataclass(frozen=True)
class RunPlan:
    """The schedule: canary weights per step, how long a step lasts, and what else is on."""

    kind: Kind
    weights: tuple[int, ...]  # one per step; A/B, mirror and chaos-only runs have one step at 0
    step_interval: float  # seconds between judgements
    min_step_time: float  # a step advances only after this long (whole duration for one-step runs)
    max_duration: float
    mirror_percent: float
    ab_matches: tuple[RequestMatch, ...]  # the cohort routed wholly to the canary: abTest.match or canary.cohort
    faults: tuple[PlannedFault, ...]
    failure_budget: int
    on_no_data: str
    on_inconclusive: str
    min_requests: int
    critical_metrics: frozenset[str]
    step_gate: str = "no-regression"
    halt_rules: tuple[HaltRule, ...] = ()
    probes: tuple[tuple[str, int, float], ...] = ()  # (url, expected status, timeout)
    chaos_interval: float = 5.0
    recovery: float = 10.0
    affinity: Affinity | None = None

    @property
    def watches_steady_state(self) -> bool:
        return bool(self.faults) and bool(self.halt_rules or self.probes)

    @property
    def observed_split(self) -> bool:
        """Whether the canary's share of requests is not its weight, so the engine is given the share
        observed: an A/B cohort, mirrored copies (alone, or beside a canary's weight), sticky users who keep
        returning to the canary, or a canary's cohort on top of its weight."""
        return (
            self.kind in (Kind.AB_TEST, Kind.MIRROR)
            or self.mirror_percent > 0
            or self.affinity is not None
            or bool(self.ab_matches)
        )

    @property
    def promotes(self) -> bool:
        """Whether a successful run sends all traffic to the canary (not for mirror and chaos-only)."""
        return self.kind in (Kind.CANARY, Kind.AB_TEST)


def deadline(plan: RunPlan, status: Status) -> float | None:
    """When the run must have ended: maxDuration (a chaos drill's duration) after the mesh first took one of
    its splits, as its steps count from when the mesh took theirs; before that, after its start. A mesh
    that refused the first write for minutes (``MeshError``) does not use up the run's time. None before
    it starts."""
    if status.started_at is None:
        return None
    taken = next((entry.time for entry in status.history if entry.event.type == "applied"), status.started_at)
    return max(taken, status.started_at) + plan.max_duration


def past_deadline(plan: RunPlan, status: Status, now: float) -> bool:
    """Whether ``now`` is at or past the run's deadline (never before it starts)."""
    end = deadline(plan, status)
    return end is not None and now >= end


DEADLINE_LATE_S = 0.01  # a judgement capped at the deadline runs just after it, so that it is judged as the final one


def judgement_due(plan: RunPlan, status: Status, now: float) -> float:
    """When the step under way is to be judged, from ``now`` (its window's start): one stepInterval later,
    or at the deadline when that comes first, so that a run ends by its deadline, not up to a step after it
    (the last window is then shorter; the engines are told it is the final one). A deadline already past
    (a run resumed after it) gives the interval back: nothing is ever due in the past."""
    due = now + plan.step_interval
    end = deadline(plan, status)
    return end + DEADLINE_LATE_S if end is not None and now < end < due else due


def traffic_at(plan: RunPlan, step: int, *, started_at: float, now: float, halted: bool = False) -> Traffic:
    """What the run routes at ``step`` at ``now``: the step's weight, the faults its schedule has on (none
    once halted), the cohort route and the mirror."""
    weight = plan.weights[step]
    faults = (
        ()
        if halted
        else tuple(p.fault.id for p in plan.faults if is_on(p.timing, weight=weight, started_at=started_at, now=now))
    )
    cohort = bool(plan.ab_matches) and (plan.kind is Kind.AB_TEST or weight > 0)  # a canary's cohort: with weight
    return Traffic(canary_weight=weight, ab_active=cohort, mirror_percent=plan.mirror_percent, faults=faults)


def request_matches(matches: list[MatchSpec]) -> tuple[RequestMatch, ...]:
    result = []
    for match in matches:
        headers = [(name, StringMatch(*_kind_value(m))) for name, m in match.headers.items()]
        headers += [cookie_match(name, value) for name, value in match.cookies.items()]
        query = [(name, StringMatch(*_kind_value(m))) for name, m in match.query_params.items()]
        result.append(RequestMatch(headers=tuple(headers), query=tuple(query)))
    return tuple(result)


def _kind_value(match: object) -> tuple[MatchKind, str]:
    for kind in MatchKind:
        value = getattr(match, kind.value)
        if value is not None:
            return kind, str(value)
    raise ValueError("a string match has no condition")  # the spec forbids it


def planned_fault(experiment: Experiment, index: int, spec: FaultSpec) -> PlannedFault:
    fault = Fault(
        id=f"{experiment.key}#{index}",
        owner=experiment.key,
        arm=Arm(spec.arm),
        delay=Delay(spec.delay.fixed * 1000.0, spec.delay.percent) if spec.delay else None,
        abort=(
            Abort(spec.abort.percent, http_status=spec.abort.http_status, grpc_status=spec.abort.grpc_status)
            if spec.abort
            else None
        ),
        cohort=request_matches(spec.match),
    )
    during = spec.during
    timing = FaultTiming(
        max_duration=spec.max_duration,
        steps=tuple(during.steps) if during is not None and during.steps is not None else None,
        window=(during.window.after, during.window.duration) if during is not None and during.window else None,
        cron=(during.schedule.cron, during.schedule.duration) if during is not None and during.schedule else None,
    )
    return PlannedFault(fault, timing)


def run_plan(experiment: Experiment) -> RunPlan:
    spec = experiment.spec
    strategy = spec.strategy
    analysis = spec.analysis
    mirror = strategy.mirror if strategy is not None else None
    if strategy is not None and strategy.canary is not None:
        kind, weights = Kind.CANARY, tuple(strategy.canary.schedule)
        interval = strategy.canary.step_interval
        min_step = interval
        max_duration = analysis.max_duration if analysis else interval * (len(weights) + 1)
    elif strategy is not None and strategy.ab_test is not None:
        kind, weights = Kind.AB_TEST, (0,)
        interval, min_step = strategy.ab_test.step_interval, strategy.ab_test.duration
        max_duration = max(analysis.max_duration if analysis else 0.0, min_step)
    elif mirror is not None:
        kind, weights = Kind.MIRROR, (0,)
        interval, min_step = mirror.step_interval, mirror.duration or 0.0
        max_duration = max(analysis.max_duration if analysis else 0.0, min_step)
    else:
        assert spec.chaos is not None and spec.chaos.duration is not None  # the spec's checks ensure it
        kind, weights = Kind.CHAOS, (0,)
        interval = min(60.0, spec.chaos.duration)
        min_step = max_duration = spec.chaos.duration
    faults = tuple(planned_fault(experiment, i, f) for i, f in enumerate(spec.chaos.faults)) if spec.chaos else ()
    return RunPlan(
        kind=kind,
        weights=weights,
        step_interval=interval,
        min_step_time=min_step,
        max_duration=max_duration,
        mirror_percent=mirror.percent if mirror is not None else 0.0,
        ab_matches=_cohort(strategy),
        faults=faults,
        failure_budget=analysis.failure_budget if analysis else 0,
        on_no_data=analysis.on_no_data if analysis else "hold",
        on_inconclusive=analysis.on_inconclusive if analysis else "rollback",
        min_requests=analysis.min_requests if analysis else 0,
        critical_metrics=frozenset(m.name for m in analysis.metrics if m.critical) if analysis else frozenset(),
        step_gate=analysis.step_gate if analysis else "no-regression",
        halt_rules=_halt_rules(experiment),
        probes=tuple((p.url, p.expect_status, p.timeout) for p in spec.chaos.probes) if spec.chaos else (),
        chaos_interval=spec.chaos.interval if spec.chaos else 5.0,
        recovery=spec.chaos.recovery if spec.chaos else 10.0,
        affinity=_affinity(strategy.canary.session_affinity if strategy and strategy.canary else None),
    )


def _cohort(strategy: StrategySpec | None) -> tuple[RequestMatch, ...]:
    """The requests routed wholly to the canary: an A/B test's match, or a canary's cohort. The machine
    turns the route on (``Traffic.ab_active``) exactly while the canary has weight in the run."""
    if strategy is not None and strategy.ab_test is not None:
        return request_matches(strategy.ab_test.match)
    if strategy is not None and strategy.canary is not None and strategy.canary.cohort is not None:
        return request_matches(strategy.canary.cohort.match)
    return ()


def _affinity(spec: SessionAffinitySpec | None) -> Affinity | None:
    return Affinity(spec.cookie_name, int(spec.max_age), spec.primary_cookie_name) if spec is not None else None


def sticky_session(
    affinity: Affinity | None, owner: str, started_at: float | None, canary_weight: int
) -> StickySession | None:
    """The session affinity the mesh holds at ``canary_weight``: only while both arms get traffic, so
    rollback, abort, supersession (all to stable) and promotion (all to the canary) remove it.

    The cookie's value (the canary's, and stable's when it is pinned) names the experiment and its run
    (``<namespace>.<name>.<start in ms>``): a cookie from an earlier run of the same experiment routes nothing."""
    if affinity is None or started_at is None or not 0 < canary_weight < 100:
        return None
    run = f"{owner.replace('/', '.')}.{round(started_at * 1000)}"
    return StickySession(affinity.cookie_name, run, affinity.max_age, affinity.primary_cookie_name)


def recorded_traffic(plan: RunPlan, owner: str, status: Status, *, faults: bool = True) -> TrafficPlan:
    """What the mesh should hold for the run ``status`` records: its weights, the cohort route while
    it is on, the mirror, the sticky route, and (unless ``faults`` is False) the faults it has on."""
    traffic = status.traffic
    return TrafficPlan(
        stable_weight=traffic.stable_weight,
        canary_weight=traffic.canary_weight,
        ab_matches=plan.ab_matches if traffic.ab_active else (),
        mirror_percent=traffic.mirror_percent,
        faults=tuple(p.fault for p in plan.faults if p.fault.id in traffic.faults) if faults else (),
        affinity=sticky_session(plan.affinity, owner, status.started_at, traffic.canary_weight),
    )


def _halt_rules(experiment: Experiment) -> tuple[HaltRule, ...]:
    from rollout.judging import metric_kind

    chaos, analysis = experiment.spec.chaos, experiment.spec.analysis
    if chaos is None or analysis is None:
        return ()
    metrics = {m.name: m for m in analysis.metrics}
    return tuple(
        HaltRule(
            r.metric,
            metric_kind(analysis, metrics[r.metric].template),
            r.above,
            r.below,
            metrics[r.metric].quantile,
            r.min_requests,
        )
        for r in chaos.halt_when
        if r.metric in metrics
    )
