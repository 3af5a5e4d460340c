"""The test harness's stand-in for Istio's data plane reads back what the Istio renderer writes."""

from __future__ import annotations

from chaos.faults import Abort, Arm, Delay, Fault
from chaos.matching import MatchKind, RequestMatch, StringMatch
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_istio import IstioSettings, render
from tests.integration.kube.dataplane import translate
from tests.integration.kube.helpers import virtual_service

SETTINGS = IstioSettings(
    owner="shop/c", namespace="shop", virtual_service="checkout", host="checkout",
    stable_subset="v1", canary_subset="v2", route="primary",
)  # fmt: skip
COHORT = (RequestMatch(headers=(("x-cohort", StringMatch(MatchKind.EXACT, "beta")),)),)


def round_trip(plan: TrafficPlan) -> TrafficPlan:
    return translate(render(virtual_service("shop"), plan, SETTINGS), "primary", "v1", "v2")


def test_weights_and_mirroring_come_back() -> None:
    for canary in (0, 5, 50, 100):
        back = round_trip(TrafficPlan(100 - canary, canary))
        assert (back.stable_weight, back.canary_weight) == (100 - canary, canary)
    assert round_trip(TrafficPlan(90, 10, mirror_percent=20.0)).mirror_percent == 20.0


def test_the_ab_cohort_comes_back() -> None:
    back = round_trip(TrafficPlan(100, 0, ab_matches=COHORT))
    assert back.ab_matches == COHORT and back.canary_weight == 0


def test_faults_come_back_with_their_arm_and_cohort() -> None:
    shared = Fault(id="shop/c#0", owner="shop/c", arm=Arm.BOTH, abort=Abort(5.0, http_status=503))
    cohort = Fault(id="shop/c#1", owner="shop/c", arm=Arm.CANARY, delay=Delay(300.0, 10.0), cohort=COHORT)
    back = round_trip(TrafficPlan(90, 10, faults=(shared, cohort)))
    by_arm = {f.arm: f for f in back.faults}
    assert by_arm[Arm.BOTH].abort == Abort(5.0, http_status=503)
    assert by_arm[Arm.CANARY].delay == Delay(300.0, 10.0) and by_arm[Arm.CANARY].cohort == COHORT
