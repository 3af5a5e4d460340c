"""Experiments for machine tests, built from YAML the way users write them."""

from __future__ import annotations

import pytest

from rollout.events import Applied, Judged, MetricNumbers
from rollout.machine import advance
from rollout.plan import RunPlan, run_plan
from rollout.spec import load_experiment_text
from rollout.status import Status

T0 = 1_000_000.0

CANARY = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [5, 10, 25, 50], stepInterval: 60s}}
  chaos:
    faults:
      - {delay: {fixed: 300ms, percent: 10}, arm: canary, during: {steps: [10, 25]}}
      - {abort: {httpStatus: 503, percent: 2}, arm: canary}
  analysis:
    minRequests: 100
    maxDuration: 1h
    failureBudget: 2
    onNoData: rollback
    metrics:
      - {name: errors, template: istio-error-rate, critical: true}
      - {name: latency, template: istio-latency-histogram}
"""


def proven(outcome: str = "advance", canary_n: float = 1000) -> Judged:
    """A judgement with that outcome on both of CANARY's metrics."""
    metrics = tuple(
        MetricNumbers(metric=m, outcome=outcome, reason="r", canary_n=canary_n, stable_n=9000)
        for m in ("errors", "latency")
    )
    return Judged(outcome=outcome, engine="test", reason=f"all metrics {outcome}", metrics=metrics)


def run(plan: RunPlan, *events: tuple[float, object]) -> Status:
    """The status after ``events`` (seconds after T0), each mesh write taken at once."""
    status = Status()
    for at, event in events:
        status = advance(plan, status, event, T0 + at).status  # type: ignore[arg-type]
        if not status.traffic_applied:
            status = advance(plan, status, Applied(), T0 + at).status
    return status


def plan_from(text: str, **replace: str) -> RunPlan:
    for old, new in replace.items():
        text = text.replace(old, new)
    return run_plan(load_experiment_text(text))


@pytest.fixture
def canary_plan() -> RunPlan:
    return plan_from(CANARY)
