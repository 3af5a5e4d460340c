"""meshroll's finalizer end to end: deleting an Experiment always reverts the mesh, and a finished one
goes at once with its routing left as it ended.

- A controller killed with SIGKILL mid-run (canary at 20% and a fault on); the Experiment is deleted
  while no controller runs: it stays, Terminating, held by ``meshroll.io/revert``; the next
  controller routes all traffic back to stable, removes the fault, says so in an Event and its log,
  and lets the Experiment go.
- A promoted Experiment has dropped the finalizer: its deletion is immediate, and the controller
  that sees it leaves the promoted routing alone.

Stage: ``tests/integration/kube/stage.py`` (real API server, embedded mesh following the
VirtualService, real Prometheus, controller child processes with the chart's RBAC: these runs also
prove the chart grants what the finalizer needs).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, experiment, route_weights, wait_for
from tests.integration.kube.stage import HEALTHY, Stage, e2e_stage, run_to_the_end
from tests.prometheus.fixture import PrometheusServer

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(400)]
FINALIZER = "meshroll.io/revert"


@pytest.fixture(scope="module")
def stage(
    controlplane: ControlPlane, kube: Api, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    with e2e_stage(controlplane, kube, prometheus, tmp_path_factory.mktemp("finalizer"), "e2e-finalizer") as ready:
        yield ready


def faults_in(vs: dict[str, Any]) -> list[str]:
    routes = vs["spec"]["http"]
    return [str(r.get("name")) for r in routes if "fault" in r or str(r.get("name", "")).startswith("meshroll-fault-")]


def current(stage: Stage, name: str) -> dict[str, Any] | None:
    """The Experiment, or None once it is gone."""
    try:
        return stage.kube.experiment(stage.namespace, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_sigkill_mid_run_then_deletion_the_next_controller_reverts_the_mesh_and_lets_it_go(stage: Stage) -> None:
    stage.mesh.set_profile("v2", HEALTHY)
    body = experiment(stage.namespace, "midrun", steps=(20, 50), interval="60s", max_duration="5m")
    body["spec"]["chaos"] = {"faults": [{"abort": {"httpStatus": 503, "percent": 1}, "arm": "both"}]}
    stage.kube.create_experiment(body)
    controller = stage.controller("finalizer-0")

    def mid_run() -> bool:
        vs = stage.kube.virtual_service(stage.namespace)
        return route_weights(vs) == (80, 20) and faults_in(vs) == ["primary"]

    wait_for(mid_run, "the canary at 20% with its fault in the mesh", timeout=90)
    assert FINALIZER in (current(stage, "midrun") or {})["metadata"]["finalizers"]
    controller.kill(signal.SIGKILL)

    stage.kube.delete_experiment(stage.namespace, "midrun")  # nobody is running to revert it

    held = current(stage, "midrun")
    assert held is not None, "the finalizer keeps a deleted Experiment until the mesh is reverted"
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == [FINALIZER]
    assert mid_run(), "nothing has reverted the mesh yet"

    stage.controller("finalizer-1")

    wait_for(lambda: current(stage, "midrun") is None, "the Experiment gone", timeout=90)
    vs = stage.kube.virtual_service(stage.namespace)
    assert route_weights(vs) == (100, 0)
    assert faults_in(vs) == []
    annotations = vs["metadata"].get("annotations") or {}
    assert "meshroll.io/owned-fields" not in annotations or "fault" not in annotations["meshroll.io/owned-fields"]
    reverted = next(e for e in stage.kube.events(stage.namespace, "midrun") if e["reason"] == "Reverted")
    assert "canary 20%" in reverted["note"] and "back to stable" in reverted["note"], reverted["note"]
    assert reverted["reportingInstance"] == "finalizer-1"
    assert "routing all traffic back to stable" in stage.controllers[-1].log_tail(200), stage.logs()
    wait_for(lambda: stage.mesh.current_plan.canary_weight == 0, "the data plane back on stable", timeout=10)


def test_a_promoted_experiment_is_deleted_at_once_and_its_routing_is_left_alone(stage: Stage) -> None:
    stage.mesh.set_profile("v2", HEALTHY)
    if not any(c.running for c in stage.controllers):
        stage.controller("finalizer-2")
    stage.kube.create_experiment(
        experiment(stage.namespace, "promoted", steps=(20, 50), interval="3s", max_duration="4m", min_requests=300)
    )
    status = run_to_the_end(stage, "promoted").status
    assert status["phase"] == "Succeeded", status["reason"]
    assert route_weights(stage.kube.virtual_service(stage.namespace)) == (0, 100)
    wait_for(lambda: not (current(stage, "promoted") or {})["metadata"].get("finalizers"), "the finalizer dropped")

    stage.kube.delete_experiment(stage.namespace, "promoted")

    assert current(stage, "promoted") is None  # at once: nothing holds it
    # A barrier: the controller takes keys in the order it sees them, so once it has reported this
    # invalid Experiment (created after the deletion), it has handled the deletion.
    stage.kube.create_experiment(experiment(stage.namespace, "barrier", steps=(50, 20)))
    wait_for(lambda: "InvalidSpec" in [e["reason"] for e in stage.kube.events(stage.namespace, "barrier")], "barrier")
    assert route_weights(stage.kube.virtual_service(stage.namespace)) == (0, 100)
    assert stage.mesh.current_plan.canary_weight == 100
    reasons = {e["reason"] for e in stage.kube.events(stage.namespace, "promoted")}
    assert not reasons & {"Reverted", "NotReverted", "RevertFailed"}, reasons
