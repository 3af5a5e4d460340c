"""The share of the counted requests a canary should get while injected aborts stop some before its backends."""

from __future__ import annotations

import pytest

from rollout.judging import counted_share
from rollout.plan import run_plan
from rollout.spec.loader import load_experiment_text

HEAD = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: c, namespace: shop}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10, 25]}}
  analysis: {metrics: [{name: errors, template: istio-error-rate}]}
  chaos:
    faults:
"""


def share(faults: str, weight: float = 25.0, on: bool = True) -> float | None:
    plan = run_plan(load_experiment_text(HEAD + faults))
    return counted_share(plan, weight, [f.fault.id for f in plan.faults] if on else [])


def test_aborts_on_the_canary_leave_it_less_of_what_is_counted() -> None:
    assert share("      - {abort: {httpStatus: 503, percent: 30}, arm: canary}") == pytest.approx(100 * 0.175 / 0.925)


def test_aborts_on_the_stable_leave_the_canary_more() -> None:
    assert share("      - {abort: {httpStatus: 503, percent: 50}, arm: stable}") == pytest.approx(100 * 0.25 / 0.625)


@pytest.mark.parametrize(
    "faults",
    [
        "      - {abort: {httpStatus: 503, percent: 30}, arm: both}",  # both arms alike: the weight
        "      - {delay: {fixed: 100ms, percent: 50}, arm: canary}",  # a delay stops nothing
    ],
)
def test_what_stops_no_arm_more_than_the_other_leaves_the_weight(faults: str) -> None:
    assert share(faults) == pytest.approx(25.0)


def test_faults_that_are_off_change_nothing() -> None:
    assert share("      - {abort: {httpStatus: 503, percent: 30}, arm: canary}", on=False) == pytest.approx(25.0)


def test_an_abort_on_a_cohort_leaves_the_share_unknown() -> None:
    cohort = "      - {abort: {httpStatus: 503, percent: 30}, arm: canary, match: [{headers: {x-user: {exact: qa}}}]}"
    assert share(cohort) is None
