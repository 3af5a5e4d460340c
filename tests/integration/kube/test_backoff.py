"""A failing run is retried after its backoff, against a real API server with the controller in-process.

Every failed attempt writes the Experiment's status (the problem, "retrying in Ns"), which the
watch sees as a MODIFIED event, and the list is read again every second here (a resync): neither
may bring the retry forward. A change the controller acts on (a new spec, a deletion) is
reconciled at once, backoff or not.

Only lower bounds on time are asserted (a retry comes no sooner than its backoff; no attempt in a
window the backoff covers), never how fast something happens: the last backoff (600 s) is far
longer than any wait here, so "at once" just means "within the wait".
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from rollout.kube import controller as controller_module
from rollout.kube.objects import Key
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, gone, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
BACKOFF = (1.0, 2.0, 3.0, 600.0)
QUIET_S = 4.0  # a window within the 600 s backoff, with four resyncs and no attempt


class Attempts:
    """The moments the controller began reconciling a key (monotonic clock, as its work queue's)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def wrap(self, reconcile: Any) -> Any:
        def recorded(key: Key) -> None:
            with self.lock:
                self.times.append(time.monotonic())
            reconcile(key)

        return recorded

    def count(self) -> int:
        with self.lock:
            return len(self.times)


def ready(kube: Api, namespace: str, name: str) -> dict[str, Any]:
    status = kube.status(namespace, name)
    return next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})


def test_a_failing_run_waits_out_its_backoff_and_a_spec_change_supersedes_it_at_once(
    kube: Api, namespace: str, start_controller: ControllerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controller_module, "BACKOFF_S", BACKOFF)
    kube.create_istio(namespace, subsets=("v1", "v3"))  # no subset v2: the canary's first step is refused
    # no Lease: a lost and regained lease would queue every key again, as it should, and blur the count
    controller = start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), watch_timeout_s=1)
    attempts = Attempts()
    monkeypatch.setattr(controller.reconciler, "reconcile", attempts.wrap(controller.reconciler.reconcile))
    kube.create_experiment(experiment(namespace, "c", interval="60s"))

    wait_for(lambda: attempts.count() >= 4, "four attempts", timeout=60)
    wait_for(lambda: "retrying in 600s" in ready(kube, namespace, "c").get("message", ""), "the fourth failure")
    condition = ready(kube, namespace, "c")
    assert condition["reason"] == "MeshError" and "has no subset 'v2'" in condition["message"], condition
    first = attempts.times[:4]
    for backoff, (earlier, later) in zip(BACKOFF, itertools.pairwise(first), strict=False):
        assert later - earlier >= backoff, (backoff, [round(t - first[0], 3) for t in first])
    time.sleep(QUIET_S)  # status writes and resyncs go on; the 600 s backoff holds
    assert attempts.count() == 4, [round(t - first[0], 3) for t in attempts.times]

    edited = time.monotonic()
    kube.patch_experiment(namespace, "c", {"spec": {"target": {"canary": {"version": "v3"}}}})  # generation 2

    wait_for(lambda: attempts.count() >= 5, "the new generation reconciled during the backoff", timeout=60)
    assert attempts.times[4] >= edited
    # run 1 is aborted without re-applying the step the mesh refused, and run 2 (subset v3) starts
    wait_for(lambda: kube.status(namespace, "c").get("run") == 2, "run 2 started", timeout=60)
    wait_for(
        lambda: route_weights(kube.virtual_service(namespace), canary="v3") == (80, 20),
        "run 2's first step",
        timeout=60,
    )
    previous = kube.status(namespace, "c")["previousRuns"]
    assert [(p["run"], p["phase"]) for p in previous] == [(1, "Aborted")], previous
    settled = attempts.count()

    kube.delete_experiment(namespace, "c")

    wait_for(lambda: gone(kube, namespace, "c"), "the deletion reconciled", timeout=60)
    assert attempts.count() > settled
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
