"""A pinned stable (sessionAffinity.primaryCookieName) in a VirtualService and an HTTPRoute: stable's
weighted destination sets its own cookie, and a route after the canary's cookie route sends its
holders to stable; all of it is owned and goes when the run ends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollout.mesh import render_gateway_api, render_istio
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import StickySession, TrafficPlan
from rollout.mesh.render_istio import IstioSettings
from tests.unit.mesh.crd_schema import example
from tests.unit.mesh.samples import (
    OWNER,
    RICH_ROUTE,
    RICH_SETTINGS,
    RICH_VIRTUAL_SERVICE,
    gateway_settings,
    named,
    names,
)
from tests.unit.mesh.test_render_affinity import (
    AFFINITY,
    ALL_STABLE,
    GATEWAY,
    PROMOTED,
    SET_COOKIE,
    backend,
    destination,
    gateway,
    http,
    istio,
    owned,
    rules,
    sticky,
)

PINNED = StickySession("meshroll-canary", "shop.checkout-v2.1700000000000", 86400, "meshroll-stable")
STABLE_COOKIE = "meshroll-stable=shop.checkout-v2.1700000000000; Max-Age=86400; Path=/"
PINNED_ROUTE = "meshroll-stable-affinity-shop.checkout-v2"
ISTIO_LABEL = "http route 'primary' of VirtualService shop/checkout"


def pinned(canary_weight: int, **more: Any) -> TrafficPlan:
    return sticky(canary_weight, PINNED, **more)


def stable_regex() -> str:
    match = PINNED.primary_match
    assert match is not None
    return match.headers[0][1].value


def test_the_stable_cookie_has_its_own_name_the_runs_value_and_the_same_max_age() -> None:
    assert PINNED.primary_set_cookie == STABLE_COOKIE
    assert PINNED.set_cookie == SET_COOKIE
    assert StickySession("c", "run", 60).primary_set_cookie is None
    with pytest.raises(ValueError, match="the stable and canary cookies must differ"):
        StickySession("c", "run", 60, "c")


# --- Istio ----------------------------------------------------------------------------------------


def test_istio_pinned_route_follows_the_canarys_cookie_route_and_sends_stable_cookie_holders_to_stable() -> None:
    vs = istio(pinned(10))
    assert names(http(vs)) == ["admin", "legacy", AFFINITY, PINNED_ROUTE, "primary", "catch-all"]
    route, primary = named(http(vs), PINNED_ROUTE), named(http(vs), "primary")
    cookie = {"cookie": {"regex": stable_regex()}}
    assert route["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-region": {"exact": "eu"}, **cookie}},
        {"uri": {"prefix": "/v2/api"}, "headers": cookie},
    ]
    # the stable destination as the user wrote it (its request headers kept), without the cookie: not renewed
    assert route["route"] == [
        {
            "destination": {"host": "checkout", "subset": "v1", "port": {"number": 8080}},
            "weight": 100,
            "headers": {"request": {"set": {"x-version": "v1"}}},
        }
    ]
    for key in ("timeout", "retries", "headers", "corsPolicy", "rewrite"):
        assert route[key] == primary[key]


def test_istio_stable_destination_sets_the_stable_cookie_beside_its_own_headers() -> None:
    primary = named(http(istio(pinned(10))), "primary")
    assert destination(primary, "v1")["headers"] == {
        "request": {"set": {"x-version": "v1"}},
        "response": {"add": {"Set-Cookie": STABLE_COOKIE}},
    }
    assert destination(primary, "v2")["headers"] == {"response": {"add": {"Set-Cookie": SET_COOKIE}}}


def test_istio_annotations_record_the_pinned_route_and_the_stable_set_cookie() -> None:
    assert owned(istio(pinned(25)), "meshroll.io/owned-routes") == (
        [AFFINITY, PINNED_ROUTE],
        ["route[subset=v1].Set-Cookie", "route[subset=v2]", "route[subset=v2].Set-Cookie"],
    )


@pytest.mark.parametrize("end", [ALL_STABLE, TrafficPlan(100, 0)], ids=["rollback-or-abort", "superseded"])
def test_istio_rollback_abort_or_supersession_restores_the_object_exactly(end: TrafficPlan) -> None:
    during = istio(pinned(10))
    assert PINNED_ROUTE in names(http(during))
    assert istio(end, during) == RICH_VIRTUAL_SERVICE


def test_istio_promotion_removes_both_cookie_routes_and_both_cookies() -> None:
    during = istio(pinned(50))
    assert "Set-Cookie" in destination(named(http(during), "primary"), "v1")["headers"]["response"]["add"]
    vs = istio(PROMOTED, during)
    assert names(http(vs)) == ["admin", "legacy", "primary", "catch-all"]
    primary = named(http(vs), "primary")
    assert destination(primary, "v1")["headers"] == {"request": {"set": {"x-version": "v1"}}}
    assert "headers" not in destination(primary, "v2")
    assert owned(vs, "meshroll.io/owned-routes") == ([], ["route[subset=v2]"])


def test_istio_dropping_primary_cookie_name_mid_run_takes_only_stables_share_away() -> None:
    during = istio(pinned(10))
    assert PINNED_ROUTE in names(http(during))
    vs = istio(sticky(25), during)
    assert vs == istio(sticky(25))


def test_istio_pinned_route_keeps_meshrolls_mirror_so_pinned_users_are_mirrored_as_before() -> None:
    vs = istio(pinned(10, mirror_percent=20.0))
    route, primary = named(http(vs), PINNED_ROUTE), named(http(vs), "primary")
    assert (route["mirror"], route["mirrorPercentage"]) == (primary["mirror"], {"value": 20.0})
    assert "mirror" not in named(http(vs), AFFINITY)  # the canary's users are not copied to the canary


def test_istio_a_set_cookie_the_user_wrote_on_stable_is_refused_only_when_stable_is_pinned() -> None:
    original = example("istio-virtualservice-weighted-90-10.yaml")[0]
    original["spec"]["http"][0]["route"][0]["headers"] = {"response": {"add": {"set-cookie": "theirs=1"}}}
    settings = IstioSettings("default/reviews-v2", "default", "reviews", "reviews", "v1", "v2")
    with pytest.raises(
        MeshError,
        match=r"the stable destination of .* already sets a Set-Cookie header \(headers.response.add, written by the "
        r"user\); .* drop spec.strategy.canary.sessionAffinity.primaryCookieName",
    ):
        render_istio.render(original, pinned(10), settings)
    vs = istio(sticky(10), original, settings)  # canary users alone pinned: the user's cookie is left alone
    assert http(vs)[-1]["route"][0]["headers"] == {"response": {"add": {"set-cookie": "theirs=1"}}}


def test_istio_sweep_removes_both_cookie_routes_and_both_cookies_but_keeps_weights() -> None:
    swept, removed = render_istio.sweep(istio(pinned(10)), OWNER, RICH_SETTINGS)
    assert removed == [
        AFFINITY,
        PINNED_ROUTE,
        f"{ISTIO_LABEL}.Set-Cookie",
        f"{ISTIO_LABEL}.route[subset=v1].Set-Cookie",
    ]
    assert swept == istio(TrafficPlan(90, 10))


# --- Gateway API ----------------------------------------------------------------------------------


def test_gateway_pinned_rule_follows_the_canarys_cookie_rule_and_sends_stable_cookie_holders_to_stable() -> None:
    route = gateway(pinned(10))
    assert names(rules(route)) == ["admin", AFFINITY, PINNED_ROUTE, "primary", "rest"]
    rule, primary = named(rules(route), PINNED_ROUTE), named(rules(route), "primary")
    cookie = {"type": "RegularExpression", "name": "cookie", "value": stable_regex()}
    assert rule["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/api"}, "headers": [{"name": "x-region", "value": "eu"}, cookie]},
        {"path": {"type": "PathPrefix", "value": "/v2/api"}, "method": "GET", "headers": [cookie]},
    ]
    assert rule["backendRefs"] == [{"name": "checkout-v1", "port": 8080, "weight": 100}]  # no cookie: not renewed
    assert (rule["filters"], rule["timeouts"]) == (primary["filters"], primary["timeouts"])


def test_gateway_stable_backend_ref_gets_a_response_header_modifier_adding_the_stable_cookie() -> None:
    route = gateway(pinned(10))
    primary = named(rules(route), "primary")
    assert backend(primary, "checkout-v1")["filters"] == [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": STABLE_COOKIE}]},
        }
    ]
    assert backend(primary, "checkout-v2")["filters"][0]["responseHeaderModifier"]["add"][0]["value"] == SET_COOKIE
    assert owned(route, "meshroll.io/owned-rules") == (
        [AFFINITY, PINNED_ROUTE],
        [
            "backendRefs[name=checkout-v1].Set-Cookie",
            "backendRefs[name=checkout-v2]",
            "backendRefs[name=checkout-v2].Set-Cookie",
        ],
    )


def test_gateway_rollback_restores_the_route_exactly_and_promotion_leaves_no_cookie() -> None:
    during = gateway(pinned(10))
    assert "filters" in backend(named(rules(during), "primary"), "checkout-v1")
    assert gateway(ALL_STABLE, during) == RICH_ROUTE
    assert gateway(TrafficPlan(100, 0), during) == RICH_ROUTE
    promoted = gateway(PROMOTED, gateway(pinned(50)))
    assert names(rules(promoted)) == ["admin", "primary", "rest"]
    assert "filters" not in backend(named(rules(promoted), "primary"), "checkout-v1")
    assert "filters" not in backend(named(rules(promoted), "primary"), "checkout-v2")
    assert owned(promoted, "meshroll.io/owned-rules") == ([], ["backendRefs[name=checkout-v2]"])


def test_gateway_pinned_rule_copies_the_users_stable_filters_and_meshrolls_mirror() -> None:
    original = example("gateway-api-httproute-weighted-90-10.yaml")[0]
    theirs = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-arm", "value": "stable"}]}}
    original["spec"]["rules"][0]["backendRefs"][0]["filters"] = [theirs]
    settings = gateway_settings(original, "foo-v1", "foo-v2")
    route = gateway(pinned(10, mirror_percent=5.0), original, settings)
    rule = named(rules(route), PINNED_ROUTE)
    assert rule["backendRefs"] == [{"name": "foo-v1", "port": 8080, "weight": 100, "filters": [theirs]}]
    assert [f["type"] for f in rule["filters"]] == ["RequestMirror"]
    assert "filters" not in named(rules(route), AFFINITY)
    assert rules(route)[-1]["backendRefs"][0]["filters"] == [
        theirs,
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"add": [{"name": "Set-Cookie", "value": STABLE_COOKIE}]},
        },
    ]
    back = gateway(TrafficPlan(90, 10), route, settings)
    assert back["spec"] == original["spec"]


def test_gateway_a_set_cookie_the_user_wrote_on_stable_is_never_doubled() -> None:
    original = example("gateway-api-httproute-weighted-90-10.yaml")[0]
    theirs = {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"set": [{"name": "Set-Cookie", "value": "a"}]},
    }
    original["spec"]["rules"][0]["backendRefs"][0]["filters"] = [theirs]
    settings = gateway_settings(original, "foo-v1", "foo-v2")
    with pytest.raises(MeshError, match=r"the stable destination .*primaryCookieName"):
        render_gateway_api.render(copy.deepcopy(original), pinned(10), settings)
    route = gateway(sticky(10), original, settings)
    assert rules(route)[-1]["backendRefs"][0]["filters"] == [theirs]


def test_gateway_sweep_removes_both_cookie_rules_and_both_cookies_but_keeps_weights() -> None:
    swept, removed = render_gateway_api.sweep(gateway(pinned(20)), OWNER, GATEWAY)
    label = "rule 'primary' of HTTPRoute shop/checkout"
    assert removed == [
        AFFINITY,
        PINNED_ROUTE,
        f"{label}.backendRefs[name=checkout-v2].Set-Cookie",
        f"{label}.backendRefs[name=checkout-v1].Set-Cookie",
    ]
    assert swept == gateway(TrafficPlan(80, 20))
