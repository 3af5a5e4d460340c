"""Rendering a plan into a VirtualService: meshroll changes its weights, its routes and its fields, nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chaos.faults import Arm
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_istio import IstioSettings, missing_subsets, render
from rollout.mesh.render_istio_parts import duration
from tests.unit.mesh.crd_schema import example, problems
from tests.unit.mesh.samples import (
    BETA,
    COOKIE,
    QUERY,
    RICH_SETTINGS,
    RICH_VIRTUAL_SERVICE,
    fault,
    named,
    names,
    unowned_view,
)

AB = "meshroll-ab-shop.checkout-v2"
MESH_KEYS = {"mirror", "mirrorPercentage", "fault"}
ALL_STABLE = TrafficPlan.all_stable()


def rendered(plan: TrafficPlan, vs: dict[str, Any] | None = None, settings: IstioSettings = RICH_SETTINGS) -> Any:
    result = render(vs if vs is not None else RICH_VIRTUAL_SERVICE, plan, settings)
    assert problems(result) == []
    return result


def http(vs: dict[str, Any]) -> list[dict[str, Any]]:
    return vs["spec"]["http"]  # type: ignore[no-any-return]


def assert_unowned_unchanged(before: dict[str, Any], after: dict[str, Any], managed: int = 2) -> None:
    view = {"managed": managed, "weighted": {"v1", "v2"}, "created": {"v2"}, "mesh_keys": MESH_KEYS}
    assert unowned_view(after, **view) == unowned_view(before, **view)


def test_weights_follow_the_plan_with_a_canary_destination_created_beside_the_stable_one() -> None:
    vs = rendered(TrafficPlan(90, 10))
    primary = named(http(vs), "primary")
    assert [d.get("weight") for d in primary["route"]] == [90, 10, 0]
    assert primary["route"][1] == {
        "destination": {"host": "checkout", "subset": "v2", "port": {"number": 8080}},
        "weight": 10,
    }
    assert_unowned_unchanged(RICH_VIRTUAL_SERVICE, vs)


def test_back_to_all_stable_restores_the_object_exactly() -> None:
    for plan in (TrafficPlan(90, 10), TrafficPlan(0, 100), TrafficPlan(50, 50, mirror_percent=20.0)):
        assert rendered(ALL_STABLE, rendered(plan)) == RICH_VIRTUAL_SERVICE


def test_a_canary_destination_the_user_wrote_stays_at_weight_zero() -> None:
    original = example("istio-virtualservice-weighted-90-10.yaml")[0]
    settings = IstioSettings("default/reviews-v2", "default", "reviews", "reviews", "v1", "v2")
    after = rendered(ALL_STABLE, rendered(TrafficPlan(40, 60), original, settings), settings)
    expected = copy.deepcopy(original)
    expected["spec"]["http"][0]["route"][0]["weight"] = 100
    expected["spec"]["http"][0]["route"][1]["weight"] = 0
    assert after == expected


def test_the_ab_route_goes_just_before_the_managed_route_and_acts_like_it() -> None:
    vs = rendered(TrafficPlan(ab_matches=(BETA,)))
    assert names(http(vs)) == ["admin", "legacy", AB, "primary", "catch-all"]
    ab, primary = named(http(vs), AB), named(http(vs), "primary")
    assert ab["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-region": {"exact": "eu"}, "x-beta": {"exact": "yes"}}},
        {"uri": {"prefix": "/v2/api"}, "headers": {"x-beta": {"exact": "yes"}}},
    ]
    assert ab["route"] == [
        {"destination": {"host": "checkout", "subset": "v2", "port": {"number": 8080}}, "weight": 100}
    ]
    for key in ("timeout", "retries", "headers", "corsPolicy", "rewrite"):
        assert ab[key] == primary[key]
    assert_unowned_unchanged(RICH_VIRTUAL_SERVICE, vs)
    assert rendered(ALL_STABLE, vs) == RICH_VIRTUAL_SERVICE


def test_cookie_and_query_cohorts_become_a_cookie_header_regex_and_query_params() -> None:
    vs = rendered(TrafficPlan(ab_matches=(COOKIE, QUERY)), settings=RICH_SETTINGS)
    matches = named(http(vs), AB)["match"]
    assert len(matches) == 4  # two route matches times two cohort entries
    assert matches[0]["headers"]["cookie"]["regex"].startswith("^(.*?;\\s*)?(tester=ann)")
    assert matches[1]["queryParams"] == {"variant": {"prefix": "b"}}


def test_fault_routes_come_first_then_the_ab_route_then_the_managed_route() -> None:
    faults = (
        fault(0, Arm.CANARY, delay_ms=300.0, percent=50.0, cohort=(BETA,)),
        fault(1, Arm.STABLE, abort=503, percent=5.0, cohort=(QUERY,)),
    )
    vs = rendered(TrafficPlan(80, 20, ab_matches=(COOKIE,), faults=faults))
    first, second = "meshroll-fault-0.shop.checkout-v2", "meshroll-fault-1.shop.checkout-v2"
    assert names(http(vs)) == ["admin", "legacy", first, second, AB, "primary", "catch-all"]
    delay_route, abort_route = named(http(vs), first), named(http(vs), second)
    assert delay_route["fault"] == {"delay": {"fixedDelay": "300ms", "percentage": {"value": 50.0}}}
    assert [d["destination"]["subset"] for d in delay_route["route"]] == ["v2"]
    assert abort_route["fault"] == {"abort": {"httpStatus": 503, "percentage": {"value": 5.0}}}
    assert [d["destination"]["subset"] for d in abort_route["route"]] == ["v1"]
    assert "fault" not in named(http(vs), "primary")
    assert rendered(ALL_STABLE, vs) == RICH_VIRTUAL_SERVICE


def test_a_cohort_fault_on_both_arms_keeps_the_weighted_split() -> None:
    vs = rendered(TrafficPlan(70, 30, faults=(fault(0, abort="UNAVAILABLE", cohort=(BETA,)),)))
    route = named(http(vs), "meshroll-fault-0.shop.checkout-v2")
    assert route["route"] == named(http(vs), "primary")["route"]
    assert route["fault"] == {"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 10.0}}}


def test_a_fault_without_cohort_on_both_arms_goes_on_the_managed_route_and_leaves_with_the_plan() -> None:
    plan = TrafficPlan(60, 40, faults=(fault(0, delay_ms=1500.5, percent=1.0), fault(1, abort=500)))
    vs = rendered(plan)
    assert named(http(vs), "primary")["fault"] == {
        "delay": {"fixedDelay": "1.5005s", "percentage": {"value": 1.0}},
        "abort": {"httpStatus": 500, "percentage": {"value": 10.0}},
    }
    assert names(http(vs)) == names(http(RICH_VIRTUAL_SERVICE))
    assert "fault" not in named(http(rendered(TrafficPlan(60, 40), vs)), "primary")


def test_a_fault_without_cohort_on_the_ab_cohort_follows_the_canary() -> None:
    vs = rendered(TrafficPlan(ab_matches=(BETA,), faults=(fault(0, Arm.CANARY, delay_ms=100.0),)))
    assert named(http(vs), AB)["fault"]["delay"]["fixedDelay"] == "100ms"
    assert "fault" not in named(http(vs), "primary")  # the canary gets no weighted traffic there


def test_a_one_arm_fault_without_cohort_is_refused_while_both_arms_share_the_route() -> None:
    with pytest.raises(MeshError, match="give the fault a match"):
        render(RICH_VIRTUAL_SERVICE, TrafficPlan(90, 10, faults=(fault(0, Arm.STABLE, abort=503),)), RICH_SETTINGS)
    vs = rendered(TrafficPlan(faults=(fault(0, Arm.STABLE, abort=503),)))  # all stable: the route is the arm
    assert named(http(vs), "primary")["fault"]["abort"]["httpStatus"] == 503


def test_two_delays_for_every_request_of_one_route_are_refused() -> None:
    plan = TrafficPlan(faults=(fault(0, delay_ms=10.0), fault(1, delay_ms=20.0)))
    with pytest.raises(MeshError, match="an Istio route holds one delay"):
        render(RICH_VIRTUAL_SERVICE, plan, RICH_SETTINGS)


def test_a_fault_the_user_wrote_is_never_overwritten() -> None:
    original = example("istio-virtualservice-fault-abort.yaml")[0]
    settings = IstioSettings("default/ratings-v2", "default", "ratings", "ratings", "v1", "v2")
    with pytest.raises(MeshError, match="already has a fault the user wrote"):
        render(original, TrafficPlan(faults=(fault(0, abort=503, owner="default/ratings-v2"),)), settings)
    cohort_fault = fault(0, abort=503, cohort=(BETA,), owner="default/ratings-v2")
    vs = rendered(TrafficPlan(faults=(cohort_fault,)), original, settings)
    assert vs["spec"]["http"][1]["fault"] == original["spec"]["http"][0]["fault"]
    assert rendered(ALL_STABLE, vs, settings) == original


def test_mirroring_sets_mirror_and_percentage_and_removes_them_at_zero() -> None:
    vs = rendered(TrafficPlan(95, 5, mirror_percent=12.5))
    primary = named(http(vs), "primary")
    assert primary["mirror"] == {"host": "checkout", "subset": "v2", "port": {"number": 8080}}
    assert primary["mirrorPercentage"] == {"value": 12.5}
    cleared = named(http(rendered(TrafficPlan(95, 5), vs)), "primary")
    assert "mirror" not in cleared and "mirrorPercentage" not in cleared


def test_a_mirror_the_user_wrote_is_never_overwritten() -> None:
    vs = copy.deepcopy(RICH_VIRTUAL_SERVICE)
    named(http(vs), "primary")["mirror"] = {"host": "audit"}
    with pytest.raises(MeshError, match="already mirrors traffic"):
        render(vs, TrafficPlan(mirror_percent=10.0), RICH_SETTINGS)
    assert named(http(rendered(TrafficPlan(50, 50), vs)), "primary")["mirror"] == {"host": "audit"}


def test_annotations_record_what_meshroll_holds_and_vanish_when_it_holds_nothing() -> None:
    plan = TrafficPlan(80, 20, mirror_percent=10.0, ab_matches=(BETA,), faults=(fault(0, abort=500),))
    annotations = rendered(plan)["metadata"]["annotations"]
    assert annotations["meshroll.io/owner"] == "shop/checkout-v2"
    assert json.loads(annotations["meshroll.io/owned-routes"]) == [AB]
    assert json.loads(annotations["meshroll.io/owned-fields"]) == ["fault", "mirror", "route[subset=v2]"]
    assert rendered(ALL_STABLE, rendered(plan))["metadata"] == RICH_VIRTUAL_SERVICE["metadata"]


def test_the_default_route_is_the_first_to_the_target_host_however_the_host_is_spelled() -> None:
    first = IstioSettings(**{**RICH_SETTINGS.__dict__, "route": None})
    primary = named(http(rendered(TrafficPlan(75, 25), settings=first)), "primary")
    assert [d.get("weight") for d in primary["route"]] == [75, 25, 0]
    fqdn = IstioSettings(**{**RICH_SETTINGS.__dict__, "route": "catch-all"})
    catch_all = named(http(rendered(TrafficPlan(75, 25), settings=fqdn)), "catch-all")
    assert [d["weight"] for d in catch_all["route"]] == [75, 25]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"route": "nope"}, "has no http route named 'nope' \\(it has: admin, legacy, primary, catch-all\\)"),
        ({"stable_subset": "v0"}, "has no destination with host checkout and subset v0"),
        ({"route": None, "host": "payments"}, "has no http route to host payments"),
    ],
)
def test_what_cannot_be_found_is_named_with_the_next_step(change: dict[str, Any], message: str) -> None:
    settings = IstioSettings(**{**RICH_SETTINGS.__dict__, **change})
    with pytest.raises(MeshError, match=message):
        render(RICH_VIRTUAL_SERVICE, TrafficPlan(90, 10), settings)


def test_a_cohort_that_contradicts_the_route_match_is_refused() -> None:
    from chaos.matching import MatchKind, RequestMatch, StringMatch

    region = RequestMatch(headers=(("x-region", StringMatch(MatchKind.EXACT, "us")),))
    with pytest.raises(MeshError, match="already tests differently"):
        render(RICH_VIRTUAL_SERVICE, TrafficPlan(ab_matches=(region,)), RICH_SETTINGS)


def test_delays_are_written_as_istio_durations() -> None:
    assert duration(0.3 * 1000) == "300ms"  # 300.00000000000006 in binary floating point
    assert duration(1.0) == "1ms"
    assert duration(2500.0) == "2500ms"
    assert duration(1.25) == "0.00125s"
    with pytest.raises(MeshError, match="at least 1ms"):
        duration(0.4)


def test_the_destination_rule_must_hold_the_subsets() -> None:
    rule = example("istio-destinationrule-subsets.yaml")[0]
    assert missing_subsets(rule, ["v1", "v2"]) == []
    assert missing_subsets(rule, ["v2", "v9"]) == ["v9"]


def test_another_weighted_destination_is_refused_before_the_canary_gets_traffic_and_a_revert_still_goes() -> None:
    # e.g. a promoted canary of an earlier Experiment on this route: v1 80 + v2 20 + legacy 100 is 200
    vs = copy.deepcopy(RICH_VIRTUAL_SERVICE)
    legacy = named(http(vs), "primary")["route"][1]
    legacy["weight"] = 100
    with pytest.raises(MeshError, match=r"checkout-legacy.*weight 100.*set it to 0"):
        render(vs, TrafficPlan(80, 20), RICH_SETTINGS)
    assert named(http(render(vs, ALL_STABLE, RICH_SETTINGS)), "primary")["route"][1]["weight"] == 100


def test_a_revert_beside_the_version_now_serving_gives_back_only_the_canary_s_share() -> None:
    """After v2's promotion (v1 0, v2 100) a run of v3 that still names v1 as stable is refused; its revert
    (superseded, deleted, aborted) must leave the route serving v2, not write v1 100 beside it."""
    vs = copy.deepcopy(RICH_VIRTUAL_SERVICE)
    primary = named(http(vs), "primary")["route"]
    primary[0]["weight"], primary[1]["weight"] = 0, 100  # v1 0, the version now serving 100
    reverted = named(http(render(vs, ALL_STABLE, RICH_SETTINGS)), "primary")["route"]
    assert [d["weight"] for d in reverted] == [0, 100]

    held = render(copy.deepcopy(RICH_VIRTUAL_SERVICE), TrafficPlan(80, 20), RICH_SETTINGS)
    routes = named(http(held), "primary")["route"]
    canary = next(d for d in routes if d["destination"].get("subset") == "v2")
    routes.append({"destination": {"host": "checkout-next", "subset": "v9"}, "weight": 30})  # appeared meanwhile
    canary["weight"], routes[0]["weight"] = 10, 60
    back = named(http(render(held, ALL_STABLE, RICH_SETTINGS)), "primary")["route"]
    assert [d["weight"] for d in back if d["destination"].get("subset") in ("v1", "v9")] == [70, 30]
