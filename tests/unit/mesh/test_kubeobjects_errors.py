"""API errors become one-line MeshErrors that say what to do next."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from rollout.mesh.errors import MeshError, TransientMeshError
from rollout.mesh.kubeobjects import ObjectNotFound, ObjectRef, api_error

VS = ObjectRef(
    "networking.istio.io", "v1", "virtualservices", "VirtualService", "shop", "checkout", "spec.mesh.virtualService"
)


def failure(status: int, reason: str, body: object) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps(body) if not isinstance(body, str) else body
    return exc


def test_a_missing_object_says_create_it_or_fix_the_spec_field() -> None:
    body = {"kind": "Status", "reason": "NotFound", "details": {"name": "checkout", "kind": "virtualservices"}}
    error = api_error(failure(404, "Not Found", body), "get", VS)
    assert isinstance(error, ObjectNotFound)
    assert str(error) == (
        "VirtualService shop/checkout not found: create it (meshroll changes only its weights and its own routes "
        "in it), or fix spec.mesh.virtualService"
    )


def test_a_missing_kind_says_to_install_the_crd() -> None:
    error = api_error(failure(404, "Not Found", "404 page not found"), "get", VS)
    assert "does not serve virtualservices.networking.istio.io/v1: install the CRD" in str(error)


def test_forbidden_names_the_service_account_verb_and_resource() -> None:
    message = (
        'virtualservices.networking.istio.io "checkout" is forbidden: User "system:serviceaccount:meshroll:meshroll" '
        'cannot update resource "virtualservices" in API group "networking.istio.io" in the namespace "shop"'
    )
    error = api_error(failure(403, "Forbidden", {"message": message, "reason": "Forbidden"}), "update", VS)
    assert str(error) == (
        "meshroll's ServiceAccount (system:serviceaccount:meshroll:meshroll) may not update "
        "virtualservices.networking.istio.io in namespace shop: grant 'update' on "
        "virtualservices.networking.istio.io in the Role bound to it (the Helm chart's RBAC)"
    )
    assert not error.temporary


@pytest.mark.parametrize(("status", "temporary"), [(422, False), (400, False), (401, False), (500, True), (429, True)])
def test_only_server_trouble_is_temporary(status: int, temporary: bool) -> None:
    body = {"message": 'spec.http[0].route[0].weight: Invalid value:\n  "x"', "reason": "Invalid"}
    error = api_error(failure(status, "Oops", body), "update", VS)
    assert isinstance(error, MeshError) and error.temporary is temporary
    assert isinstance(error, TransientMeshError) is temporary
    assert "\n" not in str(error)
