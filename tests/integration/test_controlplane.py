"""The test control plane is a real Kubernetes API server, not a stand-in.

Each test proves one behaviour an in-memory fake would get wrong: optimistic concurrency, the
status subresource, structural-schema and CEL validation of the upstream CRDs, watches, RBAC.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from tests.controlplane.fixture import WIDGET_GROUP, WIDGET_PLURAL, WIDGET_VERSION, ControlPlane

pytestmark = pytest.mark.controlplane
T = TypeVar("T")
Obj = dict[str, Any]


@dataclass(frozen=True)
class Objects:
    """Custom objects of one kind in one namespace, through the official client, typed."""

    api: k8s.CustomObjectsApi
    group: str
    version: str
    plural: str
    namespace: str

    def _where(self) -> tuple[str, str, str, str]:
        return self.group, self.version, self.namespace, self.plural

    def create(self, body: Obj) -> Obj:
        return cast(Obj, self.api.create_namespaced_custom_object(*self._where(), body))

    def get(self, name: str) -> Obj:
        return cast(Obj, self.api.get_namespaced_custom_object(*self._where(), name))

    def list(self) -> Obj:
        return cast(Obj, self.api.list_namespaced_custom_object(*self._where()))

    def patch(self, name: str, merge_patch: Obj) -> Obj:
        return cast(Obj, self.api.patch_namespaced_custom_object(*self._where(), name, merge_patch))

    def patch_status(self, name: str, merge_patch: Obj) -> Obj:
        return cast(Obj, self.api.patch_namespaced_custom_object_status(*self._where(), name, merge_patch))

    def delete(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(*self._where(), name)

    def watch(self, resource_version: str, until: Callable[[str, Obj], bool], timeout: int = 20) -> Iterator[Obj]:
        """Yield watch events (``{"type": ..., "object": ...}``) from ``resource_version`` on."""
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        events = stream.stream(  # type: ignore[no-untyped-call]
            self.api.list_namespaced_custom_object,
            *self._where(),
            resource_version=resource_version,
            timeout_seconds=timeout,
        )
        for event in events:
            yield cast(Obj, event)
            if until(event["type"], event["object"]):
                stream.stop()  # type: ignore[no-untyped-call]


@pytest.fixture
def namespace(controlplane: ControlPlane) -> str:
    return controlplane.create_namespace("cp")


@pytest.fixture
def admin(controlplane: ControlPlane) -> Iterator[k8s.ApiClient]:
    with controlplane.api_client() as api:
        yield api


@pytest.fixture
def widgets(admin: k8s.ApiClient, namespace: str) -> Objects:
    return Objects(k8s.CustomObjectsApi(admin), WIDGET_GROUP, WIDGET_VERSION, WIDGET_PLURAL, namespace)


@pytest.fixture
def virtualservices(admin: k8s.ApiClient, namespace: str) -> Objects:
    return istio_virtualservices(admin, namespace)


@pytest.fixture
def httproutes(admin: k8s.ApiClient, namespace: str) -> Objects:
    return Objects(k8s.CustomObjectsApi(admin), "gateway.networking.k8s.io", "v1", "httproutes", namespace)


def istio_virtualservices(api: k8s.ApiClient, namespace: str) -> Objects:
    return Objects(k8s.CustomObjectsApi(api), "networking.istio.io", "v1", "virtualservices", namespace)


def widget(name: str, size: int = 1) -> Obj:
    return {
        "apiVersion": f"{WIDGET_GROUP}/{WIDGET_VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, "color": "blue"},
    }


def virtual_service(name: str, http: list[Obj]) -> Obj:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": ["checkout"], "http": http},
    }


def weighted(stable: object, canary: object, **extra: object) -> list[Obj]:
    route = [
        {"destination": {"host": "checkout", "subset": "stable"}, "weight": stable},
        {"destination": {"host": "checkout", "subset": "canary"}, "weight": canary},
    ]
    return [{"name": "primary", "route": route, **extra}]


def http_route(name: str, backend_refs: list[Obj]) -> Obj:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "checkout", "port": 80}],
            "rules": [{"backendRefs": backend_refs}],
        },
    }


def rejection(call: Callable[[], object]) -> k8s.ApiException:
    with pytest.raises(k8s.ApiException) as caught:
        call()
    return caught.value


def eventually(call: Callable[[], T], timeout: float = 10.0) -> T:
    """``call()``'s result once it stops raising 403 Forbidden; re-raises after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except k8s.ApiException as error:
            if error.status != 403 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


# -- optimistic concurrency ---------------------------------------------------------------------


def test_a_merge_patch_carrying_a_stale_resource_version_is_refused_with_409(widgets: Objects) -> None:
    stale = widgets.create(widget("w", size=1))["metadata"]["resourceVersion"]
    widgets.patch("w", {"spec": {"size": 2}})

    error = rejection(lambda: widgets.patch("w", {"metadata": {"resourceVersion": stale}, "spec": {"size": 3}}))

    assert error.status == 409
    assert "the object has been modified" in str(error.body)
    assert widgets.get("w")["spec"]["size"] == 2


def test_a_merge_patch_carrying_the_current_resource_version_succeeds(widgets: Objects) -> None:
    current = widgets.create(widget("w", size=1))["metadata"]["resourceVersion"]

    patched = widgets.patch("w", {"metadata": {"resourceVersion": current}, "spec": {"size": 3}})

    assert patched["spec"]["size"] == 3
    assert patched["metadata"]["resourceVersion"] != current


# -- the status subresource ---------------------------------------------------------------------


def test_a_patch_to_status_changes_status_and_leaves_spec_alone(widgets: Objects) -> None:
    widgets.create(widget("w", size=1))

    patched = widgets.patch_status("w", {"spec": {"size": 99}, "status": {"phase": "Ready"}})

    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"]["size"] == 1
    assert patched["metadata"]["generation"] == 1


def test_a_patch_to_the_main_resource_leaves_status_alone_and_bumps_generation(widgets: Objects) -> None:
    widgets.create(widget("w", size=1))
    widgets.patch_status("w", {"status": {"phase": "Ready"}})

    patched = widgets.patch("w", {"spec": {"size": 5}, "status": {"phase": "Hacked"}})

    assert patched["spec"]["size"] == 5
    assert patched["status"] == {"phase": "Ready"}
    assert patched["metadata"]["generation"] == 2


# -- schema validation of the upstream CRDs ---------------------------------------------------


def test_the_istio_schema_does_not_bound_route_weights_so_120_is_accepted(virtualservices: Objects) -> None:
    # Istio's CRD types weight as int32 with no minimum or maximum: "weights add up to 100" is
    # checked by Istio's validating webhook, which a bare API server does not have. meshroll must
    # check weights itself.
    created = virtualservices.create(virtual_service("over", weighted(120, -20)))

    assert [route["weight"] for route in created["spec"]["http"][0]["route"]] == [120, -20]


def test_the_istio_schema_rejects_a_string_weight(virtualservices: Objects) -> None:
    error = rejection(lambda: virtualservices.create(virtual_service("stringly", weighted("90", "10"))))

    assert error.status == 422
    assert "spec.http[0].route[0].weight in body must be of type integer" in str(error.body)


def test_the_istio_schema_rejects_an_abort_with_both_http_and_grpc_status(virtualservices: Objects) -> None:
    abort = {"httpStatus": 503, "grpcStatus": "UNAVAILABLE", "percentage": {"value": 2.0}}

    error = rejection(
        lambda: virtualservices.create(virtual_service("two-aborts", weighted(90, 10, fault={"abort": abort})))
    )

    assert error.status == 422
    assert "spec.http[0].fault.abort" in str(error.body)
    assert "must validate one and only one schema (oneOf)" in str(error.body)


def test_the_istio_schema_runs_its_cel_rules_and_rejects_a_zero_fixed_delay(virtualservices: Objects) -> None:
    # x-kubernetes-validations (CEL): plain jsonschema skips these; the API server evaluates them.
    delay = {"fixedDelay": "0s", "percentage": {"value": 10.0}}

    error = rejection(
        lambda: virtualservices.create(virtual_service("no-delay", weighted(90, 10, fault={"delay": delay})))
    )

    assert error.status == 422
    assert "must be a valid duration greater than 1ms" in str(error.body)


def test_the_gateway_api_schema_rejects_a_backend_ref_without_its_required_name(httproutes: Objects) -> None:
    error = rejection(lambda: httproutes.create(http_route("nameless", [{"port": 80, "weight": 10}])))

    assert error.status == 422
    assert "spec.rules[0].backendRefs[0].name: Required value" in str(error.body)


def test_the_gateway_api_schema_rejects_a_weight_above_one_million(httproutes: Objects) -> None:
    error = rejection(
        lambda: httproutes.create(http_route("heavy", [{"name": "checkout-v2", "port": 80, "weight": 2_000_000}]))
    )

    assert error.status == 422
    assert "should be less than or equal to 1000000" in str(error.body)


def test_a_valid_weighted_http_route_is_stored_with_the_schema_defaults_filled_in(httproutes: Objects) -> None:
    refs = [{"name": "checkout-v1", "port": 80, "weight": 90}, {"name": "checkout-v2", "port": 80, "weight": 10}]

    rule = httproutes.create(http_route("split", refs))["spec"]["rules"][0]

    assert [ref["weight"] for ref in rule["backendRefs"]] == [90, 10]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


# -- watches --------------------------------------------------------------------------------------


def test_a_watch_sees_a_create_two_updates_and_a_delete_in_order(
    controlplane: ControlPlane, widgets: Objects, namespace: str
) -> None:
    start = widgets.list()["metadata"]["resourceVersion"]
    seen: queue.Queue[Obj] = queue.Queue()

    def follow() -> None:
        with controlplane.api_client() as api:
            watcher = Objects(k8s.CustomObjectsApi(api), WIDGET_GROUP, WIDGET_VERSION, WIDGET_PLURAL, namespace)
            for event in watcher.watch(start, until=lambda kind, _: kind == "DELETED"):
                seen.put(event)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    widgets.create(widget("w", size=1))
    widgets.patch("w", {"spec": {"size": 2}})
    widgets.patch("w", {"spec": {"size": 3}})
    widgets.delete("w")
    follower.join(timeout=25)

    events = [seen.get_nowait() for _ in range(seen.qsize())]
    assert [(e["type"], e["object"]["spec"]["size"]) for e in events] == [
        ("ADDED", 1),
        ("MODIFIED", 2),
        ("MODIFIED", 3),
        ("DELETED", 3),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(set(versions))


# -- RBAC -------------------------------------------------------------------------------------------


def test_a_service_account_without_rights_is_authenticated_but_forbidden(
    controlplane: ControlPlane, namespace: str
) -> None:
    token = controlplane.service_account_token(namespace, "nobody")

    with controlplane.api_client(token) as api:
        review = k8s.AuthenticationV1Api(api).create_self_subject_review(
            k8s.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
        )
        error = rejection(istio_virtualservices(api, namespace).list)

    assert review.status is not None and review.status.user_info is not None
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:nobody"
    assert error.status == 403
    assert "cannot list resource" in str(error.body)


def test_a_role_binding_grants_a_service_account_exactly_what_it_names(
    controlplane: ControlPlane, admin: k8s.ApiClient, namespace: str
) -> None:
    token = controlplane.service_account_token(namespace, "reader")
    rbac = k8s.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(
        namespace,
        k8s.V1Role(
            metadata=k8s.V1ObjectMeta(name="list-virtualservices"),
            rules=[k8s.V1PolicyRule(api_groups=["networking.istio.io"], resources=["virtualservices"], verbs=["list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="reader"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="list-virtualservices"),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        ),
    )

    with controlplane.api_client(token) as api:
        as_reader = istio_virtualservices(api, namespace)
        # The RBAC authorizer reads bindings through an informer: allow it a moment to see this one.
        listed = eventually(as_reader.list)
        error = rejection(lambda: as_reader.create(virtual_service("nope", weighted(90, 10))))

    assert listed["items"] == []
    assert error.status == 403


# -- the fixture's own promises -------------------------------------------------------------------


def test_kubectl_reaches_it_with_the_admin_kubeconfig_and_sees_the_crds(controlplane: ControlPlane) -> None:
    crds = set(controlplane.kubectl("get", "crds", "-o", "name").stdout.split())

    prefix = "customresourcedefinition.apiextensions.k8s.io/"
    assert {
        prefix + "virtualservices.networking.istio.io",
        prefix + "destinationrules.networking.istio.io",
        prefix + "httproutes.gateway.networking.k8s.io",
        prefix + "trafficsplits.split.smi-spec.io",
        prefix + f"{WIDGET_PLURAL}.{WIDGET_GROUP}",
    } <= crds
    assert controlplane.request("GET", "/version").body["gitVersion"] == controlplane.k8s_version
