"""Push webhooks reach the leader: the replica holding the Lease labels its own Pod, and the chart's ``-gitops``
Service selects that label, so a push never lands on a standby (which does not poll). Against the real API
server, with the chart's Service and RBAC (the replicas act as its ServiceAccount) and two Pod objects standing
for the two replicas (no kubelet runs them: the label is all that is tested, and the Service's selector is
resolved as the endpoints controller would, by listing the Pods it selects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from rollout.kube.leader_pod import LEADER_LABEL
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.chart import install_rbac, render
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
RELEASE = "mr"
WEBHOOKS = {"repo": "https://git.example.com/shop.git", "webhook": {"secret": {"name": "hook"}}}


def replica_pod(core: k8s.CoreV1Api, namespace: str, name: str, labels: dict[str, str], account: str) -> None:
    spec = {"serviceAccountName": account, "automountServiceAccountToken": False}
    body = {"metadata": {"name": name, "labels": labels}, "spec": {**spec, "containers": [{"name": "c", "image": "x"}]}}
    core.create_namespaced_pod(namespace, body)


def webhook_targets(core: k8s.CoreV1Api, namespace: str, service: dict[str, Any]) -> list[str]:
    """The Pods the Service sends to (what the endpoints controller would list)."""
    selector = ",".join(f"{k}={v}" for k, v in service["spec"]["selector"].items())
    return sorted(p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector=selector).items)


def test_only_the_leaders_pod_is_selected_by_the_webhook_service_and_the_label_follows_the_lease(
    controlplane: ControlPlane, kube: Api, namespace: str, tmp_path: Path, start_controller: ControllerFactory
) -> None:
    core = k8s.CoreV1Api(controlplane.api_client())
    documents = render(RELEASE, namespace, {"gitops": WEBHOOKS})
    service = next(d for d in documents if d["kind"] == "Service" and d["metadata"]["name"].endswith("-gitops"))
    token = install_rbac(controlplane, RELEASE, namespace, tmp_path, gitops=WEBHOOKS)
    account = next(d for d in documents if d["kind"] == "ServiceAccount")["metadata"]["name"]
    pod_labels = {"app.kubernetes.io/name": "meshroll", "app.kubernetes.io/instance": RELEASE}
    replica_pod(core, namespace, "mr-a", pod_labels, account)
    replica_pod(core, namespace, "mr-b", {**pod_labels, LEADER_LABEL: "true"}, account)  # left by a restarted container
    options = {"namespaces": (namespace,), "lease_namespace": namespace, "token": token}

    first = start_controller(lambda: SyntheticSource(kube), identity="mr-a", leader_pod=(namespace, "mr-a"), **options)
    wait_for(lambda: first.may_act(), what="mr-a leads")
    start_controller(lambda: SyntheticSource(kube), identity="mr-b", leader_pod=(namespace, "mr-b"), **options)
    wait_for(lambda: webhook_targets(core, namespace, service) == ["mr-a"], what="mr-b clears its stale label")

    first.stop()  # releases the Lease: mr-b takes it over

    wait_for(lambda: webhook_targets(core, namespace, service) == ["mr-b"], what="the label moved to mr-b")
    assert LEADER_LABEL not in (core.read_namespaced_pod("mr-a", namespace).metadata.labels or {})
