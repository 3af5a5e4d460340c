"""A controller killed with SIGKILL in the middle of a step, twice, and started again: the run goes on
from its status and ends correctly, and the route matches the status at every look.

Stage: ``tests/integration/kube/stage.py`` (real API server, embedded mesh following the
VirtualService, real Prometheus, controller child processes with the chart's RBAC). A new process
has a new identity, so it waits for the killed one's Lease to run out (4 s here) before it acts.
"""

from __future__ import annotations

import itertools
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, experiment, route_weights, wait_for
from tests.integration.kube.stage import HEALTHY, Stage, condition, e2e_stage, run_to_the_end
from tests.prometheus.fixture import PrometheusServer

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(500)]


@pytest.fixture(scope="module")
def stage(
    controlplane: ControlPlane, kube: Api, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    with e2e_stage(controlplane, kube, prometheus, tmp_path_factory.mktemp("restart"), "e2e-restart") as ready:
        yield ready


def mesh_holds_a_recorded_state(stage: Stage, status: dict[str, Any]) -> None:
    """Invariant 1 at the moment of a kill: the VirtualService holds the recorded traffic, or, while an
    intent was being applied, the traffic recorded just before it."""
    canary = route_weights(stage.kube.virtual_service(stage.namespace))[1]
    recorded = {int(status["traffic"]["canaryWeight"])}
    if not status["trafficApplied"] and len(status["history"]) >= 2:
        recorded.add(int(status["history"][-2]["traffic"]["canaryWeight"]))
    assert canary in recorded, (canary, status["traffic"], status["trafficApplied"])


def test_sigkill_mid_step_then_restart_resumes_from_the_status(stage: Stage) -> None:
    rng = random.Random(20261122)
    stage.mesh.set_profile("v2", HEALTHY)
    stage.kube.create_experiment(
        experiment(
            stage.namespace, "restarted", steps=(10, 30, 60, 80), interval="3s", max_duration="5m", min_requests=300
        )
    )
    began = time.monotonic()
    identity = 0
    kills: list[dict[str, Any]] = []
    for wanted_step in (1, 2):
        controller = stage.controller(f"restart-{identity}")
        identity += 1
        wait_for(
            lambda step=wanted_step: stage.kube.status(stage.namespace, "restarted").get("step", -1) >= step,
            f"step {wanted_step + 1}",
            timeout=150,
        )
        time.sleep(rng.uniform(0.2, 2.8))  # somewhere in the middle of the step
        controller.kill(signal.SIGKILL)
        status = stage.kube.status(stage.namespace, "restarted")
        kills.append(status)
        assert status["phase"] == "Progressing", status["reason"]
        mesh_holds_a_recorded_state(stage, status)
    stage.controller(f"restart-{identity}")

    watched = run_to_the_end(stage, "restarted", timeout=240)
    status = watched.status
    took = time.monotonic() - began
    print(f"killed twice (at steps {[k['step'] + 1 for k in kills]}); {status['phase']} after {took:.1f}s")

    assert status["phase"] == "Succeeded", status["reason"]
    assert status["traffic"]["canaryWeight"] == 100 and status["trafficApplied"]
    assert route_weights(stage.kube.virtual_service(stage.namespace)) == (0, 100)
    assert condition(status, "Promoted")["status"] == "True"
    history = status["history"]
    assert [e["event"]["type"] for e in history].count("start") == 1  # resumed, never restarted
    steps = [e["step"] for e in history]
    trail = [
        (e["step"], e["event"]["type"], e["toPhase"], e["traffic"]["canaryWeight"], e["reason"][:60]) for e in history
    ]
    assert steps == sorted(steps) and set(steps) == {0, 1, 2, 3}, trail
    for before, after in itertools.pairwise(kills):
        assert after["history"][: len(before["history"])] == before["history"]  # nothing recorded was lost
    assert status["run"] == 1
    assert status["controller"] == f"restart-{identity}"
    resumed = "\n".join(c.log.read_text() for c in stage.controllers[1:])
    assert "re-collected" in resumed, resumed[-2000:]  # Prometheus still has the windows: no evidence lost
