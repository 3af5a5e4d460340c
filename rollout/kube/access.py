"""What the controller may do, asked of the API server (a SelfSubjectAccessReview, which every authenticated
user may create: the ``system:basic-user`` ClusterRole grants it, so the chart's RBAC needs nothing for it).

Used before optional work that a narrower install does not grant: the start-up sweep lists VirtualServices
only where the controller may (an SMI- or Gateway-API-only chart leaves Istio out of its ClusterRole).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from rollout.kube.client import call

GROUP, VERSION, PLURAL = "authorization.k8s.io", "v1", "selfsubjectaccessreviews"


def may(api: k8s.ApiClient, verb: str, group: str, resource: str, namespace: str | None) -> bool:
    """Whether the API server says this client may ``verb`` ``resource`` (in ``namespace``; None: in all of them).

    Raises KubeError when it cannot be asked."""
    attributes = {"verb": verb, "group": group, "resource": resource, "namespace": namespace or ""}
    review = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    answer: Any = call(
        f"asking the API server whether this controller may {verb} {resource}",
        lambda: k8s.CustomObjectsApi(api).create_cluster_custom_object(GROUP, VERSION, PLURAL, review),
    )
    return isinstance(answer, dict) and (answer.get("status") or {}).get("allowed") is True
