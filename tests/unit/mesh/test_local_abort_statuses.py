"""The embedded mesh carries out exactly the aborts the spec accepts: one rule for the HTTP status, one message."""

from __future__ import annotations

import pytest

from chaos.faults import Abort, Arm, Fault
from rollout.localmesh.routing import plan_problems
from rollout.mesh.plan import TrafficPlan
from rollout.spec import SpecError
from rollout.spec.loader import load_experiment_text

STATUSES = [100, 200, 204, 302, 399, 400, 404, 451, 499, 500, 503, 599, 600, 999]


def spec_problem(status: int) -> str | None:
    """What ``meshroll validate`` says of an abort answering ``status`` (None: it is accepted)."""
    text = f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: checkout-v2, namespace: shop}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {{provider: local}}
  chaos:
    duration: 5m
    faults: [{{abort: {{httpStatus: {status}, percent: 5}}}}]
"""
    try:
        load_experiment_text(text, "x.yaml")
    except SpecError as exc:
        [problem] = exc.problems
        assert problem.path == "spec.chaos.faults[0].abort.httpStatus"
        return problem.message
    return None


def mesh_problems(status: int) -> list[str]:
    """What the embedded mesh says of a plan with that abort on the canary (empty: it carries it out)."""
    fault = Fault("shop/checkout-v2#0", "shop/checkout-v2", Arm.CANARY, abort=Abort(5.0, http_status=status))
    return plan_problems(TrafficPlan(stable_weight=90, canary_weight=10, faults=(fault,)))


@pytest.mark.parametrize("status", STATUSES)
def test_the_embedded_mesh_refuses_an_abort_status_exactly_when_the_spec_does_and_says_the_same(status: int) -> None:
    said = spec_problem(status)
    assert mesh_problems(status) == ([] if said is None else [f"fault 'shop/checkout-v2#0': {said}"])


def test_a_success_or_redirect_status_is_refused_by_both() -> None:
    for status in (200, 302):
        assert spec_problem(status) is not None and mesh_problems(status) != []
