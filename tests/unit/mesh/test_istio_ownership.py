"""Who owns what in a VirtualService: sweeps after a crash, two experiments, lost annotations."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chaos.faults import Arm
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_istio import IstioSettings, render, sweep
from tests.unit.mesh.crd_schema import problems
from tests.unit.mesh.samples import BETA, OWNER, QUERY, RICH_SETTINGS, RICH_VIRTUAL_SERVICE, fault, named, names

AB = "meshroll-ab-shop.checkout-v2"
FAULT_0 = "meshroll-fault-0.shop.checkout-v2"
BUSY = TrafficPlan(
    70,
    30,
    ab_matches=(BETA,),
    mirror_percent=25.0,
    faults=(fault(0, Arm.CANARY, abort=503, cohort=(QUERY,)), fault(1, delay_ms=50.0)),
)


def http(vs: dict[str, Any]) -> list[dict[str, Any]]:
    return vs["spec"]["http"]  # type: ignore[no-any-return]


def weights(vs: dict[str, Any]) -> list[int | None]:
    return [d.get("weight") for d in named(http(vs), "primary")["route"]]


def test_sweep_removes_every_fault_ab_route_and_mirror_but_keeps_the_weights() -> None:
    crashed = render(RICH_VIRTUAL_SERVICE, BUSY, RICH_SETTINGS)
    swept, removed = sweep(crashed, OWNER, RICH_SETTINGS)
    route = "http route 'primary' of VirtualService shop/checkout"
    assert sorted(removed) == sorted([FAULT_0, AB, f"{route}.fault", f"{route}.mirror"])
    assert names(http(swept)) == names(http(RICH_VIRTUAL_SERVICE))
    primary = named(http(swept), "primary")
    assert "fault" not in primary and "mirror" not in primary and "mirrorPercentage" not in primary
    assert weights(swept) == [70, 30, 0]
    assert problems(swept) == []
    assert render(swept, TrafficPlan.all_stable(), RICH_SETTINGS) == RICH_VIRTUAL_SERVICE


def test_sweep_twice_removes_nothing_the_second_time() -> None:
    swept, _ = sweep(render(RICH_VIRTUAL_SERVICE, BUSY, RICH_SETTINGS), OWNER, RICH_SETTINGS)
    again, removed = sweep(swept, OWNER, RICH_SETTINGS)
    assert removed == [] and again == swept


def test_sweep_finds_meshroll_routes_by_name_when_the_annotations_are_lost() -> None:
    crashed = render(RICH_VIRTUAL_SERVICE, BUSY, RICH_SETTINGS)
    del crashed["metadata"]["annotations"]
    swept, removed = sweep(crashed, OWNER, RICH_SETTINGS)
    assert sorted(removed) == sorted([FAULT_0, AB])
    assert names(http(swept)) == names(http(RICH_VIRTUAL_SERVICE))


def test_sweep_leaves_other_experiments_and_the_users_routes_alone() -> None:
    crashed = render(RICH_VIRTUAL_SERVICE, BUSY, RICH_SETTINGS)
    swept, removed = sweep(crashed, "shop/other", RICH_SETTINGS)
    assert removed == [] and swept == crashed


def test_render_replaces_its_own_routes_rather_than_adding_more() -> None:
    once = render(RICH_VIRTUAL_SERVICE, BUSY, RICH_SETTINGS)
    fewer = TrafficPlan(70, 30, ab_matches=(BETA,))
    assert names(http(render(once, fewer, RICH_SETTINGS))) == ["admin", "legacy", AB, "primary", "catch-all"]


def test_another_experiment_with_live_routes_is_a_conflict_with_a_next_step() -> None:
    busy = render(RICH_VIRTUAL_SERVICE, BUSY, RICH_SETTINGS)
    other = IstioSettings(**{**RICH_SETTINGS.__dict__, "owner": "shop/checkout-v3", "canary_subset": "v3"})
    with pytest.raises(MeshError, match=r"in use by experiment shop/checkout-v2 .* wait until that experiment ends"):
        render(busy, TrafficPlan(90, 10), other)


def test_a_finished_experiment_hands_the_route_over() -> None:
    promoted = render(RICH_VIRTUAL_SERVICE, TrafficPlan(0, 100), RICH_SETTINGS)
    assert promoted["metadata"]["annotations"]["meshroll.io/owner"] == OWNER  # it created the v2 destination
    handover = {"owner": "shop/checkout-v3", "stable_subset": "v2", "canary_subset": "v3"}
    nxt = IstioSettings(**{**RICH_SETTINGS.__dict__, **handover})
    vs = render(promoted, TrafficPlan(90, 10), nxt)
    assert [d["destination"].get("subset") for d in named(http(vs), "primary")["route"]] == ["v1", "v2", "v3", None]
    assert weights(vs) == [0, 90, 10, 0]
    assert vs["metadata"]["annotations"]["meshroll.io/owner"] == "shop/checkout-v3"
    back = render(vs, TrafficPlan.all_stable(), nxt)
    assert [d["destination"].get("subset") for d in named(http(back), "primary")["route"]] == ["v1", "v2", None]
    assert "meshroll.io/owner" not in back["metadata"]["annotations"]


def test_user_annotations_and_labels_survive_every_write() -> None:
    vs = copy.deepcopy(RICH_VIRTUAL_SERVICE)
    for plan in (BUSY, TrafficPlan(50, 50), TrafficPlan.all_stable()):
        vs = render(vs, plan, RICH_SETTINGS)
        assert vs["metadata"]["labels"] == RICH_VIRTUAL_SERVICE["metadata"]["labels"]
        for key, value in RICH_VIRTUAL_SERVICE["metadata"]["annotations"].items():
            assert vs["metadata"]["annotations"][key] == value


def test_a_fault_of_another_experiment_is_refused() -> None:
    stranger = fault(0, abort=500, owner="shop/someone-else")
    with pytest.raises(MeshError, match="belongs to experiment shop/someone-else"):
        render(RICH_VIRTUAL_SERVICE, TrafficPlan(faults=(stranger,)), RICH_SETTINGS)


def test_marks_of_routes_removed_by_hand_block_no_one() -> None:
    busy = render(RICH_VIRTUAL_SERVICE, TrafficPlan(ab_matches=(BETA,)), RICH_SETTINGS)
    busy["spec"]["http"] = [r for r in http(busy) if r["name"] != AB]  # someone deleted meshroll's route
    other = IstioSettings(**{**RICH_SETTINGS.__dict__, "owner": "shop/checkout-v3", "canary_subset": "v3"})
    vs = render(busy, TrafficPlan(90, 10), other)
    assert vs["metadata"]["annotations"]["meshroll.io/owner"] == "shop/checkout-v3"
    assert AB not in vs["metadata"]["annotations"]["meshroll.io/owned-routes"]
