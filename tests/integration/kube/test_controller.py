"""The controller in-process against a real API server, with the real Istio provider and a synthetic
metric source (``helpers.SyntheticSource``): rollback, invalid specs, operator commands, deletion,
a mesh error that is reported and then recovered from, and an abort with the DestinationRule gone."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import pytest

from analysis.observations import MetricPair
from analysis.prometheus import PrometheusConfig, PrometheusSource
from analysis.sources import MetricQuery, StepSpan
from rollout.kube.reconcile import COMMAND_ANNOTATION
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import ISTIO, SERVICE, Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions") or () if c["type"] == kind)


def phase_is(kube: Api, namespace: str, name: str, *phases: str) -> dict[str, Any] | None:
    status = kube.status(namespace, name)
    return status if status.get("phase") in phases and status.get("trafficApplied") else None


def test_an_erroring_canary_is_rolled_back(kube: Api, namespace: str, start_controller: ControllerFactory) -> None:
    kube.create_istio(namespace)
    source = SyntheticSource(kube, canary_error_rate=0.3)
    controller = start_controller(lambda: source, namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "bad"))

    status = wait_for(lambda: phase_is(kube, namespace, "bad", "RolledBack"), "the rollback", timeout=60)

    vs = kube.virtual_service(namespace)
    assert route_weights(vs) == (100, 0)
    assert "meshroll" in {m["manager"] for m in vs["metadata"]["managedFields"]}  # its field manager, for GitOps tools
    assert condition(status, "RolledBack")["status"] == "True"
    assert status["controller"] == "test-0"
    reasons = [e["reason"] for e in kube.events(namespace, "bad")]
    assert {"Started", "TrafficApplied", "RollingBack", "RolledBack"} <= set(reasons)
    assert controller.telemetry.decisions.labels("rollback")._value.get() == 1


def test_an_invalid_spec_changes_nothing_and_says_what_to_fix(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "broken", steps=(50, 20)))  # the schema allows it; the model not

    wait_for(lambda: kube.status(namespace, "broken").get("conditions"), "a reported problem", timeout=30)
    status = kube.status(namespace, "broken")

    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.strategy.canary.steps" in ready["message"] and "must increase" in ready["message"]
    assert condition(status, "Progressing")["reason"] == "InvalidSpec"
    assert status["run"] == 0 and status["observedGeneration"] == 1 and "phase" not in status
    assert kube.virtual_service(namespace)["spec"]["http"][1]["route"] == [
        {"destination": {"host": "checkout", "subset": "v1"}, "weight": 100}
    ]
    assert [e["reason"] for e in kube.events(namespace, "broken")] == ["InvalidSpec"]


def test_operator_commands_through_the_annotation(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the first step", timeout=30)

    def command(value: str) -> None:
        kube.patch_experiment(namespace, "c", {"metadata": {"annotations": {COMMAND_ANNOTATION: value}}})

    command("pause")
    wait_for(lambda: phase_is(kube, namespace, "c", "Paused"), "Paused", timeout=30)
    command("resume")
    status = wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "Progressing again", timeout=30)
    assert status["lastCommand"] == "resume"
    command("abort:because the dashboard looks odd")
    status = wait_for(lambda: phase_is(kube, namespace, "c", "Aborted"), "Aborted", timeout=30)
    assert "abort by annotation meshroll.io/command" in status["reason"]
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    command("resume")
    wait_for(lambda: "CommandIgnored" in [e["reason"] for e in kube.events(namespace, "c")], "a CommandIgnored Event")
    command("launch")
    wait_for(lambda: "UnknownCommand" in [e["reason"] for e in kube.events(namespace, "c")], "an UnknownCommand Event")


def test_the_logs_name_a_command_whose_author_is_not_recorded_one_way(
    kube: Api, namespace: str, start_controller: ControllerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meshroll.kube.reconcile")
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,))
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the first step", timeout=30)
    for value, then in (("abort", "Aborted"), ("retry", "Progressing")):
        kube.patch_experiment(namespace, "c", {"metadata": {"annotations": {COMMAND_ANNOTATION: value}}})
        wait_for(partial(phase_is, kube, namespace, "c", then), then, timeout=30)

    commands = [m for r in caplog.records if r.name == "meshroll.kube.reconcile" and "by " in (m := r.getMessage())]
    assert any("abort (annotation meshroll.io/command, by unknown)" in m for m in commands), commands
    assert any("retry after run 1 ended Aborted (by unknown)" in m for m in commands), commands


def test_deleting_a_running_experiment_routes_all_traffic_back_to_stable(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the first step", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)

    kube.delete_experiment(namespace, "c")

    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (100, 0), "all traffic on stable", timeout=30)


def test_a_missing_virtual_service_is_reported_and_the_run_goes_on_once_it_exists(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))

    def reported() -> dict[str, Any] | None:
        status = kube.status(namespace, "c")
        ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})
        return status if ready.get("reason") == "MeshError" else None

    status = wait_for(reported, "the mesh error in Ready", timeout=30)
    assert "not found" in condition(status, "Ready")["message"]
    assert status["phase"] == "Progressing" and status["trafficApplied"] is False  # the intent, written first
    kube.create_istio(namespace)

    status = wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the intent applied", timeout=60)
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)
    wait_for(lambda: condition(kube.status(namespace, "c"), "Ready")["status"] == "True", "Ready again", timeout=30)
    assert "MeshError" in [e["reason"] for e in kube.events(namespace, "c")]


def test_an_abort_with_the_destination_rule_gone_routes_back_to_stable_and_warns(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))
    wait_for(lambda: phase_is(kube, namespace, "c", "Progressing"), "the first step", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)
    kube.custom.delete_namespaced_custom_object(*ISTIO, namespace, "destinationrules", SERVICE)

    kube.patch_experiment(namespace, "c", {"metadata": {"annotations": {COMMAND_ANNOTATION: "abort"}}})

    status = wait_for(lambda: phase_is(kube, namespace, "c", "Aborted"), "Aborted and applied", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    assert condition(status, "Ready")["status"] == "True"  # a warning, not a problem
    warning = next(e for e in kube.events(namespace, "c") if e["reason"] == "MeshWarning")
    assert warning["type"] == "Warning" and "was not found" in warning["note"] and "restore it" in warning["note"]


def test_a_new_run_moves_no_traffic_while_its_metrics_cannot_be_read(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    """As ``meshroll run`` checks Prometheus before it starts, a new run in the cluster waits for it."""
    kube.create_istio(namespace)
    down = PrometheusConfig("http://127.0.0.1:9", retries=0, timeout=2.0)
    start_controller(lambda: PrometheusSource(down), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="60s"))

    def waiting() -> dict[str, Any] | None:
        conditions = kube.status(namespace, "c").get("conditions") or ()
        ready = next((c for c in conditions if c["type"] == "Ready"), {})
        return ready if ready.get("reason") == "MetricsUnavailable" else None

    ready = wait_for(waiting, "the run held back, saying why", timeout=30)
    assert "refused the connection" in ready["message"] and ready["status"] == "False"
    assert route_weights(kube.virtual_service(namespace)) == (100, 0), "no traffic moved to an unjudged canary"
    assert kube.status(namespace, "c").get("phase") in (None, "Pending")


class HungSource:
    """A metric source that does not answer (a Prometheus stopped mid-query) until it is let go."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.answer = threading.Event()

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        self.asked.set()
        self.answer.wait(60)
        return {}


def test_an_abort_is_not_kept_waiting_by_a_metric_source_that_hangs(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    hung = HungSource()
    start_controller(lambda: hung, namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "c", interval="2s"))
    try:
        assert hung.asked.wait(30), "the step's metrics were asked for"
        asked_at = time.monotonic()
        kube.patch_experiment(namespace, "c", {"metadata": {"annotations": {COMMAND_ANNOTATION: "abort"}}})

        def aborted() -> bool:
            status = kube.status(namespace, "c")
            return status.get("phase") == "Aborted" and bool(status.get("trafficApplied"))

        wait_for(aborted, "the abort, while the source still hangs", timeout=20)
        assert time.monotonic() - asked_at < 20 and not hung.answer.is_set()
        assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    finally:
        hung.answer.set()


def test_a_run_ends_by_its_max_duration_not_a_step_interval_after_it(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace)
    kube.create_experiment(experiment(namespace, "d", steps=(10, 20, 30, 40), interval="4s", max_duration="6s"))

    status = wait_for(lambda: phase_is(kube, namespace, "d", "Inconclusive"), "the deadline", timeout=60)

    ended = status["history"][-1]["time"] if status.get("history") else status["updatedAt"]
    assert 6.0 <= ended - status["startedAt"] < 7.5, "judged at the deadline (6 s), not at the next step (8 s)"
    assert "no decision by maxDuration (6s)" in status["reason"]
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
