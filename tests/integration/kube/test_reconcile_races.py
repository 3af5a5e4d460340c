"""Races between a reconcile under way and the rest of the controller, against a real API server.

- Leadership lost while a reconcile builds a run (``stop_all`` between the build and its
  registration): that run is neither registered nor begun, so nothing runs that no ``stop_all``
  will ever stop; the next reconcile builds it again and it goes on.
- A run holding a route whose Experiment is deleted while someone else's finalizer keeps it
  Terminating: once meshroll has reverted it and let go, it no longer holds the route, and the
  Experiment waiting for that route starts at once.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollout.kube.finalizer import FINALIZER
from rollout.mesh.factory import provider_for
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(120)]
OTHER = "example.com/keep"


def applied(kube: Api, namespace: str, name: str) -> bool:
    status = kube.status(namespace, name)
    return status.get("phase") == "Progressing" and bool(status.get("trafficApplied"))


def ready(kube: Api, namespace: str, name: str) -> dict[str, Any]:
    return next((c for c in kube.status(namespace, name).get("conditions") or () if c["type"] == "Ready"), {})


def test_a_run_built_while_leadership_is_lost_is_not_registered_and_the_next_reconcile_starts_it(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    controller = start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,))
    built: list[Any] = []

    def provider(experiment: Any, api: Any) -> Any:  # called by the run's build, before its registration
        if not built:
            controller.reconciler.stop_all()  # what losing the Lease does, from the Lease's thread
        built.append(experiment)
        return provider_for(experiment, api)

    controller.reconciler.factory.provider_factory = provider
    kube.create_experiment(experiment(namespace, "c", interval="120s"))

    wait_for(lambda: applied(kube, namespace, "c"), "the run started by a later reconcile", timeout=30)
    assert len(built) >= 2
    (run,) = controller.runs.values()
    assert run.orchestrator.experiment is not built[0] and not run.stopped
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)
    assert kube.status(namespace, "c")["run"] == 1


def test_a_deleted_holder_kept_terminating_by_another_finalizer_frees_its_route_once_reverted(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    first = experiment(namespace, "first", interval="120s")
    first["metadata"]["finalizers"] = [OTHER]
    kube.create_experiment(first)
    wait_for(lambda: applied(kube, namespace, "first"), "the first run's first step", timeout=30)
    kube.create_experiment(experiment(namespace, "second", canary="v3", interval="120s"))
    wait_for(lambda: "in use by" in ready(kube, namespace, "second").get("message", ""), "the refusal", timeout=30)

    kube.delete_experiment(namespace, "first")

    wait_for(lambda: applied(kube, namespace, "second"), "the second run's first step", timeout=30)
    assert route_weights(kube.virtual_service(namespace), canary="v3") == (80, 20)
    assert route_weights(kube.virtual_service(namespace))[1] == 0
    held = kube.experiment(namespace, "first")["metadata"]
    assert held["finalizers"] == [OTHER] and held.get("deletionTimestamp")  # Terminating, by OTHER alone
    assert FINALIZER not in held["finalizers"]
    kube.patch_experiment(namespace, "first", {"metadata": {"finalizers": None}})
