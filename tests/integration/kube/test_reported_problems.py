"""What the controller does and says when it cannot run an Experiment as written, on a real API server:
a mesh write refused for a while, a mesh error that repeats, a controller without Prometheus, and a
spec for the embedded mesh. Only lower bounds on time are asserted, never how fast anything happens."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rollout.cli.controller_commands import _source_factory
from rollout.cli.prometheus_options import PrometheusAccess
from rollout.kube import controller as controller_module
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import ISTIO, SERVICE, Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
OBSERVATIONS = ("judged", "no-data", "metrics-unavailable")


def ready(kube: Api, namespace: str, name: str) -> dict[str, Any]:
    status = kube.status(namespace, name)
    return next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})


def add_subset(kube: Api, namespace: str, subset: str) -> None:
    rule = kube.custom.get_namespaced_custom_object(*ISTIO, namespace, "destinationrules", SERVICE)
    rule["spec"]["subsets"].append({"name": subset, "labels": {"version": subset}})
    kube.custom.replace_namespaced_custom_object(*ISTIO, namespace, "destinationrules", SERVICE, rule)


def test_a_step_whose_write_was_refused_a_while_is_judged_a_whole_step_after_the_mesh_took_it(
    controlplane: ControlPlane,
    kube: Api,
    namespace: str,
    start_controller: ControllerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(controller_module, "BACKOFF_S", (1.0,))
    kube.create_istio(namespace, subsets=("v1",))  # no subset v2: the first step's write is refused
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,))
    interval = 4.0
    kube.create_experiment(experiment(namespace, "c", interval=f"{interval:.0f}s"))
    wait_for(lambda: ready(kube, namespace, "c").get("reason") == "MeshError", "the refused write reported")
    row = controlplane.kubectl("get", "experiments", "-n", namespace, "-o", "wide").stdout.split("\n")[1].split()
    assert row[1:6] == ["MeshError", "Progressing", "1", "0", "20"]  # the mesh holds none of the 20 % the run wants
    time.sleep(interval + 1)  # the step, counted from its intent, would be due by now
    add_subset(kube, namespace, "v2")

    def first_observation() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        """(the intent, when the mesh took it, the first observation after that), once there is one."""
        history = kube.status(namespace, "c").get("history") or []
        taken = next((i for i, e in enumerate(history) if e["event"]["type"] == "applied"), None)
        later = [e for e in history[taken or 0 :] if e["event"]["type"] in OBSERVATIONS] if taken else []
        return (history[0], history[taken], later[0]) if taken and later else None

    intent, taken, observed = wait_for(first_observation, "the first observation after the write", timeout=60)
    assert taken["time"] - intent["time"] > interval  # the write landed more than a step after the intent
    assert observed["time"] - taken["time"] >= interval, "judged a whole step after the mesh took the weights"


def test_a_mesh_error_that_repeats_is_one_event_whose_count_grows(
    kube: Api, namespace: str, start_controller: ControllerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controller_module, "BACKOFF_S", (1.0, 2.0, 3.0, 4.0, 600.0))
    kube.create_istio(namespace, subsets=("v1",))  # no subset v2: every retry fails the same way
    controller = start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,))
    kube.create_experiment(experiment(namespace, "c", interval="60s"))

    wait_for(lambda: "retrying in 600s" in ready(kube, namespace, "c").get("message", ""), "the fifth failure")
    controller.stop()  # writes the repeats counted since the Event was posted

    errors = [e for e in kube.events(namespace, "c") if e["reason"] == "MeshError"]
    assert len(errors) == 1, [e["note"] for e in errors]
    (event,) = errors
    assert event["type"] == "Warning" and "has no subset 'v2'" in event["note"]
    assert "retrying" not in event["note"]
    assert event["series"]["count"] == 5


def test_a_controller_without_prometheus_starts_no_run_whose_metrics_come_from_it(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    without = _source_factory(None, PrometheusAccess())  # what `meshroll controller` builds without --prometheus
    start_controller(without, namespaces=(namespace,))
    kube.create_experiment(experiment(namespace, "c", interval="2s"))

    wait_for(lambda: ready(kube, namespace, "c").get("reason"), "the Experiment reconciled")
    time.sleep(3)  # a step interval and more: still nothing moved
    assert route_weights(kube.virtual_service(namespace)) == (100, 0), "no traffic moved to a canary never judged"
    condition = ready(kube, namespace, "c")
    assert (condition["status"], condition["reason"]) == ("False", "NoPrometheus")
    assert "--prometheus" in condition["message"] and "prometheus.url" in condition["message"]
    assert kube.status(namespace, "c").get("phase") in (None, "Pending")
    assert [e["reason"] for e in kube.events(namespace, "c")] == ["NoPrometheus"]


def test_provider_local_in_a_cluster_is_an_invalid_spec_and_is_not_retried(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), watch_timeout_s=1)
    local = experiment(namespace, "c")
    local["spec"]["mesh"] = {"provider": "local"}
    kube.create_experiment(local)

    wait_for(lambda: ready(kube, namespace, "c").get("reason"), "the Experiment reconciled")
    time.sleep(3)  # three re-lists: none retries it
    condition = ready(kube, namespace, "c")
    assert (condition["reason"], condition["status"]) == ("InvalidSpec", "False"), condition["message"]
    assert "retrying" not in condition["message"]
    assert "spec.mesh.provider: 'local' is the embedded mesh" in condition["message"]
    assert "`meshroll run`" in condition["message"] and "istio, gateway-api or smi" in condition["message"]
    reasons = {e["reason"] for e in kube.events(namespace, "c")}
    assert reasons == {"InvalidSpec"}, reasons
