"""The Gateway API (GAMMA) and SMI providers against a real kube-apiserver with the upstream CRDs."""

from __future__ import annotations

from typing import Any, cast

import pytest
import yaml
from kubernetes import client as k8s

from rollout.mesh.errors import MeshError
from rollout.mesh.gateway_api import GatewayApiProvider
from rollout.mesh.kubeobjects import KubeObjects
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_gateway_api import GatewayApiSettings
from rollout.mesh.render_smi import SmiSettings
from rollout.mesh.smi import SmiProvider
from tests.controlplane.fixture import LINKERD_SMI_TRAFFICSPLIT_CRD, ControlPlane
from tests.integration.mesh.helpers import InterruptedObjects, Objects, in_namespace, without_server_fields
from tests.unit.mesh.samples import BETA, COOKIE, OWNER, RICH_ROUTE, V1ALPHA4, named, unowned_view

pytestmark = pytest.mark.controlplane
AB = "meshroll-ab-shop.checkout-v2"
ROUTE_PLANS = [
    TrafficPlan(90, 10),
    TrafficPlan(80, 20, mirror_percent=20.0),
    TrafficPlan(ab_matches=(BETA, COOKIE), mirror_percent=12.5),
    TrafficPlan(0, 100),
    TrafficPlan.all_stable(),
]


@pytest.fixture
def namespace(controlplane: ControlPlane) -> str:
    return controlplane.create_namespace("gamma")


@pytest.fixture
def httproutes(admin: k8s.ApiClient, namespace: str) -> Objects:
    return Objects(admin, "gateway.networking.k8s.io", "v1", "httproutes", namespace)


@pytest.fixture
def stored_route(httproutes: Objects, namespace: str) -> dict[str, Any]:
    return without_server_fields(httproutes.create(in_namespace(RICH_ROUTE, namespace)))


def gateway(api: k8s.ApiClient, namespace: str, objects: KubeObjects | None = None) -> GatewayApiProvider:
    settings = GatewayApiSettings(OWNER, namespace, "checkout", "checkout-v1", "checkout-v2", rule="primary")
    return GatewayApiProvider(objects or KubeObjects(api), settings)


def route_view(route: dict[str, Any]) -> dict[str, Any]:
    weighted = {"checkout-v1", "checkout-v2"}
    return unowned_view(
        without_server_fields(route), managed=1, weighted=weighted, created={"checkout-v2"}, mesh_keys={"filters"}
    )


def test_gamma_route_plans_are_accepted_and_the_rest_of_the_route_stays(
    admin: k8s.ApiClient, namespace: str, httproutes: Objects, stored_route: dict[str, Any]
) -> None:
    provider = gateway(admin, namespace)
    for plan in ROUTE_PLANS:
        provider.apply(plan)
        current = httproutes.get("checkout")
        provider.apply(plan)  # the server's defaults do not make meshroll write again
        assert httproutes.get("checkout")["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        assert route_view(current) == route_view(stored_route)
        assert current["spec"]["parentRefs"] == stored_route["spec"]["parentRefs"]
        rules = current["spec"]["rules"]
        assert [r.get("name") for r in rules][1] == (AB if plan.ab_matches else "primary")
        assert named(rules, "primary")["backendRefs"][0]["weight"] == plan.stable_weight
    assert without_server_fields(httproutes.get("checkout")) == stored_route


def test_gamma_route_keeps_a_concurrent_edit_and_sweeps_after_a_crash(
    admin: k8s.ApiClient, namespace: str, httproutes: Objects, stored_route: dict[str, Any]
) -> None:
    def someone_else_edits() -> None:
        route = httproutes.get("checkout")
        named(route["spec"]["rules"], "rest")["timeouts"] = {"request": "30s"}
        httproutes.replace("checkout", route)

    objects = InterruptedObjects(admin, someone_else_edits)
    gateway(admin, namespace, objects).apply(ROUTE_PLANS[2])
    assert objects.reads == 2
    assert named(httproutes.get("checkout")["spec"]["rules"], "rest")["timeouts"] == {"request": "30s"}
    removed = gateway(admin, namespace).sweep(OWNER)
    assert removed == [AB, f"rule 'primary' of HTTPRoute {namespace}/checkout.filters[RequestMirror]"]
    rules = httproutes.get("checkout")["spec"]["rules"]
    assert [r.get("name") for r in rules] == ["admin", "primary", "rest"]
    assert [f["type"] for f in named(rules, "primary")["filters"]] == ["RequestHeaderModifier", "URLRewrite"]


def test_trafficsplit_v1alpha4_weights_and_nothing_else(admin: k8s.ApiClient, controlplane: ControlPlane) -> None:
    namespace = controlplane.create_namespace("smi")
    splits = Objects(admin, "split.smi-spec.io", "v1alpha4", "trafficsplits", namespace)
    stored = without_server_fields(splits.create(in_namespace(V1ALPHA4, namespace)))
    settings = SmiSettings(OWNER, namespace, "podinfo", "podinfo-primary", "podinfo-canary")
    provider = SmiProvider(KubeObjects(admin), settings)
    for canary in (10, 50, 100):
        provider.apply(TrafficPlan(100 - canary, canary))
        current = splits.get("podinfo")
        weights = {b["service"]: b["weight"] for b in current["spec"]["backends"]}
        assert weights == {"podinfo-primary": 100 - canary, "podinfo-canary": canary, "podinfo-legacy": 0}
        assert current["spec"]["matches"] == stored["spec"]["matches"]
    with pytest.raises(MeshError, match="cannot mirror"):
        provider.apply(TrafficPlan(mirror_percent=5.0))
    assert provider.sweep(OWNER) == []
    provider.apply(TrafficPlan.all_stable())
    assert without_server_fields(splits.get("podinfo")) == stored


def linkerd_crd_in_own_group(group: str) -> dict[str, Any]:
    """Linkerd's TrafficSplit CRD (v1alpha1: quantity weights), byte for byte but for its group.

    Swapping it in for the canonical CRD (``install_crds(..., replace=True)``) is refused with 422:
    the canonical CRD's ``status.storedVersions`` holds v1alpha4, which Linkerd's lacks. Its own
    group leaves the session's canonical CRD as the other tests expect it.
    """
    crd = next(d for d in yaml.safe_load_all(LINKERD_SMI_TRAFFICSPLIT_CRD.read_text()) if isinstance(d, dict))
    crd["metadata"]["name"] = f"trafficsplits.{group}"
    crd["spec"]["group"] = group
    return cast(dict[str, Any], crd)


def test_trafficsplit_v1alpha1_quantity_weights_keep_the_other_backends_share(
    admin: k8s.ApiClient, controlplane: ControlPlane
) -> None:
    group = "split.linkerd-smi.test"
    controlplane.install_crds([linkerd_crd_in_own_group(group)])
    namespace = controlplane.create_namespace("smi-quantity")
    splits = Objects(admin, group, "v1alpha1", "trafficsplits", namespace)
    backends = [{"service": "backend-svc", "weight": "500m"}, {"service": "legacy-svc", "weight": "250m"}]
    body = {
        "apiVersion": f"{group}/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "backend-traffic-split", "namespace": namespace},
        "spec": {"service": "backend-svc", "backends": backends},
    }
    stored = without_server_fields(splits.create(body))
    settings = SmiSettings(OWNER, namespace, "backend-traffic-split", "backend-svc", "failing-svc")
    provider = SmiProvider(KubeObjects(admin), settings, f"{group}/v1alpha1")
    for canary, expected in ((10, ["450m", "50m"]), (50, ["250m", "250m"]), (100, [0, "500m"])):
        provider.apply(TrafficPlan(100 - canary, canary))
        current = splits.get("backend-traffic-split")["spec"]["backends"]
        assert [b["weight"] for b in current] == [*expected, "250m"]
        assert current[-1] == backends[-1]
        assert provider.holds(TrafficPlan(100 - canary, canary))
    provider.apply(TrafficPlan.all_stable())
    assert without_server_fields(splits.get("backend-traffic-split")) == stored
