"""meshroll's finalizer against the real API server, with the controller in-process (the real Istio
provider, ``helpers.SyntheticSource``): a run holds it next to everyone else's, a deleted
Experiment is reverted before it goes, a finished one goes at once and keeps its routing, a revert
that fails keeps the object and says how to force it, a revert that cannot be done lets it go, and
one whose DestinationRule is gone is done all the same, with a warning.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollout.kube.finalizer import FINALIZER
from rollout.kube.objects import Key
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import (
    ISTIO,
    SERVICE,
    Api,
    SyntheticSource,
    experiment,
    gone,
    route_weights,
    wait_for,
)

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(240)]
OTHER = "example.com/keep"  # someone else's finalizer


def phase_is(kube: Api, namespace: str, name: str, *phases: str) -> dict[str, Any] | None:
    status = kube.status(namespace, name)
    return status if status.get("phase") in phases and status.get("trafficApplied") else None


def finalizers(kube: Api, namespace: str, name: str) -> list[str]:
    return list(kube.experiment(namespace, name)["metadata"].get("finalizers") or ())


def reasons(kube: Api, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in kube.events(namespace, name)]


def rename_route(kube: Api, namespace: str, old: str, new: str) -> list[int]:
    """Rename the VirtualService's http route ``old``; the weights of its destinations."""
    vs = kube.virtual_service(namespace)
    route = next(r for r in vs["spec"]["http"] if r.get("name") == old)
    route["name"] = new
    kube.custom.replace_namespaced_custom_object(*ISTIO, namespace, "virtualservices", SERVICE, vs)
    return [int(d["weight"]) for d in route["route"]]


def running(kube: Api, namespace: str, start_controller: ControllerFactory, **extra: Any) -> Any:
    """A controller and an Experiment ``c`` at its first step (20% on the canary)."""
    controller = start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    body = experiment(namespace, "c", interval="60s")
    body["metadata"].update(extra)
    kube.create_experiment(body)
    wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the first step", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)
    return controller


def test_a_run_holds_the_finalizer_beside_others_and_a_deletion_reverts_before_it_is_removed(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    running(kube, namespace, start_controller, finalizers=[OTHER])
    assert finalizers(kube, namespace, "c") == [OTHER, FINALIZER]

    kube.delete_experiment(namespace, "c")  # OTHER keeps it Terminating after meshroll is done

    wait_for(lambda: finalizers(kube, namespace, "c") == [OTHER], "meshroll's finalizer removed", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    reverted = next(e for e in kube.events(namespace, "c") if e["reason"] == "Reverted")
    assert "run 1 (Progressing, canary 20%)" in reverted["note"] and "back to stable" in reverted["note"]
    assert reverted["type"] == "Normal"
    kube.patch_experiment(namespace, "c", {"metadata": {"finalizers": None}})
    wait_for(lambda: gone(kube, namespace, "c"), "the Experiment gone", timeout=30)


def test_a_finished_run_drops_the_finalizer_and_its_deletion_leaves_the_promotion(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    controller = start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", steps=(20, 50), interval="2s"))
    wait_for(lambda: phase_is(kube, namespace, "c", "Succeeded"), "the promotion", timeout=90)
    assert route_weights(kube.virtual_service(namespace)) == (0, 100)

    wait_for(lambda: finalizers(kube, namespace, "c") == [], "the finalizer dropped", timeout=30)
    kube.delete_experiment(namespace, "c")

    assert gone(kube, namespace, "c")  # at once: nothing holds it
    controller.reconciler.reconcile(Key(namespace, "c"))  # what the controller does with the deletion
    assert route_weights(kube.virtual_service(namespace)) == (0, 100)
    assert not {"Reverted", "NotReverted"} & set(reasons(kube, namespace, "c"))


def test_a_failing_revert_keeps_the_finalizer_says_how_to_force_it_and_is_retried(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    running(kube, namespace, start_controller).stop()  # no controller while it is deleted
    assert rename_route(kube, namespace, "primary", "main") == [80, 20]  # spec.mesh.route names no route now
    kube.delete_experiment(namespace, "c")
    assert finalizers(kube, namespace, "c") == [FINALIZER]
    assert kube.experiment(namespace, "c")["metadata"]["deletionTimestamp"]

    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace, identity="b")

    failed = wait_for(
        lambda: next((e for e in kube.events(namespace, "c") if e["reason"] == "RevertFailed"), None),
        "a RevertFailed Event",
        timeout=30,
    )
    assert failed["type"] == "Warning"
    assert "has no http route named 'primary'" in failed["note"], failed["note"]
    assert f"kubectl patch experiment c -n {namespace} --type merge" in failed["note"]
    ready = next(c for c in kube.status(namespace, "c")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RevertFailed")
    assert finalizers(kube, namespace, "c") == [FINALIZER]  # kept: the mesh still holds the canary's share

    assert rename_route(kube, namespace, "main", "primary") == [80, 20]  # fixed: the next retry reverts

    wait_for(lambda: gone(kube, namespace, "c"), "the Experiment gone after a retry", timeout=90)
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    assert "Reverted" in reasons(kube, namespace, "c")


def test_a_revert_that_cannot_be_done_lets_the_experiment_go_and_says_why(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    running(kube, namespace, start_controller).stop()
    kube.custom.delete_namespaced_custom_object(*ISTIO, namespace, "virtualservices", SERVICE)  # nothing to revert
    kube.delete_experiment(namespace, "c")

    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace, identity="b")

    wait_for(lambda: gone(kube, namespace, "c"), "the Experiment gone", timeout=30)
    note = next(e for e in kube.events(namespace, "c") if e["reason"] == "NotReverted")["note"]
    assert "VirtualService" in note and "not found" in note and "does not retry" in note, note


def test_a_deletion_with_the_destination_rule_gone_reverts_all_the_same_and_warns(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    running(kube, namespace, start_controller).stop()
    kube.custom.delete_namespaced_custom_object(*ISTIO, namespace, "destinationrules", SERVICE)
    kube.delete_experiment(namespace, "c")

    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace, identity="b")

    wait_for(lambda: gone(kube, namespace, "c"), "the Experiment gone", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)  # the user's route as they declared it
    events = {e["reason"]: e for e in kube.events(namespace, "c")}
    assert "NotReverted" not in events and "RevertFailed" not in events, sorted(events)
    assert "back to stable" in events["Reverted"]["note"]
    warning = events["MeshWarning"]
    assert warning["type"] == "Warning"
    assert f"routed back to subset 'v1' although DestinationRule {namespace}/checkout was not found" in warning["note"]


def test_an_experiment_without_the_finalizer_is_still_reverted_by_the_controller_running_it(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    """Objects from before the finalizer (emulated: this controller never adds it) keep the old way:
    the controller that runs them reverts them when it sees them gone."""
    kube.create_istio(namespace)
    controller = start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    controller.reconciler.finalizer.hold = lambda _key, obj, _want: obj  # type: ignore[method-assign]
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the first step", timeout=30)
    assert finalizers(kube, namespace, "c") == []

    kube.delete_experiment(namespace, "c")

    assert gone(kube, namespace, "c")
    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (100, 0), "all traffic on stable", timeout=30)


def ready_reason(kube: Api, namespace: str, name: str) -> str:
    conditions = kube.status(namespace, name).get("conditions") or ()
    return str(next((c.get("message", "") for c in conditions if c["type"] == "Ready"), ""))


def test_a_run_on_a_misspelt_route_can_be_aborted_and_deleted_though_the_mesh_never_took_it(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    before = kube.virtual_service(namespace)["spec"]
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)

    def misspelt(name: str) -> None:
        body = experiment(namespace, name, interval="60s")
        body["spec"]["mesh"]["route"] = "primray"
        kube.create_experiment(body)
        wait_for(lambda: "no http route named 'primray'" in ready_reason(kube, namespace, name), "refused")

    misspelt("aborted")
    kube.patch_experiment(namespace, "aborted", {"metadata": {"annotations": {"meshroll.io/command": "abort"}}})
    wait_for(lambda: phase_is(kube, namespace, "aborted", "Aborted"), "the abort, though no write ever went")
    assert kube.experiment(namespace, "aborted")["status"].get("lastCommand") == "abort"

    misspelt("deleted")  # the route is free again: the aborted run has ended
    kube.delete_experiment(namespace, "deleted")
    wait_for(lambda: gone(kube, namespace, "deleted"), "the deletion, with nothing to route back", timeout=30)
    assert kube.virtual_service(namespace)["spec"] == before, "the mesh was never touched"
