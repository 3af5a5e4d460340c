"""``meshroll controller`` end to end: an erroring canary is rolled back, a healthy one promoted.

The stage is ``tests/integration/kube/stage.py``: a real API server, the embedded mesh playing
Istio's data plane by following the VirtualService, a real Prometheus scraping it, and the
controller as a child process running as the Helm chart's ServiceAccount with exactly the chart's
RBAC (so these runs also prove that RBAC is enough).

At every look the test takes while a run goes on, the VirtualService's weights must equal the
weights the Experiment's status records as applied.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, experiment, route_weights, wait_for
from tests.integration.kube.stage import ERRORING, HEALTHY, Stage, condition, e2e_stage, run_to_the_end
from tests.prometheus.fixture import PrometheusServer

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def stage(
    controlplane: ControlPlane, kube: Api, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    with e2e_stage(controlplane, kube, prometheus, tmp_path_factory.mktemp("canary"), "e2e-canary") as ready:
        ready.controller("canary-0")
        yield ready


def test_an_erroring_canary_is_rolled_back_and_the_route_follows_the_status(stage: Stage) -> None:
    stage.mesh.set_profile("v2", ERRORING)
    stage.kube.create_experiment(
        experiment(stage.namespace, "erroring", steps=(20, 50, 80), interval="3s", max_duration="3m")
    )

    watched = run_to_the_end(stage, "erroring")
    status = watched.status
    print(f"erroring canary: {status['phase']} after {watched.seconds:.1f}s, {watched.looks} consistent looks")

    assert status["phase"] == "RolledBack", status["reason"]
    assert status["traffic"]["canaryWeight"] == 0 and status["trafficApplied"]
    assert route_weights(stage.kube.virtual_service(stage.namespace)) == (100, 0)
    assert watched.looks >= 3
    assert condition(status, "RolledBack")["status"] == "True"
    assert condition(status, "Promoted")["status"] == "False"
    assert condition(status, "Ready")["status"] == "True"
    assert status["observedGeneration"] == 1 and status["run"] == 1
    wait_for(lambda: stage.mesh.current_plan.canary_weight == 0, "the data plane back on stable", timeout=10)
    events = stage.kube.events(stage.namespace, "erroring")
    assert {"Started", "RollingBack", "RolledBack"} <= {e["reason"] for e in events}, events
    rollback = next(e for e in events if e["reason"] == "RollingBack")
    assert "error-rate rollback" in rollback["note"] and "n=" in rollback["note"], rollback["note"]


def test_a_healthy_canary_is_promoted_and_the_route_follows_the_status(stage: Stage) -> None:
    stage.mesh.set_profile("v2", HEALTHY)
    stage.kube.create_experiment(
        experiment(stage.namespace, "healthy", steps=(20, 50), interval="3s", max_duration="4m", min_requests=300)
    )

    watched = run_to_the_end(stage, "healthy")
    status = watched.status
    print(f"healthy canary: {status['phase']} after {watched.seconds:.1f}s, {watched.looks} consistent looks")

    assert status["phase"] == "Succeeded", status["reason"]
    assert status["traffic"]["canaryWeight"] == 100 and status["trafficApplied"]
    assert route_weights(stage.kube.virtual_service(stage.namespace)) == (0, 100)
    assert condition(status, "Promoted")["status"] == "True"
    steps = [entry["step"] for entry in status["history"]]
    assert steps == sorted(steps) and max(steps) == 1, steps  # every step, in order
    wait_for(lambda: stage.mesh.current_plan.canary_weight == 100, "the data plane on the canary", timeout=10)
    code, metrics = stage.controllers[0].get("/metrics")
    assert code == 200
    assert 'meshroll_decisions_total{outcome="advance"}' in metrics
    assert 'meshroll_experiment_canary_weight{name="healthy"' in metrics
    assert "meshroll_leader 1.0" in metrics
