"""A sticky canary in a VirtualService and an HTTPRoute: a cookie route before the managed entry and a
Set-Cookie on the canary destination while both arms get traffic; nothing of it after the run."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from chaos.faults import Arm
from rollout.mesh import render_gateway_api, render_istio, render_smi
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import StickySession, TrafficPlan
from rollout.mesh.render_istio import IstioSettings
from rollout.mesh.render_smi import SmiSettings
from tests.unit.mesh.crd_schema import example, problems
from tests.unit.mesh.samples import (
    BETA,
    OWNER,
    RICH_ROUTE,
    RICH_SETTINGS,
    RICH_VIRTUAL_SERVICE,
    V1ALPHA4,
    fault,
    gateway_settings,
    named,
    names,
    unowned_view,
)

STICKY = StickySession("meshroll-canary", "shop.checkout-v2.1700000000000", 86400)
NEXT_RUN = StickySession("meshroll-canary", "shop.checkout-v2.1700000999000", 3600)
SET_COOKIE = "meshroll-canary=shop.checkout-v2.1700000000000; Max-Age=86400; Path=/"
AFFINITY = "meshroll-affinity-shop.checkout-v2"
ALL_STABLE = TrafficPlan.all_stable()
PROMOTED = TrafficPlan(0, 100)
GATEWAY = gateway_settings(RICH_ROUTE, "checkout-v1", "checkout-v2", rule="primary")


def sticky(canary_weight: int, session: StickySession = STICKY, **more: Any) -> TrafficPlan:
    return TrafficPlan(100 - canary_weight, canary_weight, affinity=session, **more)


def istio(plan: TrafficPlan, vs: dict[str, Any] = RICH_VIRTUAL_SERVICE, s: IstioSettings = RICH_SETTINGS) -> Any:
    result = render_istio.render(vs, plan, s)
    assert problems(result) == []
    assert render_istio.render(result, plan, s) == result  # re-applying the plan changes nothing
    return result


def gateway(plan: TrafficPlan, route: dict[str, Any] = RICH_ROUTE, s: Any = GATEWAY) -> Any:
    result = render_gateway_api.render(route, plan, s)
    assert problems(result) == []
    assert render_gateway_api.render(result, plan, s) == result
    return result


def http(vs: dict[str, Any]) -> list[dict[str, Any]]:
    return vs["spec"]["http"]  # type: ignore[no-any-return]


def rules(route: dict[str, Any]) -> list[dict[str, Any]]:
    return route["spec"]["rules"]  # type: ignore[no-any-return]


def owned(obj: dict[str, Any], entries: str) -> tuple[list[str], list[str]]:
    annotations = obj["metadata"].get("annotations", {})
    return json.loads(annotations.get(entries, "[]")), json.loads(annotations.get("meshroll.io/owned-fields", "[]"))


def destination(route: dict[str, Any], subset: str) -> dict[str, Any]:
    return next(d for d in route["route"] if d["destination"].get("subset") == subset)


def backend(rule: dict[str, Any], service: str) -> dict[str, Any]:
    return next(b for b in rule["backendRefs"] if b["name"] == service)


# --- the cookie itself ----------------------------------------------------------------------------


def test_the_cookie_match_finds_this_runs_cookie_among_others_and_nothing_else() -> None:
    pattern = STICKY.match.headers[0][1].value
    assert STICKY.match.headers[0][0] == "cookie"
    hits = [
        "meshroll-canary=shop.checkout-v2.1700000000000",
        "session=abc; meshroll-canary=shop.checkout-v2.1700000000000",
        "a=1;meshroll-canary=shop.checkout-v2.1700000000000; theme=dark",
    ]
    misses = [
        "meshroll-canary=shop.checkout-v2.1700000999000",  # an earlier run's cookie is inert
        "xmeshroll-canary=shop.checkout-v2.1700000000000",
        "meshroll-canary=shop.checkout-v2.17000000000001",
        "meshroll-canaryXshop.checkout-v2.1700000000000",
        "",
    ]
    assert all(re.fullmatch(pattern, h) for h in hits)
    assert not any(re.fullmatch(pattern, m) for m in misses)


# --- Istio ----------------------------------------------------------------------------------------


def test_istio_sticky_route_goes_before_the_managed_route_and_sends_cookie_holders_to_the_canary() -> None:
    vs = istio(sticky(10))
    assert names(http(vs)) == ["admin", "legacy", AFFINITY, "primary", "catch-all"]
    route, primary = named(http(vs), AFFINITY), named(http(vs), "primary")
    cookie = {"cookie": {"regex": STICKY.match.headers[0][1].value}}
    assert route["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-region": {"exact": "eu"}, **cookie}},
        {"uri": {"prefix": "/v2/api"}, "headers": cookie},
    ]
    assert route["route"] == [
        {"destination": {"host": "checkout", "subset": "v2", "port": {"number": 8080}}, "weight": 100}
    ]
    assert "headers" not in route["route"][0]  # the sticky route does not renew the cookie
    for key in ("timeout", "retries", "headers", "corsPolicy", "rewrite"):
        assert route[key] == primary[key]


def test_istio_canary_destination_sets_the_cookie_with_max_age_and_path() -> None:
    primary = named(http(istio(sticky(10))), "primary")
    assert destination(primary, "v2")["headers"] == {"response": {"add": {"Set-Cookie": SET_COOKIE}}}
    assert destination(primary, "v1")["headers"] == {"request": {"set": {"x-version": "v1"}}}  # the user's


def test_istio_annotations_record_the_sticky_route_and_the_set_cookie_for_gitops_users() -> None:
    assert owned(istio(sticky(25)), "meshroll.io/owned-routes") == (
        [AFFINITY],
        ["route[subset=v2]", "route[subset=v2].Set-Cookie"],
    )


def test_istio_routes_meshroll_does_not_own_are_untouched() -> None:
    view = {"managed": 2, "weighted": {"v1", "v2"}, "created": {"v2"}}
    assert unowned_view(istio(sticky(50)), **view) == unowned_view(RICH_VIRTUAL_SERVICE, **view)


@pytest.mark.parametrize("end", [ALL_STABLE, TrafficPlan(100, 0)], ids=["rollback-or-abort", "superseded"])
def test_istio_rollback_abort_or_supersession_restores_the_object_exactly(end: TrafficPlan) -> None:
    assert istio(end, istio(sticky(10))) == RICH_VIRTUAL_SERVICE


def test_istio_promotion_removes_the_sticky_route_and_the_cookie_and_keeps_the_canary_at_100() -> None:
    vs = istio(PROMOTED, istio(sticky(50)))
    assert AFFINITY not in names(http(vs))
    primary = named(http(vs), "primary")
    assert "headers" not in destination(primary, "v2")
    assert (destination(primary, "v1")["weight"], destination(primary, "v2")["weight"]) == (0, 100)
    assert owned(vs, "meshroll.io/owned-routes") == ([], ["route[subset=v2]"])


def test_istio_a_new_run_replaces_the_cookie_rather_than_adding_a_second() -> None:
    vs = istio(sticky(10, NEXT_RUN), istio(sticky(10)))
    headers = destination(named(http(vs), "primary"), "v2")["headers"]
    assert headers == {"response": {"add": {"Set-Cookie": NEXT_RUN.set_cookie}}}
    assert named(http(vs), AFFINITY)["match"][1]["headers"]["cookie"]["regex"] == NEXT_RUN.match.headers[0][1].value


def test_istio_a_canary_destination_the_user_wrote_gets_the_cookie_beside_its_headers_and_loses_it_after() -> None:
    original = example("istio-virtualservice-weighted-90-10.yaml")[0]
    original["spec"]["http"][0]["route"][1]["headers"] = {"response": {"add": {"x-canary": "yes"}, "remove": ["foo"]}}
    settings = IstioSettings("default/reviews-v2", "default", "reviews", "reviews", "v1", "v2")
    session = StickySession("beta", "default.reviews-v2.1", 60)
    vs = istio(sticky(10, session), original, settings)
    assert names(http(vs)) == ["meshroll-affinity-default.reviews-v2", None]
    assert http(vs)[1]["route"][1]["headers"] == {
        "response": {
            "add": {"x-canary": "yes", "Set-Cookie": "beta=default.reviews-v2.1; Max-Age=60; Path=/"},
            "remove": ["foo"],
        }
    }
    back = istio(TrafficPlan(90, 10), vs, settings)
    assert back["spec"]["http"][0] == original["spec"]["http"][0]
    assert "annotations" not in back["metadata"]


def test_istio_a_set_cookie_the_user_wrote_on_the_canary_is_never_overwritten() -> None:
    original = example("istio-virtualservice-weighted-90-10.yaml")[0]
    original["spec"]["http"][0]["route"][1]["headers"] = {"response": {"set": {"set-cookie": "theirs=1"}}}
    settings = IstioSettings("default/reviews-v2", "default", "reviews", "reviews", "v1", "v2")
    with pytest.raises(
        MeshError,
        match=r"already sets a Set-Cookie header .*headers.response.set.* drop spec.strategy.canary.sessionAffinity",
    ):
        render_istio.render(original, sticky(10), settings)


def test_istio_fault_routes_stay_first_and_a_both_arms_fault_follows_sticky_users() -> None:
    cohort_fault = fault(0, Arm.CANARY, abort=503, cohort=(BETA,))
    everyone = fault(1, Arm.BOTH, delay_ms=100)
    vs = istio(sticky(10, faults=(cohort_fault, everyone)))
    assert names(http(vs)) == ["admin", "legacy", "meshroll-fault-0.shop.checkout-v2", AFFINITY, "primary", "catch-all"]
    assert named(http(vs), AFFINITY)["fault"] == named(http(vs), "primary")["fault"]


def test_istio_sweep_removes_the_sticky_route_and_the_cookie_but_keeps_weights() -> None:
    swept, removed = render_istio.sweep(istio(sticky(10)), OWNER, RICH_SETTINGS)
    label = "http route 'primary' of VirtualService shop/checkout"
    assert removed == [AFFINITY, f"{label}.Set-Cookie"]
    assert swept == istio(TrafficPlan(90, 10))


# --- Gateway API ----------------------------------------------------------------------------------


def test_gateway_sticky_rule_matches_the_cookie_header_by_regular_expression_before_the_managed_rule() -> None:
    route = gateway(sticky(10))
    assert names(rules(route)) == ["admin", AFFINITY, "primary", "rest"]
    rule, primary = named(rules(route), AFFINITY), named(rules(route), "primary")
    cookie = {"type": "RegularExpression", "name": "cookie", "value": STICKY.match.headers[0][1].value}
    assert rule["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/api"}, "headers": [{"name": "x-region", "value": "eu"}, cookie]},
        {"path": {"type": "PathPrefix", "value": "/v2/api"}, "method": "GET", "headers": [cookie]},
    ]
    assert rule["backendRefs"] == [{"name": "checkout-v2", "port": 8080, "weight": 100}]
    assert (rule["filters"], rule["timeouts"]) == (primary["filters"], primary["timeouts"])


def test_gateway_canary_backend_ref_gets_a_response_header_modifier_adding_set_cookie() -> None:
    route = gateway(sticky(10))
    assert backend(named(rules(route), "primary"), "checkout-v2")["filters"] == [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": SET_COOKIE}]},
        }
    ]
    assert "filters" not in backend(named(rules(route), "primary"), "checkout-v1")
    assert owned(route, "meshroll.io/owned-rules") == (
        [AFFINITY],
        ["backendRefs[name=checkout-v2]", "backendRefs[name=checkout-v2].Set-Cookie"],
    )


def test_gateway_rules_meshroll_does_not_own_are_untouched() -> None:
    view = {"managed": 1, "weighted": {"checkout-v1", "checkout-v2"}, "created": {"checkout-v2"}}
    assert unowned_view(gateway(sticky(30)), **view) == unowned_view(RICH_ROUTE, **view)


def test_gateway_rollback_restores_the_route_exactly_and_promotion_leaves_no_cookie() -> None:
    assert gateway(ALL_STABLE, gateway(sticky(10))) == RICH_ROUTE
    promoted = gateway(PROMOTED, gateway(sticky(50)))
    assert AFFINITY not in names(rules(promoted))
    assert "filters" not in backend(named(rules(promoted), "primary"), "checkout-v2")
    assert owned(promoted, "meshroll.io/owned-rules") == ([], ["backendRefs[name=checkout-v2]"])


def test_gateway_a_response_header_modifier_the_user_wrote_on_the_canary_keeps_its_headers() -> None:
    original = example("gateway-api-httproute-weighted-90-10.yaml")[0]
    theirs = {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"set": [{"name": "x-arm", "value": "canary"}]},
    }
    original["spec"]["rules"][0]["backendRefs"][1]["filters"] = [theirs]
    settings = gateway_settings(original, "foo-v1", "foo-v2")
    route = gateway(sticky(10), original, settings)
    assert rules(route)[-1]["backendRefs"][1]["filters"] == [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {
                "set": [{"name": "x-arm", "value": "canary"}],
                "add": [{"name": "Set-Cookie", "value": SET_COOKIE}],
            },
        }
    ]
    affinity_rule = named(rules(route), AFFINITY)
    assert affinity_rule["backendRefs"] == [{"name": "foo-v2", "port": 8080, "weight": 100, "filters": [theirs]}]
    back = gateway(TrafficPlan(90, 10), route, settings)
    assert back["spec"] == original["spec"]


def test_gateway_a_set_cookie_the_user_wrote_on_the_canary_is_never_doubled() -> None:
    original = example("gateway-api-httproute-weighted-90-10.yaml")[0]
    theirs = {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": "a=b"}]},
    }
    original["spec"]["rules"][0]["backendRefs"][1]["filters"] = [theirs]
    with pytest.raises(MeshError, match="already sets a Set-Cookie header"):
        render_gateway_api.render(original, sticky(10), gateway_settings(original, "foo-v1", "foo-v2"))


def test_gateway_sweep_removes_the_sticky_rule_and_the_cookie_but_keeps_weights() -> None:
    swept, removed = render_gateway_api.sweep(gateway(sticky(20)), OWNER, GATEWAY)
    assert removed == [AFFINITY, "rule 'primary' of HTTPRoute shop/checkout.backendRefs[name=checkout-v2].Set-Cookie"]
    assert swept == gateway(TrafficPlan(80, 20))


# --- SMI and the plan -----------------------------------------------------------------------------


def test_smi_refuses_a_sticky_plan_naming_the_alternatives() -> None:
    settings = SmiSettings(OWNER, "test", "podinfo", "podinfo-primary", "podinfo-canary")
    with pytest.raises(
        MeshError, match="SMI TrafficSplit cannot match or set cookies; use provider istio, gateway-api"
    ):
        render_smi.render(copy.deepcopy(V1ALPHA4), sticky(10), settings)


@pytest.mark.parametrize("weight", [0, 100])
def test_a_plan_keeps_sessions_sticky_only_while_both_arms_get_traffic(weight: int) -> None:
    with pytest.raises(ValueError, match="session affinity needs both arms weighted"):
        sticky(weight)
