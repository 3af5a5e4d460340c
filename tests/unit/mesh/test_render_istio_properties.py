"""For any plan: rendering is idempotent, independent of the plans before, valid for the CRD, and
never touches what the user owns."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_common import is_meshroll_name
from rollout.mesh.render_istio import IstioSettings, render, sweep
from tests.unit.mesh.crd_schema import example, problems
from tests.unit.mesh.samples import RICH_SETTINGS, RICH_VIRTUAL_SERVICE, unowned_view
from tests.unit.mesh.strategies import plans

WEIGHTED = example("istio-virtualservice-weighted-90-10.yaml")[0]
WEIGHTED_SETTINGS = IstioSettings("shop/checkout-v2", "default", "reviews", "reviews", "v1", "v2")
SINGLE = example("istio-virtualservice-destinationrule-fault-abort-details.yaml")[0]
SINGLE_SETTINGS = IstioSettings("shop/checkout-v2", "default", "details", "details", "v1", "v2", route=None)
# (object, settings, index of the managed route, whether the object has its own canary destination)
STARTS = [
    (RICH_VIRTUAL_SERVICE, RICH_SETTINGS, 2, False),
    (WEIGHTED, WEIGHTED_SETTINGS, 0, True),
]
MESH_KEYS = {"mirror", "mirrorPercentage", "fault"}
EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
starts = st.sampled_from(STARTS)


def _view(vs: dict[str, Any], managed: int, own_canary: bool) -> dict[str, Any]:
    return unowned_view(
        vs, managed=managed, weighted={"v1", "v2"}, created=set() if own_canary else {"v2"}, mesh_keys=MESH_KEYS
    )


@EXAMPLES
@given(starts, plans())
def test_rendering_twice_is_rendering_once(start: Any, plan: TrafficPlan) -> None:
    original, config, _, _ = start
    once = render(original, plan, config)
    assert render(once, plan, config) == once


@EXAMPLES
@given(starts, plans(), plans())
def test_the_result_depends_only_on_the_last_plan(start: Any, before: TrafficPlan, plan: TrafficPlan) -> None:
    original, config, _, _ = start
    assert render(render(original, before, config), plan, config) == render(original, plan, config)


@EXAMPLES
@given(starts, plans())
def test_only_owned_fields_change_and_the_crd_accepts_the_result(start: Any, plan: TrafficPlan) -> None:
    original, config, managed, own_canary = start
    vs = render(original, plan, config)
    assert problems(vs) == []
    assert _view(vs, managed, own_canary) == _view(original, managed, own_canary)
    assert render(vs, TrafficPlan.all_stable(), config) == render(original, TrafficPlan.all_stable(), config)


@EXAMPLES
@given(starts, plans())
def test_weights_match_the_plan_and_meshroll_routes_sit_just_before_the_managed_route(
    start: Any, plan: TrafficPlan
) -> None:
    original, config, managed, _ = start
    vs = render(original, plan, config)
    routes = vs["spec"]["http"]
    ours = [i for i, r in enumerate(routes) if is_meshroll_name(r.get("name"))]
    expected = sum(1 for f in plan.faults if f.cohort) + (1 if plan.ab_matches else 0)
    assert ours == list(range(managed, managed + expected))
    destinations = {d["destination"].get("subset"): d for d in routes[managed + expected]["route"]}
    assert destinations["v1"]["weight"] == plan.stable_weight
    assert destinations.get("v2", {}).get("weight", 0) == plan.canary_weight


@EXAMPLES
@given(starts, plans())
def test_a_sweep_after_a_crash_leaves_only_the_weights(start: Any, plan: TrafficPlan) -> None:
    original, config, _, _ = start
    swept, _ = sweep(render(original, plan, config), config.owner, config)
    weights_only = TrafficPlan(plan.stable_weight, plan.canary_weight)
    assert swept == render(original, weights_only, config)


@EXAMPLES
@given(plans().filter(lambda p: all(f.cohort for f in p.faults)))
def test_a_lone_destination_without_weight_gets_one_only_while_it_shares_the_route(plan: TrafficPlan) -> None:
    vs = render(SINGLE, plan, SINGLE_SETTINGS)
    assert problems(vs) == []
    managed = next(r for r in vs["spec"]["http"] if not is_meshroll_name(r.get("name")))
    destinations = managed["route"]
    assert ("weight" in destinations[0]) == (plan.canary_weight > 0)
    assert render(vs, TrafficPlan.all_stable(), SINGLE_SETTINGS) == SINGLE
