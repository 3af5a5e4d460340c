"""The one adapter between the traffic providers and the Kubernetes API: read-modify-write of custom objects.

``update`` GETs the object, passes it to a pure function, and PUTs the result with the
``resourceVersion`` it read, so a concurrent edit by anyone else is never overwritten: the API
server answers 409 Conflict, and the object is read again and the change redone on the new
version (a bounded number of times). Nothing is written when the function changes nothing.
Library errors become ``MeshError`` here, with one line that says what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from rollout.mesh.errors import MeshError, TransientMeshError

Obj = dict[str, Any]
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)


class ObjectNotFound(MeshError):
    """The object (or its kind) does not exist."""


@dataclass(frozen=True)
class ObjectRef:
    """One namespaced custom object, and where the experiment names it (for messages)."""

    group: str
    version: str
    plural: str
    kind: str
    namespace: str
    name: str
    spec_field: str  # e.g. "spec.mesh.virtualService"

    @property
    def what(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def resource(self) -> str:
        return f"{self.plural}.{self.group}"


class KubeObjects:
    """Custom objects through the official client; every failure is a MeshError."""

    def __init__(self, api_client: k8s.ApiClient, *, max_attempts: int = 5) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self._host = str(getattr(api_client.configuration, "host", "the API server"))
        self.max_attempts = max_attempts

    def get(self, ref: ObjectRef) -> Obj:
        try:
            result = self._api.get_namespaced_custom_object(
                ref.group, ref.version, ref.namespace, ref.plural, ref.name, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            raise api_error(exc, "get", ref) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(exc) from exc
        return cast(Obj, result)

    def update(self, ref: ObjectRef, change: Callable[[Obj], Obj]) -> Obj:
        """Read ``ref``, apply ``change`` (pure; may raise MeshError), write it back; redo on conflict."""
        for _ in range(self.max_attempts):
            current = self.get(ref)
            desired = change(current)
            if desired == current:
                return current
            desired.setdefault("metadata", {})["resourceVersion"] = current.get("metadata", {}).get("resourceVersion")
            try:
                result = self._api.replace_namespaced_custom_object(
                    ref.group,
                    ref.version,
                    ref.namespace,
                    ref.plural,
                    ref.name,
                    desired,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status == 409:
                    continue  # someone else wrote in between: read their version and redo the change on it
                raise api_error(exc, "update", ref) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._unreachable(exc) from exc
            return cast(Obj, result)
        raise TransientMeshError(
            f"{ref.what} changed under meshroll {self.max_attempts} times in a row while it updated it: something "
            "else keeps rewriting it (a GitOps sync, another controller?); make it leave meshroll's weights and "
            "routes alone (e.g. Argo CD ignoreDifferences), then retry"
        )

    def _unreachable(self, exc: Exception) -> TransientMeshError:
        return TransientMeshError(
            f"cannot reach the Kubernetes API server at {self._host} ({type(exc).__name__}); check the network "
            "and the kubeconfig or in-cluster ServiceAccount; meshroll will retry"
        )


def _status_body(exc: ApiException) -> Obj:
    raw = exc.body
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {"message": raw}
    return parsed if isinstance(parsed, dict) else {}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def api_error(exc: ApiException, verb: str, ref: ObjectRef) -> MeshError:
    """An ApiException as a MeshError whose message says what to do next."""
    status = exc.status or 0
    body = _status_body(exc)
    message = _one_line(body.get("message") or exc.reason or "")
    if status == 404:
        details = body.get("details")
        if isinstance(details, dict) and details.get("name"):
            return ObjectNotFound(
                f"{ref.what} not found: create it (meshroll changes only its weights and its own routes in it), "
                f"or fix {ref.spec_field}"
            )
        return ObjectNotFound(
            f"the API server does not serve {ref.resource}/{ref.version}: install the CRD that serves it (the mesh's "
            "CRDs), or use the API version the cluster serves"
        )
    if status == 403:
        user = re.search(r'User "([^"]+)"', message)
        who = f" ({user.group(1)})" if user else ""
        return MeshError(
            f"meshroll's ServiceAccount{who} may not {verb} {ref.resource} in namespace {ref.namespace}: grant "
            f"'{verb}' on {ref.resource} in the Role bound to it (the Helm chart's RBAC)"
        )
    if status == 401:
        return MeshError(
            "the API server did not accept meshroll's credentials (401): check the ServiceAccount token or kubeconfig"
        )
    if status in (400, 422):
        return MeshError(
            f"the API server refused meshroll's change to {ref.what}: {message}; check the object "
            f"(kubectl get {ref.resource} {ref.name} -n {ref.namespace} -o yaml), and report it to meshroll if the "
            "fault is in what meshroll wrote"
        )
    return TransientMeshError(
        f"the API server answered {status} {_one_line(exc.reason)} to {verb} {ref.what}: {message}; meshroll will retry"
    )
