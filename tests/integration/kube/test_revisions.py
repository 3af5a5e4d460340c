"""New generations of an Experiment's spec, with the controller in-process against a real API server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]


def at(kube: Api, namespace: str, name: str, run: int, *phases: str) -> dict[str, Any] | None:
    status = kube.status(namespace, name)
    ok = status.get("run") == run and status.get("phase") in phases and status.get("trafficApplied")
    return status if ok else None


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_a_new_canary_version_mid_run_supersedes_it_back_to_stable_first_then_starts_run_two(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: at(kube, namespace, "c", 1, "Progressing"), "run 1 under way", timeout=30)
    assert route_weights(kube.virtual_service(namespace), "v1", "v2") == (80, 20)

    kube.patch_experiment(namespace, "c", {"spec": {"target": {"canary": {"version": "v3"}}}})

    status = wait_for(lambda: at(kube, namespace, "c", 2, "Progressing"), "run 2 under way", timeout=30)
    assert (status["runGeneration"], status["observedGeneration"]) == (2, 2)
    assert status["runSpec"]["target"]["canary"]["version"] == "v3"
    (previous,) = status["previousRuns"]
    assert previous["run"] == 1 and previous["generation"] == 1 and previous["canaryVersion"] == "v2"
    assert previous["phase"] == "Aborted" and "superseded by generation 2" in previous["reason"]
    assert [e["event"]["type"] for e in status["history"]][:2] == ["start", "applied"]  # a fresh history
    vs = kube.virtual_service(namespace)
    assert route_weights(vs, "v1", "v3") == (80, 20) and route_weights(vs, "v1", "v2")[1] == 0
    events = sorted(kube.events(namespace, "c"), key=lambda e: e["eventTime"])
    reasons = [(e["reason"], e["note"].split(",")[0]) for e in events]
    aborted = reasons.index(("Aborted", "run 1"))
    assert "superseded by generation 2" in events[aborted]["note"]
    assert events[aborted]["note"].split(": ", 1)[1].startswith("stable 100% / canary 0%")  # back to stable first
    assert reasons.index(("Started", "run 2")) > aborted


def test_a_new_generation_after_a_promotion_starts_the_next_run(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="2s"))
    wait_for(lambda: at(kube, namespace, "c", 1, "Succeeded"), "run 1 promoted", timeout=60)
    assert route_weights(kube.virtual_service(namespace), "v1", "v2") == (0, 100)

    kube.patch_experiment(
        namespace, "c", {"spec": {"target": {"stable": {"version": "v2"}, "canary": {"version": "v3"}}}}
    )

    status = wait_for(lambda: at(kube, namespace, "c", 2, "Progressing", "Succeeded"), "run 2", timeout=30)
    assert status["previousRuns"][0]["phase"] == "Succeeded"
    wait_for(lambda: at(kube, namespace, "c", 2, "Succeeded"), "run 2 promoted", timeout=60)
    assert route_weights(kube.virtual_service(namespace), "v2", "v3") == (0, 100)


def test_an_invalid_generation_changes_nothing_and_a_reverted_spec_is_adopted(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: at(kube, namespace, "c", 1, "Progressing"), "run 1 under way", timeout=30)

    kube.patch_experiment(namespace, "c", {"spec": {"strategy": {"canary": {"steps": [50, 20]}}}})

    def reported() -> dict[str, Any] | None:
        status = kube.status(namespace, "c")
        return status if status.get("observedGeneration") == 2 else None

    status = wait_for(reported, "generation 2 observed", timeout=30)
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "run 1 (generation 1) carries on" in ready["message"] and "must increase" in ready["message"]
    assert (status["run"], status["runGeneration"], status["phase"]) == (1, 1, "Progressing")
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)  # untouched

    kube.patch_experiment(namespace, "c", {"spec": {"strategy": {"canary": {"steps": [20, 50]}}}})  # as run 1's

    def adopted() -> dict[str, Any] | None:
        status = kube.status(namespace, "c")
        return status if status.get("runGeneration") == 3 else None

    status = wait_for(adopted, "generation 3 adopted", timeout=30)
    assert status["run"] == 1 and status["phase"] == "Progressing"
    assert condition(status, "Ready")["status"] == "True"


def test_after_a_finished_run_an_invalid_then_reverted_spec_keeps_the_finished_status(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="2s"))
    finished = wait_for(lambda: at(kube, namespace, "c", 1, "Succeeded"), "run 1 promoted", timeout=60)

    kube.patch_experiment(namespace, "c", {"spec": {"strategy": {"canary": {"steps": [50, 20]}}}})
    invalid = wait_for(
        lambda: (s := kube.status(namespace, "c")) and s.get("observedGeneration") == 2 and s, "generation 2 seen"
    )
    assert condition(invalid, "Ready")["reason"] == "InvalidSpec" and invalid["phase"] == "Succeeded"
    kube.patch_experiment(namespace, "c", {"spec": {"strategy": {"canary": {"steps": [20, 50]}}}})

    adopted = wait_for(lambda: (s := kube.status(namespace, "c")) and s.get("runGeneration") == 3 and s, "adopted")
    assert adopted["run"] == 1 and adopted["phase"] == "Succeeded"
    assert adopted["history"] == finished["history"]
    assert condition(adopted, "Ready")["status"] == "True"
    assert route_weights(kube.virtual_service(namespace)) == (0, 100)


def test_retry_runs_a_rolled_back_release_again_and_is_refused_under_way_and_after_a_promotion(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    """A rollback for a cause outside the release (a flaky dependency) is retried without editing the spec."""
    kube.create_istio(namespace)
    source = SyntheticSource(kube, canary_error_rate=0.3)
    start_controller(lambda: source, namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="2s"))
    wait_for(lambda: at(kube, namespace, "c", 1, "RolledBack"), "run 1 rolled back", timeout=60)
    source.canary_error_rate = 0.02  # the dependency is fixed

    command(kube, namespace, "retry")
    status = wait_for(lambda: at(kube, namespace, "c", 2, "Progressing", "Succeeded"), "run 2", timeout=30)
    assert status["previousRuns"][0]["phase"] == "RolledBack" and status["runGeneration"] == 1
    command(kube, namespace, "retry:now")  # under way: nothing to retry
    wait_for(lambda: ignored(kube, namespace, "is under way"), "the retry under way refused", timeout=30)
    wait_for(lambda: at(kube, namespace, "c", 2, "Succeeded"), "run 2 promoted", timeout=60)
    assert route_weights(kube.virtual_service(namespace)) == (0, 100)

    command(kube, namespace, "retry:again")
    wait_for(lambda: ignored(kube, namespace, "a promoted release is not run again"), "refused", timeout=30)
    assert kube.status(namespace, "c")["run"] == 2


def command(kube: Api, namespace: str, value: str) -> None:
    kube.patch_experiment(namespace, "c", {"metadata": {"annotations": {"meshroll.io/command": value}}})


def ignored(kube: Api, namespace: str, why: str) -> bool:
    return any(e["reason"] == "CommandIgnored" and why in e.get("note", "") for e in kube.events(namespace, "c"))
