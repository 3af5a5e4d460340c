"""From the user's analysis spec to what the engines read. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from analysis.observations import Direction, EngineConfig, MetricKind, MetricPair, MetricSpec
from analysis.sources import StepSpan
from analysis.templates import BUILTIN_TEMPLATES
from analysis.verdicts import Decision, MetricVerdict, Outcome
from chaos.faults import Arm
from rollout.events import Judged, MetricNumbers
from rollout.plan import RunPlan
from rollout.spec.analysis import AnalysisSpec
from rollout.spec.models import Experiment
from rollout.spec.traffic import GatewayApiMeshSpec, SmiMeshSpec


def metric_kind(analysis: AnalysisSpec, template: str) -> MetricKind:
    for custom in analysis.templates:
        if custom.name == template:
            return MetricKind(custom.kind)
    return BUILTIN_TEMPLATES[template].kind


def metric_unit(analysis: AnalysisSpec, template: str) -> str:
    for custom in analysis.templates:
        if custom.name == template:
            return custom.unit
    return BUILTIN_TEMPLATES[template].unit


def engine_config(experiment: Experiment) -> EngineConfig:
    """The engine's view of an experiment's analysis (an empty config for chaos-only runs)."""
    analysis = experiment.spec.analysis
    if analysis is None:
        return EngineConfig(metrics=(), alpha=0.01, min_requests=0)
    metrics = []
    for m in analysis.metrics:
        bounds = m.threshold_range
        metrics.append(
            MetricSpec(
                name=m.name,
                kind=metric_kind(analysis, m.template),
                margin=m.margin,
                direction=Direction(m.direction),
                critical=m.critical,
                weight=m.weight,
                latency_edges=tuple(m.latency_edges),
                min_value=bounds.min if bounds else None,
                max_value=bounds.max if bounds else None,
                quantile=m.quantile,
                absolute_margin=m.absolute_margin,
                unit=metric_unit(analysis, m.template),
            )
        )
    return EngineConfig(
        metrics=tuple(metrics),
        alpha=analysis.alpha,
        min_requests=analysis.min_requests,
        failure_threshold=analysis.failure_threshold,
    )


def step_span(
    experiment: Experiment, start: float, end: float, *, namespace: str | None = None, reporter: str = "destination"
) -> StepSpan:
    """The names a metric source fills in for ``experiment`` over ``[start, end]``: the Service, the versions
    and, where the mesh sends each version to a Service of its own (Gateway API, SMI), those Services."""
    target, mesh = experiment.spec.target, experiment.spec.mesh
    own = isinstance(mesh, GatewayApiMeshSpec | SmiMeshSpec)
    return StepSpan(
        start,
        end,
        target.stable.version,
        target.canary.version,
        target.service,
        namespace or experiment.metadata.namespace,
        reporter=reporter,
        stable_backend=target.version_service(target.stable) if own else "",
        canary_backend=target.version_service(target.canary) if own else "",
    )


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None if value is None or value != value else value
    return value


def numbers(verdict: MetricVerdict) -> MetricNumbers:
    interval = verdict.interval
    return MetricNumbers(
        metric=verdict.metric,
        outcome=verdict.outcome.value,
        reason=verdict.reason,
        estimate=_finite(verdict.estimate),
        interval=(float(interval[0]), float(interval[1])) if interval is not None else None,
        e_value=_finite(verdict.e_value),
        p_value=_finite(verdict.p_value),
        threshold=_finite(verdict.threshold),
        stable_n=verdict.stable_n,
        canary_n=verdict.canary_n,
        stable_value=_finite(verdict.stable_value),
        canary_value=_finite(verdict.canary_value),
        critical=verdict.critical,
        edge=verdict.edge or None,
        edges=verdict.edges or None,
        margin_at=tuple(float(x) for x in verdict.margin_at) or None,
    )


def judged(decision: Decision) -> Judged:
    """A decision as the event the machine records."""
    return Judged(
        outcome=decision.outcome.value,
        engine=decision.engine,
        reason=decision.reason,
        metrics=tuple(numbers(m) for m in decision.metrics),
        blocked=decision.blocked and decision.outcome is Outcome.HOLD,
        adverse=decision.adverse and decision.outcome is Outcome.HOLD,
        canary_requests=_finite(decision.canary_requests),
    )


def judged_weight(plan: RunPlan, weight: float, faults_on: Collection[str], pairs: Mapping[str, MetricPair]) -> float:
    """The canary's share of the requests its window's metrics count, as the engine's traffic-split check
    expects it: the observed share where the split is not a weight (A/B cohort, mirror, sticky users),
    else its weight, less what injected aborts stop before the backends count them."""
    if plan.observed_split:
        return observed_share(pairs)
    counted = counted_share(plan, weight, faults_on)
    return observed_share(pairs) if counted is None else counted


def counted_share(plan: RunPlan, weight: float, faults_on: Collection[str]) -> float | None:
    """The canary's share, in percent, of the requests that reach a backend at ``weight`` with the faults
    ``faults_on``. An injected abort answers in the caller's proxy: the versions' own (destination)
    metrics never count it, so 30% aborts on the canary at weight 25 leave it 18.9% of what is counted.
    None: not known (an abort limited to a cohort, whose share of the requests no one knows)."""
    kept = {Arm.STABLE: 1.0, Arm.CANARY: 1.0}
    for planned in plan.faults:
        fault = planned.fault
        if fault.id not in faults_on or fault.abort is None:
            continue
        if fault.cohort:
            return None
        for arm in kept:
            if fault.arm.covers(arm.value):
                kept[arm] *= 1.0 - fault.abort.percent / 100.0
    canary = weight / 100.0 * kept[Arm.CANARY]
    total = canary + (1.0 - weight / 100.0) * kept[Arm.STABLE]
    return 100.0 * canary / total if total > 0 else None


def observed_share(pairs: Mapping[str, MetricPair]) -> float:
    """The canary's share of requests in a window whose split is not a weight (A/B cohort, mirror)."""
    for pair in pairs.values():
        total = pair.stable.requests + pair.canary.requests
        if total > 0:
            return 100.0 * pair.canary.requests / total
    return 0.0
