"""``meshroll plan``: before a run, how long the engine needs to detect a regression and to promote."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli.output import console, fail

if TYPE_CHECKING:
    from rollout.preflight import MetricPlan, Traffic
    from rollout.spec.models import Experiment

MAX_RPS = 1e9  # past any service, and short of the planner's float range
DEFAULT_REGRESSION = 2.0  # the regression a plan asks about when neither --regression nor the file says one


def plan(
    file: Annotated[Path, typer.Argument(help="The experiment YAML.")],
    rps: Annotated[
        float | None, typer.Option(help="Requests per second to the service (default: local loadRate, else 100).")
    ] = None,
    error_rate: Annotated[
        float | None,
        typer.Option(help="Stable's error rate, e.g. 0.001 (default: local stable errorRate, else 0.001)."),
    ] = None,
    regression: Annotated[
        float | None,
        typer.Option(
            help="The smallest regression that matters, as a ratio (default: 2; for an embedded-mesh file, the one "
            "its canary has)."
        ),
    ] = None,
    slow_share: Annotated[
        float | None,
        typer.Option(
            help="Stable's share of requests slower than each latency edge, e.g. 0.05 (default: from the local "
            "backend's profile, else 0.05)."
        ),
    ] = None,
) -> None:
    """Estimate, before a run, how long the engine needs to detect a regression and to promote."""
    from rich.table import Table

    from analysis.planning import duration_text
    from rollout.cli.run_commands import load_or_fail
    from rollout.preflight import (
        assumed_traffic,
        own_canary,
        own_canary_note,
        planned_edges,
        preflight,
        unplanned_latency,
    )

    if regression is not None and not (math.isfinite(regression) and regression > 1.0):
        fail(f"--regression {regression:g} must be a finite number above 1 (2 means the canary's bad events double)")
    if rps is not None and not 0 < rps <= MAX_RPS:
        fail(f"--rps {rps:g} must be above 0 and at most {MAX_RPS:g} (requests per second to the service)")
    if error_rate is not None and not 0 < error_rate < 1:
        fail(f"--error-rate {error_rate:g} must be between 0 and 1, both excluded (a proportion: 0.002 is 0.2%)")
    if slow_share is not None and not 0 < slow_share < 1:
        fail(f"--slow-share {slow_share:g} must be between 0 and 1, both excluded (a proportion: 0.05 is 5%)")
    experiment = load_or_fail(file)
    if experiment.spec.strategy is None:
        fail(f"{file}: a chaos-only experiment has no canary to judge, so there is nothing to plan")
    traffic = assumed_traffic(experiment, rps, error_rate, slow_share)
    own = own_canary(experiment, planned_edges(experiment, traffic)) if regression is None else None
    plans = preflight(experiment, traffic, regression or DEFAULT_REGRESSION, own)
    edges_unknown = [
        f"{name}: its bucket edges are chosen during the run; give latencyEdges (e.g. [100, 250]) to plan it"
        for name in unplanned_latency(experiment, traffic)
    ]
    gauges = _gauge_note(experiment)
    engine = experiment.spec.analysis.engine if experiment.spec.analysis is not None else "sequential"
    other = engine != "sequential"
    if not plans and not other:
        if edges_unknown:
            fail(f"{file}: {edges_unknown[0]}")
        fail(f"{file}: no error or latency metric to plan for" + (f"; {gauges}" if gauges else ""))
    if other:
        console.print(_other_engine_note(file, engine, experiment, bool(plans)), markup=False, soft_wrap=True)
    if not plans:  # what the other engine does is all there is to say
        for note in edges_unknown:
            console.print(f"note: {note}", markup=False, soft_wrap=True)
        return
    title = f"{experiment.key}: {traffic.request_rate:g} req/s"
    table = Table(title=title + (" (if judged by the sequential engine)" if other else ""))
    table.add_column("metric", overflow="fold")  # a name is never cut short: it may be all that tells two apart
    for column in ("bad events", "stable rate", "detect in", "requests to detect", "promote in"):
        table.add_column(column)
    for item in plans:
        p = item.plan
        table.add_row(
            item.metric,
            item.what,
            f"{100 * item.rate:.3g}%",
            "no regression"
            if item.regression is None
            else duration_text(p.detect_seconds)
            if p.detect_seconds is not None
            else "never",
            f"{p.detect_requests:.0f}" if p.detect_requests is not None else "-",
            duration_text(p.promote_seconds) if p.promote_seconds is not None else "never",
        )
    console.print(table)
    console.print(_columns_line(plans, own is not None, regression), markup=False, soft_wrap=True)
    assumed = _assumptions(experiment, traffic, rps, error_rate, slow_share)
    own_note = [own_canary_note(plans)] if own else []
    gauge_notes = [gauges] if gauges else []
    for note in [*edges_unknown, *gauge_notes, *own_note, *_share_notes(experiment, traffic), *assumed]:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    warnings = list(dict.fromkeys(w for item in plans for w in item.plan.warnings))  # one per metric may repeat
    for warning in warnings:
        console.print(f"{'if judged by sequential' if other else 'warning'}: {warning}", markup=False, soft_wrap=True)


def _columns_line(plans: list[MetricPlan], own: bool, regression: float | None) -> str:
    """Which canary each time is for: 'detect in' a regressed one, 'promote in' a healthy one; a run sees one."""
    healthy = "promote in: the time to promote a healthy canary (its bad events at stable's rates)"
    if not own:
        return (
            f"detect in: the time to roll back a canary whose bad events are {regression or DEFAULT_REGRESSION:g}x "
            f"stable's{' (--regression)' if regression else ''}; {healthy}; a run sees one of the two"
        )
    rises = [f"{p.what} {p.regression:.3g}x stable's" for p in plans if p.regression is not None]
    if not rises:
        return f"detect in: the canary this file runs has no regression to detect; {healthy}, as this file's is"
    return (
        f"detect in: the time to roll back the canary this file runs ({', '.join(dict.fromkeys(rises))}); "
        f"{healthy}, which this file's is not"
    )


def _gauge_note(experiment: Experiment) -> str | None:
    """The gauge metrics a plan leaves out, and why: their evidence depends on a variance no plan knows."""
    from analysis.observations import MetricKind
    from rollout.judging import engine_config

    names = [m.name for m in engine_config(experiment).metrics if m.kind is MetricKind.GAUGE]
    if not names:
        return None
    which = f"the gauge metric {names[0]} is" if len(names) == 1 else f"the gauge metrics {', '.join(names)} are"
    return (
        f"{which} not planned (a gauge is one number per arm, such as an imported Prometheus query): the "
        "sequential engine judges a gauge by a t-test on each step's canary-minus-stable difference of means, "
        "so how soon it decides depends on how much that difference varies from step to step, which no plan "
        "knows before a run; it needs at least 2 steps with samples in both arms"
    )


def _assumptions(
    experiment: Experiment, traffic: Traffic, rps: float | None, error_rate: float | None, slow_share: float | None
) -> list[str]:
    """What the plan assumed because neither the user nor an embedded mesh's profile said it."""
    from rollout.spec.traffic import LocalMeshSpec

    if isinstance(experiment.spec.mesh, LocalMeshSpec):
        return []
    assumed = [
        what
        for what, given in (
            (f"{traffic.request_rate:g} req/s (--rps)", rps),
            (f"a stable error rate of {100 * traffic.error_rate:g}% (--error-rate)", error_rate),
            (
                f"{100 * next(iter(traffic.exceedance.values()), 0.0):g}% of stable's requests slower than each "
                "latency edge (--slow-share)",
                slow_share if traffic.exceedance else 0.0,
            ),
        )
        if given is None
    ]
    return [f"assumed {', '.join(assumed)}; give your service's numbers with those options"] if assumed else []


def _share_notes(experiment: Experiment, traffic: Traffic) -> list[str]:
    """The canary's share of requests the plan took: a mirror's copies, an A/B cohort's assumed size, and
    what makes a canary's share larger than its weights (or, with stable's users pinned, smaller as they
    grow), which the plan assumes."""
    from rollout.preflight import AB_COHORT_PERCENT
    from rollout.spec.traffic import LocalMeshSpec

    strategy = experiment.spec.strategy
    if strategy is not None and strategy.mirror is not None:
        copies = traffic.request_rate * strategy.mirror.percent / 100
        return [
            f"the canary serves copies of {strategy.mirror.percent:g}% of the requests: stable serves "
            f"{traffic.request_rate:g} req/s and the canary {copies:g} ({traffic.request_rate + copies:g} in all)"
        ]
    if strategy is not None and strategy.ab_test is not None and not isinstance(experiment.spec.mesh, LocalMeshSpec):
        return [f"assumed the cohort is {AB_COHORT_PERCENT:g}% of the requests (abTest.match does not say how many)"]
    canary = strategy.canary if strategy is not None else None
    affinity = canary.session_affinity if canary is not None else None
    pinned = affinity is not None and affinity.primary_cookie_name is not None
    why = [
        what
        for what, on in (
            ("its cohort always reaches it", canary is not None and canary.cohort is not None),
            ("sticky users keep returning to it", affinity is not None and not pinned),
        )
        if on
    ]
    trails = (
        "the canary's share of requests trails its weights as they grow (sticky users keep the arm they were "
        "first sent to: the canary's stay on the canary, stable's on stable with primaryCookieName)"
    )
    if why and pinned:  # one pulls the share up, the other down: the plan cannot say which wins
        return [
            f"{trails}, while {' and '.join(why)}; the plan counts the weights alone, so a run may detect and "
            "promote sooner or later than these times"
        ]
    if why:
        return [
            f"the canary gets more than its weights' share of requests ({' and '.join(why)}); the plan counts the "
            "weights alone, so a run detects and promotes sooner than these times"
        ]
    if pinned:
        return [f"{trails}; the plan counts the weights alone, so a run detects and promotes later than these times"]
    return []


def _other_engine_note(file: Path, engine: str, experiment: Experiment, estimates: bool = True) -> str:
    """What ``plan`` can say of an experiment judged by the kayenta or threshold engine, or a plugin."""
    from analysis.planning import duration_text
    from analysis.threshold import FAILURE_THRESHOLD
    from rollout.plan import run_plan

    schedule = run_plan(experiment)
    end = duration_text(max(len(schedule.weights), 1) * schedule.step_interval)
    analysis = experiment.spec.analysis
    configured = analysis.failure_threshold if analysis is not None else None
    failures = FAILURE_THRESHOLD if configured is None else configured
    how = {
        "threshold": "checks fixed ranges on the canary alone, so it promotes when the schedule ends ({end}) with "
        f"every range held and rolls back after {failures} failed check{'' if failures == 1 else 's'} "
        f"({'' if configured is not None else 'the default of '}analysis.failureThreshold), however much traffic "
        "there is",
        "kayenta": "scores the canary against stable with Kayenta's fixed-horizon tests at each judgement (repeated "
        "looks raise its false rollbacks: docs/bench-results.md) and reaches a verdict by the end of the schedule "
        "({end})",
    }.get(
        engine,
        "is an installed plugin whose decisions meshroll cannot predict (measure it with 'meshroll bench analysis "
        f"--engine {engine}'); the schedule ends after {{end}}",
    ).format(end=end)
    if not estimates:  # no error or latency metric: nothing the sequential engine's plan could say
        return f"note: {file} is judged by the {engine} engine, which {how}."
    return (
        f"note: {file} is judged by the {engine} engine, which {how}. The estimates below are what the "
        "sequential engine (analysis.engine: sequential) would need at the same traffic."
    )
