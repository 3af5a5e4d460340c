"""``meshroll plan``: before a run, how long the engine needs to catch a regression or promote. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def preflight(experiment: Experiment, traffic: Traffic, regression: float) -> list[MetricPlan]:
    """One plan per count metric (per tested edge for latency), at each metric's share of alpha."""
    run = run_plan(experiment)
    config = engine_config(experiment)
    if run.kind is Kind.CANARY:
        schedule = [(float(w), run.step_interval) for w in run.weights]
    else:
        schedule = [(10.0, run.min_step_time)]
    levels = rollback_levels(config) if config.metrics else {}
    plans: list[MetricPlan] = []
    for spec in config.metrics:
        if spec.kind is MetricKind.ERRORS:
            rates = [("errors", traffic.error_rate, 1)]
        elif spec.kind is MetricKind.LATENCY:
            edges = _planned_edges(spec, traffic)
            shares = [(e, traffic.exceedance.get(e, ASSUMED_EXCEEDANCE)) for e in edges]
            rates = [(f"slower than {with_unit(f'{e:g}', spec.unit)}", share, len(edges)) for e, share in shares]
        else:
            continue
        for what, rate, split in rates:
            estimate = plan(
                baseline_rate=rate,
                request_rate=traffic.request_rate,
                schedule=schedule,
                margin=spec.margin,
                regression=regression,
                alpha=levels[spec.name] / split,
                alpha_promote=config.alpha_promote,
                min_requests=config.min_requests,
                max_duration=run.max_duration,
                what=what,
                absolute_margin=spec.absolute_margin,
            )
            plans.append(MetricPlan(spec.name, what, rate, estimate))
    return plans
