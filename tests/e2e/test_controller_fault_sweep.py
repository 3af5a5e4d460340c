"""A controller killed with SIGKILL while a fault is active: the experiment is deleted while no
controller runs, and forced out (its finalizer removed by hand, so nothing reverts it), and the next
controller's start-up sweep removes the orphan fault from the mesh. (Deleted without forcing, the
finalizer keeps it until the next controller reverts it: ``test_controller_finalizer.py``.)

Stage: ``tests/integration/kube/stage.py`` (real API server, embedded mesh following the
VirtualService, real Prometheus, controller child processes with the chart's RBAC).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, experiment, wait_for
from tests.integration.kube.stage import HEALTHY, Stage, e2e_stage
from tests.prometheus.fixture import PrometheusServer

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stage(
    controlplane: ControlPlane, kube: Api, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    with e2e_stage(controlplane, kube, prometheus, tmp_path_factory.mktemp("sweep"), "e2e-sweep") as ready:
        yield ready


def faults_in(vs: dict[str, Any]) -> list[str]:
    routes = vs["spec"]["http"]
    return [str(r.get("name")) for r in routes if "fault" in r or str(r.get("name", "")).startswith("meshroll-fault-")]


def experiments(stage: Stage) -> list[dict[str, Any]]:
    listed = stage.kube.custom.list_namespaced_custom_object("meshroll.io", "v1alpha1", stage.namespace, "experiments")
    return list(listed["items"])


def test_sigkill_with_a_fault_on_then_the_start_up_sweep_removes_it(stage: Stage) -> None:
    stage.mesh.set_profile("v2", HEALTHY)
    body = experiment(stage.namespace, "faulty", steps=(20, 50), interval="30s", max_duration="5m")
    body["spec"]["chaos"] = {"faults": [{"abort": {"httpStatus": 503, "percent": 1}, "arm": "both"}]}
    stage.kube.create_experiment(body)
    controller = stage.controller("sweep-0")
    wait_for(lambda: faults_in(stage.kube.virtual_service(stage.namespace)) != [], "the fault in the mesh", timeout=90)
    controller.kill(signal.SIGKILL)
    assert faults_in(stage.kube.virtual_service(stage.namespace)) == ["primary"], "the fault outlives the controller"

    stage.kube.delete_experiment(stage.namespace, "faulty")  # nobody is running to clean up after it
    stage.kube.patch_experiment(stage.namespace, "faulty", {"metadata": {"finalizers": None}})  # forced out
    wait_for(lambda: not any(i["metadata"]["name"] == "faulty" for i in experiments(stage)), "the Experiment gone")
    stage.controller("sweep-1")

    wait_for(lambda: faults_in(stage.kube.virtual_service(stage.namespace)) == [], "the sweep", timeout=90)
    vs = stage.kube.virtual_service(stage.namespace)
    annotations = vs["metadata"].get("annotations") or {}
    assert "meshroll.io/owned-fields" not in annotations or "fault" not in annotations["meshroll.io/owned-fields"]
    assert "swept orphan fault" in stage.logs()
