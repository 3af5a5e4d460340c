"""Experiments for machine tests, built from YAML the way users write them."""

from __future__ import annotations

import pytest

from rollout.plan import RunPlan, run_plan
from rollout.spec import load_experiment_text

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


def plan_from(text: str, **replace: str) -> RunPlan:
    for old, new in replace.items():
        text = text.replace(old, new)
    return run_plan(load_experiment_text(text))


@pytest.fixture
def canary_plan() -> RunPlan:
    return plan_from(CANARY)
