"""The Istio provider against a real kube-apiserver with Istio's CRDs: the server accepts every object,
the user's routes and fields stay as they were, concurrent edits survive, sweeps clean up, and a
revert to stable goes ahead (with a warning) when the DestinationRule or its subsets are gone."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from kubernetes import client as k8s

from chaos.faults import Arm
from rollout.mesh.errors import MeshError
from rollout.mesh.istio import IstioProvider
from rollout.mesh.kubeobjects import KubeObjects, ObjectNotFound
from rollout.mesh.plan import StickySession, TrafficPlan
from tests.controlplane.fixture import ControlPlane
from tests.integration.mesh.helpers import InterruptedObjects, Objects, in_namespace, without_server_fields
from tests.unit.mesh.crd_schema import example
from tests.unit.mesh.samples import BETA, COOKIE, QUERY, RICH_SETTINGS, RICH_VIRTUAL_SERVICE, fault, named, unowned_view

pytestmark = pytest.mark.controlplane
MESH_KEYS = {"mirror", "mirrorPercentage", "fault"}
PLANS = [
    TrafficPlan(95, 5),
    TrafficPlan(90, 10, mirror_percent=20.0),
    TrafficPlan(
        75,
        25,
        ab_matches=(BETA, COOKIE),
        faults=(
            fault(0, Arm.CANARY, delay_ms=300.0, percent=50.0, cohort=(QUERY,)),
            fault(1, abort=503, percent=2.0),
            fault(2, Arm.STABLE, abort="UNAVAILABLE", cohort=(BETA,)),
        ),
    ),
    TrafficPlan(50, 50, mirror_percent=12.5, faults=(fault(3, delay_ms=1.0, percent=0.5),)),
    TrafficPlan(0, 100),
    TrafficPlan.all_stable(),
]


@pytest.fixture
def namespace(controlplane: ControlPlane) -> str:
    return controlplane.create_namespace("istio")


@pytest.fixture
def virtualservices(admin: k8s.ApiClient, namespace: str) -> Objects:
    return Objects(admin, "networking.istio.io", "v1", "virtualservices", namespace)


@pytest.fixture
def stored(virtualservices: Objects, namespace: str) -> dict[str, Any]:
    """The rich VirtualService, as the API server stored it."""
    return without_server_fields(virtualservices.create(in_namespace(RICH_VIRTUAL_SERVICE, namespace)))


def provider(
    api: k8s.ApiClient,
    namespace: str,
    objects: KubeObjects | None = None,
    destination_rule: str | None = None,
    warnings: list[str] | None = None,
    **change: Any,
) -> IstioProvider:
    settings = replace(RICH_SETTINGS, namespace=namespace, **change)
    warn = warnings.append if warnings is not None else None
    return IstioProvider(objects or KubeObjects(api), settings, destination_rule, warn=warn)


def destination_rules(admin: k8s.ApiClient, namespace: str) -> Objects:
    return Objects(admin, "networking.istio.io", "v1", "destinationrules", namespace)


def create_rule(admin: k8s.ApiClient, namespace: str, subsets: tuple[str, ...] = ("v1", "v2")) -> None:
    rule = in_namespace(example("istio-destinationrule-subsets.yaml")[0], namespace)
    rule["metadata"]["name"] = "checkout"
    rule["spec"]["subsets"] = [s for s in rule["spec"]["subsets"] if s["name"] in subsets]
    destination_rules(admin, namespace).create(rule)


def primary_weights(virtualservices: Objects) -> list[int]:
    return [d.get("weight", 100) for d in named(virtualservices.get("checkout")["spec"]["http"], "primary")["route"]]


def view(vs: dict[str, Any]) -> dict[str, Any]:
    return unowned_view(
        without_server_fields(vs), managed=2, weighted={"v1", "v2"}, created={"v2"}, mesh_keys=MESH_KEYS
    )


def test_a_sequence_of_plans_is_accepted_and_leaves_the_users_routes_as_they_were(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    istio = provider(admin, namespace)
    for plan in PLANS:
        istio.apply(plan)  # each PUT passes the CRD's schema and CEL rules on the server
        current = virtualservices.get("checkout")
        istio.apply(plan)  # nothing to change: no write
        assert virtualservices.get("checkout")["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        assert view(current) == view(stored)
        primary = named(current["spec"]["http"], "primary")
        assert primary["route"][0]["weight"] == plan.stable_weight
    assert without_server_fields(virtualservices.get("checkout")) == stored


def test_an_unchanged_plan_writes_nothing(admin: k8s.ApiClient, namespace: str, virtualservices: Objects) -> None:
    virtualservices.create(in_namespace(RICH_VIRTUAL_SERVICE, namespace))
    istio = provider(admin, namespace)
    istio.apply(PLANS[2])
    version = virtualservices.get("checkout")["metadata"]["resourceVersion"]
    istio.apply(PLANS[2])
    assert virtualservices.get("checkout")["metadata"]["resourceVersion"] == version


def test_an_edit_between_read_and_write_is_kept_and_the_plan_applied_on_top(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    def someone_else_edits() -> None:
        vs = virtualservices.get("checkout")
        named(vs["spec"]["http"], "catch-all")["timeout"] = "11s"
        vs["metadata"].setdefault("labels", {})["edited-by"] = "someone"
        virtualservices.replace("checkout", vs)

    objects = InterruptedObjects(admin, someone_else_edits)
    provider(admin, namespace, objects).apply(PLANS[2])
    assert objects.reads == 2  # the first write met 409 Conflict; the provider read again and redid its change
    current = virtualservices.get("checkout")
    assert named(current["spec"]["http"], "catch-all")["timeout"] == "11s"
    assert current["metadata"]["labels"]["edited-by"] == "someone"
    assert named(current["spec"]["http"], "primary")["route"][0]["weight"] == 75


def test_a_sweep_after_a_crash_removes_the_orphan_faults_and_cohort_routes(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    provider(admin, namespace).apply(PLANS[2])  # ... and the controller dies here
    restarted = provider(admin, namespace)
    removed = restarted.sweep(RICH_SETTINGS.owner)
    assert sorted(removed) == sorted(
        [
            "meshroll-fault-0.shop.checkout-v2",
            "meshroll-fault-2.shop.checkout-v2",
            "meshroll-ab-shop.checkout-v2",
            f"http route 'primary' of VirtualService {namespace}/checkout.fault",
        ]
    )
    current = virtualservices.get("checkout")
    assert [r["name"] for r in current["spec"]["http"]] == [r["name"] for r in stored["spec"]["http"]]
    assert "fault" not in named(current["spec"]["http"], "primary")
    assert [d["weight"] for d in named(current["spec"]["http"], "primary")["route"]] == [75, 25, 0]
    assert restarted.sweep(RICH_SETTINGS.owner) == []
    restarted.apply(TrafficPlan.all_stable())
    assert without_server_fields(virtualservices.get("checkout")) == stored


def test_a_destination_rule_without_the_canary_subset_stops_the_change(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    create_rule(admin, namespace, subsets=("v1",))
    warnings: list[str] = []
    istio = provider(admin, namespace, destination_rule="checkout", warnings=warnings)
    with pytest.raises(MeshError, match=f"DestinationRule {namespace}/checkout has no subset 'v2'; add it"):
        istio.apply(TrafficPlan(90, 10))
    istio.apply(TrafficPlan.all_stable())  # rolling back needs only the stable subset
    assert without_server_fields(virtualservices.get("checkout")) == stored
    assert warnings == []


def test_without_the_destination_rule_a_move_is_refused_but_a_revert_goes_ahead_with_a_warning(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    create_rule(admin, namespace)
    warnings: list[str] = []
    istio = provider(admin, namespace, destination_rule="checkout", warnings=warnings)
    istio.apply(PLANS[2])  # 25% on the canary, a cohort, faults
    destination_rules(admin, namespace).delete("checkout")  # the user deletes it mid-run

    with pytest.raises(MeshError, match=f"DestinationRule {namespace}/checkout not found; create it") as refused:
        istio.apply(TrafficPlan(50, 50))  # more canary weight: refused, nothing written
    assert not isinstance(refused.value, ObjectNotFound)  # not "the routing object is gone"
    assert primary_weights(virtualservices) == [75, 25, 0]
    assert warnings == []

    istio.apply(TrafficPlan.all_stable())  # a rollback, an abort, the Experiment deleted

    assert without_server_fields(virtualservices.get("checkout")) == stored
    (warning,) = warnings
    assert f"all traffic of VirtualService {namespace}/checkout routed back to subset 'v1'" in warning
    assert f"DestinationRule {namespace}/checkout was not found" in warning
    istio.apply(TrafficPlan.all_stable())  # a revert that changes nothing warns all the same
    assert len(warnings) == 2


def test_without_the_stable_subset_a_revert_goes_ahead_with_a_warning(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    create_rule(admin, namespace)
    warnings: list[str] = []
    istio = provider(admin, namespace, destination_rule="checkout", warnings=warnings)
    istio.apply(TrafficPlan(80, 20, mirror_percent=10.0))
    rule = destination_rules(admin, namespace).get("checkout")
    rule["spec"]["subsets"] = [s for s in rule["spec"]["subsets"] if s["name"] != "v1"]
    destination_rules(admin, namespace).replace("checkout", rule)

    with pytest.raises(MeshError, match="has no subset 'v1'"):
        istio.apply(TrafficPlan(70, 30, mirror_percent=10.0))
    istio.apply(TrafficPlan.all_stable())

    assert without_server_fields(virtualservices.get("checkout")) == stored
    (warning,) = warnings
    assert f"DestinationRule {namespace}/checkout has no subset 'v1'" in warning and "restore it" in warning


def test_a_missing_virtual_service_says_what_to_create(admin: k8s.ApiClient, namespace: str) -> None:
    istio = provider(admin, namespace, virtual_service="nowhere")
    with pytest.raises(MeshError, match=f"VirtualService {namespace}/nowhere not found: create it"):
        istio.apply(TrafficPlan(90, 10))
    assert istio.sweep(RICH_SETTINGS.owner) == []


def test_a_service_account_without_rights_is_told_which_verb_it_lacks(
    controlplane: ControlPlane, namespace: str, stored: dict[str, Any]
) -> None:
    token = controlplane.service_account_token(namespace, "meshroll")
    with controlplane.api_client(token) as api:
        istio = provider(api, namespace)
        with pytest.raises(MeshError, match=r"may not get virtualservices.networking.istio.io in namespace"):
            istio.apply(TrafficPlan(90, 10))


def test_the_server_refuses_what_the_crd_forbids_and_the_message_says_so(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    def too_short(vs: dict[str, Any]) -> dict[str, Any]:
        broken = copy.deepcopy(vs)
        named(broken["spec"]["http"], "primary")["fault"] = {"delay": {"fixedDelay": "0.5ms", "percentage": {}}}
        return broken

    ref = provider(admin, namespace).virtual_service
    with pytest.raises(MeshError, match=r"the API server refused meshroll's change to VirtualService.*1ms"):
        KubeObjects(admin).update(ref, too_short)


def test_a_sticky_plan_pinning_both_arms_is_accepted_held_and_removed_at_the_end(
    admin: k8s.ApiClient, namespace: str, virtualservices: Objects, stored: dict[str, Any]
) -> None:
    istio = provider(admin, namespace)
    sticky = TrafficPlan(75, 25, affinity=StickySession("meshroll-canary", "run-1", 3600, "meshroll-stable"))

    istio.apply(sticky)  # the server's CRD schema and CEL rules take both cookie routes and headers

    current = virtualservices.get("checkout")
    names = [str(r.get("name", "")) for r in current["spec"]["http"]]
    assert [n.split("-", 2)[1] for n in names if n.startswith("meshroll-")] == ["affinity", "stable"]
    assert names.index(next(n for n in names if n.startswith("meshroll-stable-affinity-"))) < names.index("primary")
    assert istio.holds(sticky) and not istio.holds(TrafficPlan(75, 25))
    istio.apply(TrafficPlan.all_stable())
    assert without_server_fields(virtualservices.get("checkout")) == stored
