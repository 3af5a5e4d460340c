"""Routes that others touch mid-run, against a real API server: a GitOps tool re-applying its own
VirtualService, the VirtualService deleted, a second Experiment on the same route, and a status
edited by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from analysis.observations import MetricPair
from analysis.sources import MetricQuery, StepSpan
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import (
    ISTIO,
    SERVICE,
    Api,
    SyntheticSource,
    experiment,
    route_weights,
    virtual_service,
    wait_for,
)

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]


class TolerantSource(SyntheticSource):
    """No data (rather than an error) while the VirtualService is gone."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        try:
            return super().collect(span, metrics)
        except Exception:
            return {}


def ready(kube: Api, namespace: str, name: str) -> dict[str, Any]:
    return next((c for c in kube.status(namespace, name).get("conditions") or () if c["type"] == "Ready"), {})


def reasons(kube: Api, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in kube.events(namespace, name)]


def applied(kube: Api, namespace: str, name: str) -> bool:
    status = kube.status(namespace, name)
    return status.get("phase") == "Progressing" and bool(status.get("trafficApplied"))


def first_step(
    kube: Api, namespace: str, start_controller: ControllerFactory, source: Callable[[Api], SyntheticSource], name: str
) -> None:
    """The Istio objects, a controller judging from ``source``, and Experiment ``name`` at its first step
    (steps of 120 s: nothing moves on its own while a test acts)."""
    kube.create_istio(namespace)
    start_controller(lambda: source(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, name, interval="120s"))
    wait_for(lambda: applied(kube, namespace, name), f"{name}'s first step", timeout=30)


def test_a_gitops_sync_that_resets_the_weights_mid_step_is_undone_and_reported(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    first_step(kube, namespace, start_controller, SyntheticSource, "c")
    synced = virtual_service(namespace)  # what git holds: all on v1, and a retry policy added since
    synced["spec"]["http"][1]["retries"] = {"attempts": 3, "perTryTimeout": "2s"}
    synced["metadata"]["resourceVersion"] = kube.virtual_service(namespace)["metadata"]["resourceVersion"]
    kube.custom.replace_namespaced_custom_object(*ISTIO, namespace, "virtualservices", SERVICE, synced)

    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (80, 20), "the weights written back", timeout=30)

    primary = kube.virtual_service(namespace)["spec"]["http"][1]
    assert primary["retries"] == {"attempts": 3, "perTryTimeout": "2s"} and primary["timeout"] == "5s"
    restored = next(e for e in kube.events(namespace, "c") if e["reason"] == "RouteRestored")
    assert restored["type"] == "Warning" and "stable 80% / canary 20%" in restored["note"]
    assert "GitOps" in restored["note"] and f"VirtualService {namespace}/{SERVICE}" in restored["note"]
    assert kube.status(namespace, "c")["step"] == 0


def test_a_virtual_service_deleted_mid_run_is_reported_and_restored_once_it_is_back(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    first_step(kube, namespace, start_controller, TolerantSource, "c")

    kube.custom.delete_namespaced_custom_object(*ISTIO, namespace, "virtualservices", SERVICE)

    wait_for(lambda: ready(kube, namespace, "c").get("reason") == "MeshError", "the missing route in Ready", timeout=30)
    message = ready(kube, namespace, "c")["message"]
    assert f"VirtualService {namespace}/{SERVICE} not found" in message and "create it" in message
    kube.custom.create_namespaced_custom_object(*ISTIO, namespace, "virtualservices", virtual_service(namespace))
    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (80, 20), "the weights written back", timeout=90)
    wait_for(lambda: ready(kube, namespace, "c").get("status") == "True", "Ready again", timeout=30)


def test_a_second_experiment_on_the_same_route_waits_until_the_first_has_ended(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    first_step(kube, namespace, start_controller, SyntheticSource, "first")

    kube.create_experiment(experiment(namespace, "second", canary="v3", interval="120s"))

    wait_for(lambda: ready(kube, namespace, "second").get("reason") == "MeshError", "the refusal", timeout=30)
    message = ready(kube, namespace, "second")["message"]
    assert f"in use by Experiment {namespace}/first" in message and "meshroll.io/command=abort" in message
    assert kube.status(namespace, "second")["run"] == 0
    route = kube.virtual_service(namespace)["spec"]["http"][1]["route"]
    assert [(d["destination"]["subset"], d["weight"]) for d in route] == [("v1", 80), ("v2", 20)]
    kube.patch_experiment(namespace, "first", {"metadata": {"annotations": {"meshroll.io/command": "abort"}}})
    wait_for(lambda: applied(kube, namespace, "second"), "the second run's first step", timeout=90)
    assert route_weights(kube.virtual_service(namespace), canary="v3") == (80, 20)
    assert route_weights(kube.virtual_service(namespace)) == (80, 0)


def test_a_phase_edited_by_hand_does_not_end_the_run_or_leave_its_traffic(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    first_step(kube, namespace, start_controller, SyntheticSource, "c")
    obj = kube.experiment(namespace, "c")
    obj["status"]["phase"] = "Succeeded"

    kube.custom.replace_namespaced_custom_object_status("meshroll.io", "v1alpha1", namespace, "experiments", "c", obj)

    wait_for(lambda: "StatusEdited" in reasons(kube, namespace, "c"), "a StatusEdited Event", timeout=30)
    note = next(e["note"] for e in kube.events(namespace, "c") if e["reason"] == "StatusEdited")
    assert "phase Succeeded" in note and "meshroll.io/command" in note
    assert kube.experiment(namespace, "c")["metadata"]["finalizers"] == ["meshroll.io/revert"]
    kube.delete_experiment(namespace, "c")  # still a run under way: deleting it reverts its traffic
    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (100, 0), "all traffic on stable", timeout=30)
