"""Rendering a plan into an HTTPRoute: weights, the A/B rule and the mirror filter; nothing else moves."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.matching import MatchKind, RequestMatch, StringMatch
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_gateway_api import render, sweep
from tests.unit.mesh.crd_schema import example, problems
from tests.unit.mesh.samples import BETA, COOKIE, RICH_ROUTE, fault, gateway_settings, named, names, unowned_view
from tests.unit.mesh.strategies import plans

RICH = gateway_settings(RICH_ROUTE, "checkout-v1", "checkout-v2", rule="primary")
GAMMA = example("gateway-api-httproute-gamma-weighted-90-10.yaml")[0]
GAMMA_SETTINGS = gateway_settings(GAMMA, "reviews-v1", "reviews-v2")
HEADER = example("gateway-api-httproute-header-match.yaml")[0]
HEADER_SETTINGS = gateway_settings(HEADER, "foo-v1", "foo-v2")
MIRRORING = example("gateway-api-httproute-mirroring.yaml")[0]
MIRRORING_SETTINGS = gateway_settings(MIRRORING, "foo-v1", "foo-v2")
AB = "meshroll-ab-shop.checkout-v2"
ALL_STABLE = TrafficPlan.all_stable()


def rendered(plan: TrafficPlan, route: dict[str, Any] = RICH_ROUTE, config: Any = RICH) -> Any:
    result = render(route, plan, config)
    assert problems(result) == []
    return result


def rules(route: dict[str, Any]) -> list[dict[str, Any]]:
    return route["spec"]["rules"]  # type: ignore[no-any-return]


def test_weights_on_a_gamma_route_leave_the_service_parent_alone() -> None:
    route = rendered(TrafficPlan(70, 30), GAMMA, GAMMA_SETTINGS)
    assert [r["weight"] for r in rules(route)[0]["backendRefs"]] == [70, 30]
    assert route["spec"]["parentRefs"] == GAMMA["spec"]["parentRefs"]
    back = copy.deepcopy(GAMMA)
    back["spec"]["rules"][0]["backendRefs"][0]["weight"] = 100
    back["spec"]["rules"][0]["backendRefs"][1]["weight"] = 0
    assert rendered(ALL_STABLE, route, GAMMA_SETTINGS) == back


def test_a_canary_backend_is_added_beside_the_stable_one_and_removed_at_zero() -> None:
    route = rendered(TrafficPlan(80, 20), HEADER, HEADER_SETTINGS)
    assert rules(route)[0]["backendRefs"] == [
        {"name": "foo-v1", "port": 8080, "weight": 80},
        {"name": "foo-v2", "port": 8080, "weight": 20},
    ]
    assert rules(route)[1] == rules(HEADER)[1]
    assert rendered(ALL_STABLE, route, HEADER_SETTINGS) == HEADER


def test_the_ab_rule_sits_before_the_managed_rule_and_covers_only_its_requests() -> None:
    prefix = RequestMatch(headers=(("X-Build", StringMatch(MatchKind.PREFIX, "2.1")),))
    route = rendered(TrafficPlan(ab_matches=(BETA, prefix)))
    assert names(rules(route)) == ["admin", AB, "primary", "rest"]
    ab, primary = named(rules(route), AB), named(rules(route), "primary")
    assert len(ab["matches"]) == 4
    assert ab["matches"][0] == {
        "path": {"type": "PathPrefix", "value": "/api"},
        "headers": [{"name": "x-region", "value": "eu"}, {"type": "Exact", "name": "X-Beta", "value": "yes"}],
    }
    assert ab["matches"][3]["headers"] == [{"type": "RegularExpression", "name": "X-Build", "value": "^2\\.1.*"}]
    assert ab["matches"][3]["method"] == "GET"
    assert ab["filters"] == primary["filters"] and ab["timeouts"] == primary["timeouts"]
    assert ab["backendRefs"] == [{"name": "checkout-v2", "port": 8080, "weight": 100}]
    assert rendered(ALL_STABLE, route) == RICH_ROUTE


def test_a_cookie_cohort_is_a_regular_expression_on_the_cookie_header() -> None:
    ab = named(rules(rendered(TrafficPlan(ab_matches=(COOKIE,)))), AB)
    assert ab["matches"][1]["headers"][0]["type"] == "RegularExpression"
    assert ab["matches"][1]["headers"][0]["name"] == "cookie"


def test_mirroring_adds_one_request_mirror_filter_and_removes_it_at_zero() -> None:
    route = rendered(TrafficPlan(90, 10, mirror_percent=20.0))
    filters = named(rules(route), "primary")["filters"]
    assert filters[:2] == named(rules(RICH_ROUTE), "primary")["filters"]
    assert filters[2] == {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "checkout-v2", "port": 8080}, "percent": 20},
    }
    fraction = named(rules(rendered(TrafficPlan(90, 10, mirror_percent=12.5))), "primary")["filters"][2]
    assert fraction["requestMirror"]["fraction"] == {"numerator": 1250, "denominator": 10000}
    assert named(rules(rendered(TrafficPlan(90, 10), route)), "primary")["filters"] == filters[:2]


def test_a_request_mirror_the_user_wrote_is_never_replaced_or_doubled() -> None:
    with pytest.raises(MeshError, match="already has a RequestMirror filter"):
        render(MIRRORING, TrafficPlan(mirror_percent=10.0), MIRRORING_SETTINGS)
    route = rendered(TrafficPlan(60, 40), MIRRORING, MIRRORING_SETTINGS)
    assert rules(route)[0]["filters"] == rules(MIRRORING)[0]["filters"]


def test_faults_are_refused_with_the_alternatives() -> None:
    with pytest.raises(MeshError, match=r"Gateway API has no fault injection.*use provider istio or local"):
        render(RICH_ROUTE, TrafficPlan(faults=(fault(0, abort=503),)), RICH)


def test_sweep_removes_the_ab_rule_and_the_mirror_but_keeps_weights() -> None:
    crashed = rendered(TrafficPlan(65, 35, ab_matches=(BETA,), mirror_percent=5.0))
    swept, removed = sweep(crashed, RICH.owner, RICH)
    assert removed == [AB, "rule 'primary' of HTTPRoute shop/checkout.filters[RequestMirror]"]
    assert swept == rendered(TrafficPlan(65, 35))


def test_a_sixteenth_rule_is_the_limit() -> None:
    crowded = copy.deepcopy(RICH_ROUTE)
    crowded["spec"]["rules"] += [{"name": f"r{i}", "backendRefs": [{"name": "x", "port": 80}]} for i in range(13)]
    assert problems(crowded) == []
    with pytest.raises(MeshError, match="would have 17 rules"):
        render(crowded, TrafficPlan(ab_matches=(BETA,)), RICH)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (gateway_settings(RICH_ROUTE, "checkout-v1", "checkout-v2", rule="nope"), "has no rule named 'nope'"),
        (
            gateway_settings(RICH_ROUTE, "checkout-v0", "checkout-v2"),
            "no rule with a backendRef to Service checkout-v0",
        ),
    ],
)
def test_what_cannot_be_found_is_named_with_the_next_step(config: Any, message: str) -> None:
    with pytest.raises(MeshError, match=message):
        render(RICH_ROUTE, TrafficPlan(90, 10), config)


STARTS = [(RICH_ROUTE, RICH, 1, False), (GAMMA, GAMMA_SETTINGS, 0, True), (HEADER, HEADER_SETTINGS, 0, False)]
EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
gateway_plans = plans(with_faults=False)


def _view(route: dict[str, Any], config: Any, managed: int, own_canary: bool) -> dict[str, Any]:
    weighted = {config.stable_service, config.canary_service}
    created = set() if own_canary else {config.canary_service}
    return unowned_view(route, managed=managed, weighted=weighted, created=created, mesh_keys={"filters"})


@EXAMPLES
@given(st.sampled_from(STARTS), gateway_plans, gateway_plans)
def test_any_plan_renders_idempotently_validly_and_only_in_owned_fields(
    start: Any, before: TrafficPlan, plan: TrafficPlan
) -> None:
    original, config, managed, own_canary = start
    route = render(original, plan, config)
    assert render(route, plan, config) == route
    assert render(render(original, before, config), plan, config) == route
    assert problems(route) == []
    assert _view(route, config, managed, own_canary) == _view(original, config, managed, own_canary)
    user_filters = [f for f in rules(original)[managed].get("filters", []) if f["type"] != "RequestMirror"]
    managed_rule = [r for r in rules(route) if r.get("name") != AB][managed]
    assert [f for f in managed_rule.get("filters", []) if f["type"] != "RequestMirror"] == user_filters
    assert render(route, ALL_STABLE, config) == render(original, ALL_STABLE, config)


def test_another_weighted_backend_is_refused_before_the_canary_gets_traffic() -> None:
    route = copy.deepcopy(RICH_ROUTE)
    named(route["spec"]["rules"], "primary")["backendRefs"][1]["weight"] = 50
    with pytest.raises(MeshError, match=r"checkout-legacy.*weight 50.*set it to 0"):
        render(route, TrafficPlan(80, 20), RICH)
    render(route, TrafficPlan.all_stable(), RICH)


def test_a_revert_beside_the_backend_now_serving_leaves_it_serving() -> None:
    """A refused run whose stable is no longer the version serving the route reverts to what the route holds."""
    route = copy.deepcopy(RICH_ROUTE)
    refs = named(route["spec"]["rules"], "primary")["backendRefs"]
    refs[0]["weight"], refs[1]["weight"] = 0, 100  # checkout-v1 0, checkout-legacy (serving) 100
    with pytest.raises(MeshError, match="checkout-legacy has weight 100"):
        render(route, TrafficPlan(90, 10), RICH)
    reverted = named(render(route, ALL_STABLE, RICH)["spec"]["rules"], "primary")["backendRefs"]
    assert [(r["name"], r["weight"]) for r in reverted] == [("checkout-v1", 0), ("checkout-legacy", 100)]
