"""GitOps inside the controller across a change of leader, against the real API server and a real git remote.

Each replica has its own ``--state`` (an ``emptyDir`` in the chart). Only the leader polls; it copies
its state into a ConfigMap beside the Lease, and the next leader starts from that copy, so it does
not apply the branch tip again: an Experiment deleted after its release is not brought back.
The two replicas here are two GitOps links in this process, each with the controller's fenced client
and a leadership flag the test hands over (the Lease itself is tested in ``test_lease.py``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from rollout.kube.client import FencedApiClient
from rollout.kube.gitops_link import GitOpsLink, GitOpsSettings, gitops_link
from rollout.kube.gitops_state import KEY
from tests.controlplane.fixture import ControlPlane
from tests.integration.gitops.gitrepo import Origin, experiment_yaml
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, wait_for

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
COPY = "meshroll-controller-gitops"


def replica(
    controlplane: ControlPlane, origin: Origin, state: Path, leads: Callable[[], bool], at: str, interval: float = 0.3
) -> GitOpsLink:
    api = FencedApiClient(controlplane.api_client().configuration, leads)
    settings = GitOpsSettings(origin.url, interval=interval, state=state)
    return gitops_link(api, settings, leading=leads, state_copy=(at, COPY)).start()


def experiment_or_none(kube: Api, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return kube.experiment(namespace, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def copied_state(controlplane: ControlPlane, namespace: str) -> dict[str, Any] | None:
    try:
        found = k8s.CoreV1Api(controlplane.api_client()).read_namespaced_config_map(COPY, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads((found.data or {})[KEY])  # type: ignore[no-any-return]


def canary_in_copy(controlplane: ControlPlane, namespace: str) -> str | None:
    """The canary version the copied state records for the experiment file."""
    state = copied_state(controlplane, namespace) or {"sources": {}}
    for source in state["sources"].values():
        record = source["files"].get("experiments/checkout.yaml") or {}
        return str((record.get("experiments") or {}).get(f"{namespace}/checkout"))
    return None


def test_a_new_leader_carries_on_from_the_gitops_state_of_the_last_one(
    controlplane: ControlPlane, kube: Api, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.controller")
    origin = Origin(tmp_path / "repo")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2", namespace=namespace))
    origin.commit("canary v2 for checkout")
    origin.push()
    leader = {"name": "first"}

    def start(name: str) -> GitOpsLink:
        return replica(controlplane, origin, tmp_path / name / "s.json", lambda: leader["name"] == name, namespace)

    first, second = start("first"), start("second")
    try:
        wait_for(lambda: experiment_or_none(kube, namespace, "checkout"), "the leader's apply", timeout=30)
        wait_for(lambda: copied_state(controlplane, namespace), "its state copied beside the Lease", timeout=30)
        assert second.poller.polls == 0, "a standby does not poll"

        kube.delete_experiment(namespace, "checkout")  # its release is over, and someone tidies up
        leader["name"] = "second"  # the first pod is replaced: a new one, with an empty --state, leads
        polled = second.poller.polls
        wait_for(lambda: second.poller.polls >= polled + 3, "the new leader's polls", timeout=30)
        polls_of_first = first.poller.polls

        assert experiment_or_none(kube, namespace, "checkout") is None, "the finished release was not applied again"
        assert f"GitOps carries on from the state in ConfigMap {namespace}/{COPY}" in caplog.text

        origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3", namespace=namespace))
        origin.commit("canary v3 for checkout")
        origin.push()
        applied = wait_for(lambda: experiment_or_none(kube, namespace, "checkout"), "the new commit applied")
        assert applied["spec"]["target"]["canary"] == {"version": "v3"}
        assert first.poller.polls == polls_of_first, "the replica that lost the Lease polls no more"
        wait_for(lambda: canary_in_copy(controlplane, namespace) == "v3", "the new leader's state copied")
    finally:
        first.stop()
        second.stop()


def test_a_copy_that_cannot_be_used_pauses_gitops_until_it_is_fixed_or_deleted(
    controlplane: ControlPlane, kube: Api, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    core = k8s.CoreV1Api(controlplane.api_client())
    garbage = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=COPY), data={KEY: "{not json"})
    core.create_namespaced_config_map(namespace, garbage)
    origin = Origin(tmp_path / "repo")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2", namespace=namespace))
    origin.commit("canary v2 for checkout")
    origin.push()
    link = replica(controlplane, origin, tmp_path / "s.json", lambda: True, namespace)
    try:
        wait_for(lambda: "GitOps is paused: fix it, or delete the ConfigMap" in caplog.text, "the one-line error")
        assert link.poller.polls == 0 and experiment_or_none(kube, namespace, "checkout") is None

        core.delete_namespaced_config_map(COPY, namespace)
        wait_for(lambda: experiment_or_none(kube, namespace, "checkout"), "the branch tip applied", timeout=30)
        wait_for(lambda: copied_state(controlplane, namespace), "a fresh copy")
    finally:
        link.stop()
    said = [r.getMessage() for r in caplog.records if "is not a JSON object" in r.getMessage()]
    assert said and all("\n" not in line for line in said)


def test_a_standby_polls_as_soon_as_it_leads_not_an_interval_later(
    controlplane: ControlPlane, kube: Api, namespace: str, tmp_path: Path
) -> None:
    origin = Origin(tmp_path / "repo")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2", namespace=namespace))
    origin.commit("canary v2 for checkout")
    origin.push()
    leads = {"now": False}
    link = replica(controlplane, origin, tmp_path / "s.json", lambda: leads["now"], namespace, interval=3600.0)
    try:
        time.sleep(1.5)
        assert link.poller.polls == 0
        leads["now"] = True
        wait_for(lambda: experiment_or_none(kube, namespace, "checkout"), "the new leader's first poll", timeout=15)
    finally:
        link.stop()
