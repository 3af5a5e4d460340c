"""Rendering a plan into an SMI TrafficSplit: the two weights, nothing else."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_smi import SmiSettings, render
from tests.unit.mesh.crd_schema import example, problems
from tests.unit.mesh.samples import BETA, OWNER, V1ALPHA4, fault

LINKERD = example("smi-trafficsplit-v1alpha1-quantity-weights.yaml")[0]
LINKERD_SETTINGS = SmiSettings(OWNER, "default", "backend-traffic-split", "backend-svc", "failing-svc")
V1ALPHA4_SETTINGS = SmiSettings(OWNER, "test", "podinfo", "podinfo-primary", "podinfo-canary")


def test_weights_are_integers_even_where_linkerd_wrote_quantities() -> None:
    split = render(LINKERD, TrafficPlan(75, 25), LINKERD_SETTINGS)
    assert split["spec"]["backends"] == [
        {"service": "backend-svc", "weight": 75},
        {"service": "failing-svc", "weight": 25},
    ]
    assert problems(split) == []
    assert split["spec"]["service"] == "backend-svc" and split["metadata"] == LINKERD["metadata"]


def test_a_canary_backend_is_added_after_the_stable_one_and_removed_at_zero() -> None:
    split = render(V1ALPHA4, TrafficPlan(90, 10), V1ALPHA4_SETTINGS)
    assert [b["service"] for b in split["spec"]["backends"]] == ["podinfo-primary", "podinfo-canary", "podinfo-legacy"]
    assert problems(split) == []
    assert render(split, TrafficPlan.all_stable(), V1ALPHA4_SETTINGS) == V1ALPHA4


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (TrafficPlan(mirror_percent=10.0), "cannot mirror"),
        (TrafficPlan(ab_matches=(BETA,)), "cannot route an A/B cohort"),
        (TrafficPlan(faults=(fault(0, abort=500),)), "cannot inject faults"),
    ],
)
def test_what_smi_cannot_do_is_refused_with_the_alternatives(plan: TrafficPlan, message: str) -> None:
    with pytest.raises(MeshError, match=message):
        render(V1ALPHA4, plan, V1ALPHA4_SETTINGS)


def test_a_missing_stable_backend_says_how_services_are_named() -> None:
    broken = copy.deepcopy(V1ALPHA4)
    broken["spec"]["backends"] = [{"service": "other", "weight": 1}]
    with pytest.raises(MeshError, match=r"no backend for Service podinfo-primary.*<service>-<version>"):
        render(broken, TrafficPlan(90, 10), V1ALPHA4_SETTINGS)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100), st.integers(0, 100))
def test_any_weights_render_idempotently_and_validly(first: int, canary: int) -> None:
    plan = TrafficPlan(100 - canary, canary)
    for original, config in ((V1ALPHA4, V1ALPHA4_SETTINGS), (LINKERD, LINKERD_SETTINGS)):
        split = render(render(original, TrafficPlan(100 - first, first), config), plan, config)
        assert split == render(original, plan, config) == render(split, plan, config)
        assert problems(split) == []
        assert {k: v for k, v in split["spec"].items() if k != "backends"} == {
            k: v for k, v in original["spec"].items() if k != "backends"
        }
