"""``meshroll plan``: before a run, how long the engine needs to catch a regression or promote. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from analysis.observations import MetricKind, MetricSpec
from analysis.planning import Plan, plan
from analysis.sequential.engine import rollback_levels
from analysis.sequential.explain import with_unit
from rollout.judging import engine_config
from rollout.plan import Kind, run_plan
from rollout.spec.models import Experiment
from rollout.spec.traffic import BackendProfileSpec, LocalMeshSpec

Z99 = 2.3263478740408408
ASSUMED_EXCEEDANCE = 0.05  # share of requests slower than a latency edge, when nothing says otherwise
AB_COHORT_PERCENT = 10.0  # an A/B cohort's share of requests: a header or cookie match does not say it


@dataclass(frozen=True)
class Traffic:
    """What the plan assumes of the service: its request rate and stable's bad-event rates."""

    request_rate: float
    error_rate: float
    exceedance: dict[float, float]  # latency edge (ms) -> share of stable's requests slower than it


@dataclass(frozen=True)
class MetricPlan:
    metric: str
    what: str
    rate: float  # stable's rate of these bad events
    plan: Plan
    regression: float | None = 2.0  # the regression planned for; None: the canary the file runs has none to detect


@dataclass(frozen=True)
class OwnCanary:
    """An embedded-mesh file's canary against its stable, as the file sets them up: the ratio of their rates
    of each kind of bad event. The plan of such a file is for the run it describes, not a regression assumed."""

    errors: float
    slower: dict[float, float]  # latency edge (ms) -> canary's share of requests slower than it / stable's

    def of(self, edge: float | None) -> float:
        return self.errors if edge is None else self.slower.get(edge, 1.0)


MAX_OWN_REGRESSION = 100.0  # a ratio past this is planned as this (a near-zero stable rate gives any ratio)


def own_canary(experiment: Experiment, edges: tuple[float, ...]) -> OwnCanary | None:
    """What the canary of an embedded-mesh file does (None for a cluster mesh: its canary is unknown)."""
    mesh = experiment.spec.mesh
    if not isinstance(mesh, LocalMeshSpec):
        return None
    stable, canary = mesh.stable, mesh.canary
    return OwnCanary(
        _ratio(canary.error_rate, stable.error_rate),
        {e: _ratio(exceedance_of(canary, e), exceedance_of(stable, e)) for e in edges},
    )


def _ratio(canary: float, stable: float) -> float:
    if canary <= stable:
        return canary / stable if stable > 0 else 1.0
    return min(canary / stable, MAX_OWN_REGRESSION) if stable > 0 else MAX_OWN_REGRESSION


def planned_edges(experiment: Experiment, traffic: Traffic) -> tuple[float, ...]:
    """Every latency edge a plan of ``experiment`` covers."""
    metrics = engine_config(experiment).metrics
    return tuple(sorted({e for m in metrics if m.kind is MetricKind.LATENCY for e in _planned_edges(m, traffic)}))


def exceedance_of(profile: BackendProfileSpec, edge_ms: float) -> float:
    """The share of a demo backend's (lognormal) requests slower than ``edge_ms``."""
    median = profile.median_latency * 1000.0
    sigma = math.log(profile.p99_latency / profile.median_latency) / Z99 if profile.p99_latency > 0 else 0.0
    if sigma <= 0:
        return 0.0 if edge_ms >= median else 1.0
    z = (math.log(edge_ms) - math.log(median)) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def assumed_traffic(
    experiment: Experiment, rps: float | None, error_rate: float | None, slow_share: float | None = None
) -> Traffic:
    """The user's numbers, else what the embedded mesh's spec says (for provider local), else assumptions."""
    mesh = experiment.spec.mesh
    local = mesh if isinstance(mesh, LocalMeshSpec) else None
    edges = sorted(
        {e for m in (experiment.spec.analysis.metrics if experiment.spec.analysis else []) for e in m.latency_edges}
    )
    return Traffic(
        request_rate=rps if rps is not None else (local.load_rate if local else 100.0),
        error_rate=error_rate if error_rate is not None else (local.stable.error_rate if local else 0.001),
        exceedance={e: slow_share for e in edges}
        if slow_share is not None
        else {e: exceedance_of(local.stable, e) for e in edges}
        if local
        else {e: ASSUMED_EXCEEDANCE for e in edges},
    )


def _planned_edges(spec: MetricSpec, traffic: Traffic) -> tuple[float, ...]:
    """The latency edges a plan covers: the listed ones, else those the traffic profile knows (the local mesh)."""
    return spec.latency_edges or tuple(traffic.exceedance)


def unplanned_latency(experiment: Experiment, traffic: Traffic) -> list[str]:
    """Latency metrics with no edge to plan: their edges are chosen during the run from the data."""
    metrics = engine_config(experiment).metrics
    return [m.name for m in metrics if m.kind is MetricKind.LATENCY and not _planned_edges(m, traffic)]


def preflight(
    experiment: Experiment, traffic: Traffic, regression: float, own: OwnCanary | None = None
) -> list[MetricPlan]:
    """One plan per count metric (per tested edge for latency), at each metric's share of alpha: for a
    ``regression``-fold rise of its bad events, or with ``own`` for the rise the file's own canary has."""
    run = run_plan(experiment)
    config = engine_config(experiment)
    request_rate = traffic.request_rate
    if run.kind is Kind.CANARY:
        schedule = [(float(w), run.step_interval) for w in run.weights]
    elif run.kind is Kind.MIRROR:  # stable serves every request and the canary a copy of mirror.percent of them
        request_rate *= 1.0 + run.mirror_percent / 100.0
        schedule = [(100.0 * run.mirror_percent / (100.0 + run.mirror_percent), run.min_step_time)]
    else:  # an A/B test: the embedded mesh says its cohort's share; a cluster's match does not
        mesh = experiment.spec.mesh
        cohort = 100.0 * mesh.cohort_fraction if isinstance(mesh, LocalMeshSpec) else AB_COHORT_PERCENT
        schedule = [(cohort, run.min_step_time)]
    levels = rollback_levels(config) if config.metrics else {}
    plans: list[MetricPlan] = []
    for spec in config.metrics:
        rates: list[tuple[str, float, int, float | None]]  # what, stable's rate, edges sharing alpha, edge
        if spec.kind is MetricKind.ERRORS:
            rates = [("errors", traffic.error_rate, 1, None)]
        elif spec.kind is MetricKind.LATENCY:
            edges = _planned_edges(spec, traffic)
            shares = [(e, traffic.exceedance.get(e, ASSUMED_EXCEEDANCE)) for e in edges]
            rates = [(f"slower than {with_unit(f'{e:g}', spec.unit)}", share, len(edges), e) for e, share in shares]
        else:
            continue
        for what, rate, split, edge in rates:
            planned: float | None = own.of(edge) if own is not None else regression
            if own is not None and planned is not None and planned <= 1.0 + spec.margin:
                planned = None  # the file's canary is no regression the engine would prove: only promotion is asked
            estimate = plan(
                baseline_rate=rate,
                request_rate=request_rate,
                schedule=schedule,
                margin=spec.margin,
                regression=planned if planned is not None else 1.0,
                alpha=levels[spec.name] / split,
                alpha_promote=config.alpha_promote,
                min_requests=config.min_requests,
                max_duration=run.max_duration,
                what=what,
                absolute_margin=spec.absolute_margin,
                promote_after=sum(seconds for _, seconds in schedule),  # the last step in full, at the earliest
            )
            if planned is None:  # drop the detection the plan was not asked for, and its "never proven"
                never = f"a {1.0:g}x regression is within the {100 * spec.margin:g}% margin: it is never proven"
                estimate = replace(estimate, warnings=tuple(w for w in estimate.warnings if w != never))
            plans.append(MetricPlan(spec.name, what, rate, estimate, planned))
    return plans


def own_canary_note(plans: list[MetricPlan]) -> str:
    """What a plan of an embedded-mesh file's own canary was for (``preflight`` with ``own``)."""
    rises = [
        f"{p.what} {p.regression:.3g}x stable's" if p.regression is not None else f"{p.what} within its margin"
        for p in plans
    ]
    return (
        f"planned for the canary this file runs on the embedded mesh ({', '.join(dict.fromkeys(rises))}); "
        "--regression X plans an X-fold regression of each instead"
    )
