"""A canary's cohort beside the step weights, in a VirtualService and an HTTPRoute: the cohort route goes
before the weighted one, the weights stay on the managed entry, and both go when the run ends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.mesh import render_gateway_api, render_istio, render_smi
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import StickySession, TrafficPlan
from rollout.mesh.render_smi import SmiSettings
from tests.unit.mesh.crd_schema import problems
from tests.unit.mesh.samples import (
    BETA,
    COOKIE,
    OWNER,
    RICH_ROUTE,
    RICH_SETTINGS,
    RICH_VIRTUAL_SERVICE,
    V1ALPHA4,
    gateway_settings,
    named,
    names,
    unowned_view,
)

COHORT_ROUTE = "meshroll-ab-shop.checkout-v2"
AFFINITY = "meshroll-affinity-shop.checkout-v2"
GATEWAY = gateway_settings(RICH_ROUTE, "checkout-v1", "checkout-v2", rule="primary")
STICKY = StickySession("meshroll-canary", "shop.checkout-v2.1700000000000", 86400)
ALL_STABLE = TrafficPlan.all_stable()
PROMOTED = TrafficPlan(0, 100)


def cohort_at(canary_weight: int, **more: Any) -> TrafficPlan:
    """A canary run's step: the weights, and the beta cohort (header or cookie) wholly to the canary."""
    return TrafficPlan(100 - canary_weight, canary_weight, ab_matches=(BETA, COOKIE), **more)


def istio(plan: TrafficPlan, vs: dict[str, Any] = RICH_VIRTUAL_SERVICE) -> Any:
    result = render_istio.render(vs, plan, RICH_SETTINGS)
    assert problems(result) == []  # valid against the VirtualService CRD
    assert render_istio.render(result, plan, RICH_SETTINGS) == result
    return result


def gateway(plan: TrafficPlan, route: dict[str, Any] = RICH_ROUTE) -> Any:
    result = render_gateway_api.render(route, plan, GATEWAY)
    assert problems(result) == []  # valid against the HTTPRoute CRD
    assert render_gateway_api.render(result, plan, GATEWAY) == result
    return result


def http(vs: dict[str, Any]) -> list[dict[str, Any]]:
    return vs["spec"]["http"]  # type: ignore[no-any-return]


def rules(route: dict[str, Any]) -> list[dict[str, Any]]:
    return route["spec"]["rules"]  # type: ignore[no-any-return]


def istio_weights(route: dict[str, Any]) -> dict[str, int]:
    """Weight per destination: by subset, or by host for the user's third destination."""
    return {d["destination"].get("subset", d["destination"]["host"]): d["weight"] for d in route["route"]}


def gateway_weights(rule: dict[str, Any]) -> dict[str, int]:
    return {b["name"]: b["weight"] for b in rule["backendRefs"]}


# --- Istio ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("canary_weight", [5, 10, 50])
def test_istio_the_cohort_route_comes_before_the_weighted_route_which_keeps_the_step_weights(
    canary_weight: int,
) -> None:
    vs = istio(cohort_at(canary_weight))
    assert names(http(vs)) == ["admin", "legacy", COHORT_ROUTE, "primary", "catch-all"]
    cohort = named(http(vs), COHORT_ROUTE)
    assert istio_weights(cohort) == {"v2": 100}
    cookie = {"cookie": {"regex": COOKIE.headers[0][1].value}}
    assert cohort["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-region": {"exact": "eu"}, "x-beta": {"exact": "yes"}}},
        {"uri": {"prefix": "/api"}, "headers": {"x-region": {"exact": "eu"}, **cookie}},
        {"uri": {"prefix": "/v2/api"}, "headers": {"x-beta": {"exact": "yes"}}},
        {"uri": {"prefix": "/v2/api"}, "headers": cookie},
    ]  # the managed route's own matches ANDed with each cohort entry (Istio spells header names in lower case)
    primary = istio_weights(named(http(vs), "primary"))
    assert primary == {"v1": 100 - canary_weight, "v2": canary_weight, "checkout-legacy": 0}


def test_istio_the_users_routes_are_untouched_by_the_cohort() -> None:
    view = {"managed": 2, "weighted": {"v1", "v2"}, "created": {"v2"}}
    assert unowned_view(istio(cohort_at(10)), **view) == unowned_view(RICH_VIRTUAL_SERVICE, **view)


@pytest.mark.parametrize("end", [ALL_STABLE, TrafficPlan(100, 0)], ids=["rollback-or-abort", "superseded"])
def test_istio_rollback_abort_or_supersession_removes_the_cohort_with_the_weights(end: TrafficPlan) -> None:
    assert istio(end, istio(cohort_at(25))) == RICH_VIRTUAL_SERVICE


def test_istio_promotion_removes_the_cohort_route_and_sends_everyone_to_the_canary() -> None:
    vs = istio(PROMOTED, istio(cohort_at(50)))
    assert COHORT_ROUTE not in names(http(vs))
    assert istio_weights(named(http(vs), "primary")) == {"v1": 0, "v2": 100, "checkout-legacy": 0}


def test_istio_a_cohort_with_session_affinity_puts_the_cohort_route_first_then_the_sticky_route() -> None:
    vs = istio(cohort_at(10, affinity=STICKY))
    assert names(http(vs)) == ["admin", "legacy", COHORT_ROUTE, AFFINITY, "primary", "catch-all"]
    assert "headers" not in named(http(vs), COHORT_ROUTE)["route"][0]  # a cohort answer sets no sticky cookie
    assert istio(ALL_STABLE, vs) == RICH_VIRTUAL_SERVICE


def test_istio_sweep_after_a_crash_removes_the_cohort_route_and_keeps_the_weights() -> None:
    swept, removed = render_istio.sweep(istio(cohort_at(10)), OWNER, RICH_SETTINGS)
    assert removed == [COHORT_ROUTE]
    assert swept == istio(TrafficPlan(90, 10))


# --- Gateway API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("canary_weight", [5, 10, 50])
def test_gateway_the_cohort_rule_comes_before_the_weighted_rule_which_keeps_the_step_weights(
    canary_weight: int,
) -> None:
    route = gateway(cohort_at(canary_weight))
    assert names(rules(route)) == ["admin", COHORT_ROUTE, "primary", "rest"]
    assert gateway_weights(named(rules(route), COHORT_ROUTE)) == {"checkout-v2": 100}
    beta = {"type": "Exact", "name": "X-Beta", "value": "yes"}
    assert [m.get("headers") for m in named(rules(route), COHORT_ROUTE)["matches"]][::2] == [
        [{"name": "x-region", "value": "eu"}, beta],
        [beta],
    ]
    primary = gateway_weights(named(rules(route), "primary"))
    assert primary == {"checkout-v1": 100 - canary_weight, "checkout-v2": canary_weight, "checkout-legacy": 0}


def test_gateway_the_users_rules_are_untouched_by_the_cohort() -> None:
    view = {"managed": 1, "weighted": {"checkout-v1", "checkout-v2"}, "created": {"checkout-v2"}}
    assert unowned_view(gateway(cohort_at(10)), **view) == unowned_view(RICH_ROUTE, **view)


def test_gateway_rollback_restores_the_route_exactly_and_promotion_leaves_no_cohort_rule() -> None:
    assert gateway(ALL_STABLE, gateway(cohort_at(10))) == RICH_ROUTE
    promoted = gateway(PROMOTED, gateway(cohort_at(50)))
    assert COHORT_ROUTE not in names(rules(promoted))
    assert gateway_weights(named(rules(promoted), "primary")) == {
        "checkout-v1": 0,
        "checkout-v2": 100,
        "checkout-legacy": 0,
    }


def test_gateway_a_cohort_with_session_affinity_keeps_both_rules_before_the_weighted_one() -> None:
    route = gateway(cohort_at(10, affinity=STICKY))
    assert names(rules(route)) == ["admin", COHORT_ROUTE, AFFINITY, "primary", "rest"]
    assert gateway(ALL_STABLE, route) == RICH_ROUTE


# --- SMI ------------------------------------------------------------------------------------------


def test_smi_refuses_a_cohort_beside_weights_naming_the_field() -> None:
    settings = SmiSettings(OWNER, "test", "podinfo", "podinfo-primary", "podinfo-canary")
    with pytest.raises(MeshError, match=r"cannot route a cohort .* spec.strategy.canary.cohort"):
        render_smi.render(copy.deepcopy(V1ALPHA4), cohort_at(10), settings)
