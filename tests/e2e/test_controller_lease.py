"""Two controller replicas never both act.

Two processes share one Lease. The leader is frozen with SIGSTOP in the middle of a run (a long GC
pause, a partition: the dangerous case, since it wakes up believing it leads); the standby takes
over once the Lease has run out and carries the run on; the frozen one is woken with SIGCONT and
must not write anything: it stopped acting when its renew deadline passed, before the standby could
take the Lease. Every status write carries the writer's identity (``status.controller``) and every
Event its ``reportingInstance``; the test records both all along.

Stage: ``tests/integration/kube/stage.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, experiment, route_weights, wait_for
from tests.integration.kube.process import ControllerProcess
from tests.integration.kube.stage import HEALTHY, Stage, e2e_stage, run_to_the_end
from tests.prometheus.fixture import PrometheusServer

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(500)]


@pytest.fixture(scope="module")
def stage(
    controlplane: ControlPlane, kube: Api, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    with e2e_stage(controlplane, kube, prometheus, tmp_path_factory.mktemp("lease"), "e2e-lease") as ready:
        yield ready


def is_leader(process: ControllerProcess) -> bool:
    code, text = process.get("/metrics")
    return code == 200 and "meshroll_leader 1.0" in text


class Writers(threading.Thread):
    """Records, every 0.1 s, which replica wrote the status last and how long its history was."""

    def __init__(self, api: Api, namespace: str, name: str) -> None:
        super().__init__(daemon=True)
        self.api, self.namespace, self.name = api, namespace, name
        self.seen: list[tuple[float, str, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            with contextlib.suppress(Exception):
                status = self.api.status(self.namespace, self.name)
                if status.get("controller"):
                    entry = (time.monotonic(), status["controller"], len(status.get("history") or ()))
                    if not self.seen or self.seen[-1][1:] != entry[1:]:
                        self.seen.append(entry)


def test_a_frozen_leader_wakes_up_as_a_follower_and_never_writes(stage: Stage) -> None:
    first = stage.controller("replica-a")
    wait_for(lambda: is_leader(first), "replica-a to lead", timeout=30)
    second = stage.controller("replica-b")
    time.sleep(2.0)
    assert not is_leader(second), "two leaders"

    stage.mesh.set_profile("v2", HEALTHY)
    stage.kube.create_experiment(
        experiment(stage.namespace, "leased", steps=(10, 30, 60), interval="3s", max_duration="5m", min_requests=300)
    )
    writers = Writers(stage.kube, stage.namespace, "leased")
    writers.start()
    wait_for(lambda: stage.kube.status(stage.namespace, "leased").get("step", -1) >= 1, "step 2", timeout=120)

    assert first.process is not None
    os.kill(first.process.pid, signal.SIGSTOP)
    frozen_at, frozen_wall = time.monotonic(), time.time()
    try:
        wait_for(lambda: is_leader(second), "replica-b to take over", timeout=30)
        took_over = time.monotonic() - frozen_at
        wait_for(
            lambda: stage.kube.status(stage.namespace, "leased").get("controller") == "replica-b",
            "replica-b to write the status",
            timeout=30,
        )
    finally:
        os.kill(first.process.pid, signal.SIGCONT)
    wait_for(lambda: not is_leader(first), "replica-a to know it is not the leader", timeout=15)
    assert is_leader(second)

    watched = run_to_the_end(stage, "leased", timeout=240)
    writers.done.set()
    writers.join(timeout=5)
    print(f"takeover {took_over:.1f}s after the freeze; status writers in order: {[w[1] for w in writers.seen]}")

    assert watched.status["phase"] == "Succeeded", watched.status["reason"]
    assert route_weights(stage.kube.virtual_service(stage.namespace)) == (0, 100)
    order = [writer for _, writer, _ in writers.seen]
    handover = order.index("replica-b")
    assert set(order[:handover]) == {"replica-a"} and set(order[handover:]) == {"replica-b"}, order
    lengths = [length for _, _, length in writers.seen]
    assert lengths == sorted(lengths), lengths  # no write ever went back in the history
    by_a = [e for e in stage.kube.events(stage.namespace, "leased") if e.get("reportingInstance") == "replica-a"]
    assert by_a and all(_event_time(e) < frozen_wall + 1.0 for e in by_a), [e["reason"] for e in by_a]
    assert watched.status["controller"] == "replica-b"
    assert "replica-a is no longer the leader" in first.log.read_text()

    second.kill(signal.SIGKILL)
    wait_for(lambda: is_leader(first), "replica-a to lead again once replica-b is gone", timeout=30)


def _event_time(event: dict[str, Any]) -> float:
    stamp = str(event["eventTime"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()
