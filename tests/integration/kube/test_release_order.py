"""``spec.after`` against a real API server: B after A waits (Ready False, Waiting, one Normal Event)
while A runs and starts as soon as A is promoted (woken, not at the next re-list: the re-list here
comes only every 60 s); with A rolled back B stays DependencyFailed until a new run of A succeeds; a
cycle is reported and nothing starts; a missing dependency created later unblocks; one waiting for
its dependencies holds no place in the run queue.

Each Experiment has a namespace (and a VirtualService) of its own, so no route is shared. Waits are
bounded; the one bound that matters (B starts well before a re-list) is far from any real timing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from analysis.observations import MetricPair
from analysis.sources import MetricQuery, StepSpan
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(240)]
Obj = dict[str, Any]
RESYNC_S = 60  # the watch's re-list: far later than any wake


class NoData:
    """Nothing to judge: with steps of minutes a run stays at its first step while a test acts."""

    def collect(self, span: StepSpan, metrics: list[MetricQuery]) -> dict[str, MetricPair]:
        return {}


def ready(status: Mapping[str, Any]) -> Obj:
    return next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})


def stage(controlplane: ControlPlane, kube: Api, count: int) -> list[str]:
    namespaces = [controlplane.create_namespace("order") for _ in range(count)]
    for namespace in namespaces:
        kube.create_istio(namespace)
    return namespaces


def after(body: Obj, *refs: tuple[str, str]) -> Obj:
    body["spec"]["after"] = [{"namespace": ns, "name": name} for ns, name in refs]
    return body


def events(kube: Api, namespace: str, name: str, reason: str) -> list[Obj]:
    return [e for e in kube.events(namespace, name) if e["reason"] == reason]


def reason_is(kube: Api, namespace: str, name: str, reason: str) -> bool:
    return ready(kube.status(namespace, name)).get("reason") == reason


def command(kube: Api, namespace: str, name: str, value: str) -> None:
    kube.patch_experiment(namespace, name, {"metadata": {"annotations": {"meshroll.io/command": value}}})


def promoted(kube: Api, namespace: str, name: str) -> bool:
    status = kube.status(namespace, name)
    return status.get("phase") == "Succeeded" and bool(status.get("trafficApplied"))


def test_b_waits_while_a_runs_and_starts_when_a_is_promoted_without_waiting_for_a_resync(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    ns_a, ns_b = stage(controlplane, kube, 2)
    start_controller(NoData, namespaces=(ns_a, ns_b), lease_namespace=ns_a, watch_timeout_s=RESYNC_S)
    kube.create_experiment(experiment(ns_a, "a", interval="120s"))
    wait_for(lambda: kube.status(ns_a, "a").get("trafficApplied"), "a's first step", timeout=30)
    kube.create_experiment(after(experiment(ns_b, "b", interval="120s"), (ns_a, "a")))
    wait_for(lambda: reason_is(kube, ns_b, "b", "Waiting"), "b waiting", timeout=30)

    condition = ready(kube.status(ns_b, "b"))
    assert condition["status"] == "False"
    assert f"waiting for {ns_a}/a: run 1 Progressing at 20%" in condition["message"], condition
    assert kube.status(ns_b, "b").get("run", 0) == 0
    assert route_weights(kube.virtual_service(ns_b)) == (100, 0)
    time.sleep(1)
    [event] = events(kube, ns_b, "b", "Waiting")
    assert event["type"] == "Normal" and f"{ns_a}/a: run 1 Progressing" in event["note"]

    command(kube, ns_a, "a", "promote")
    wait_for(lambda: promoted(kube, ns_a, "a"), "a promoted", timeout=30)
    promoted_at = time.monotonic()
    wait_for(lambda: kube.status(ns_b, "b").get("run") == 1, "b started", timeout=RESYNC_S / 3)
    took = time.monotonic() - promoted_at
    print(f"b started {took:.2f}s after a was promoted (the re-list comes every {RESYNC_S}s)")
    wait_for(lambda: kube.status(ns_b, "b").get("trafficApplied"), "b's first step", timeout=30)
    assert route_weights(kube.virtual_service(ns_b)) == (80, 20)
    assert ready(kube.status(ns_b, "b"))["reason"] == "TrafficApplied"
    assert len(events(kube, ns_b, "b", "Waiting")) == 1


def test_with_a_rolled_back_b_stays_dependency_failed_until_a_new_run_of_a_succeeds(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    ns_a, ns_b = stage(controlplane, kube, 2)
    source = SyntheticSource(kube, canary_error_rate=0.3)
    start_controller(lambda: source, namespaces=(ns_a, ns_b), lease_namespace=ns_a, watch_timeout_s=RESYNC_S)
    kube.create_experiment(after(experiment(ns_b, "b", interval="120s"), (ns_a, "a")))
    kube.create_experiment(experiment(ns_a, "a", interval="2s"))
    wait_for(lambda: kube.status(ns_a, "a").get("phase") == "RolledBack", "a rolled back", timeout=60)
    wait_for(lambda: reason_is(kube, ns_b, "b", "DependencyFailed"), "b refused", timeout=RESYNC_S / 3)

    message = ready(kube.status(ns_b, "b"))["message"]
    assert f"{ns_a}/a: run 1 RolledBack" in message, message
    [warning] = events(kube, ns_b, "b", "DependencyFailed")
    assert warning["type"] == "Warning" and f"{ns_a}/a: run 1 RolledBack" in warning["note"]
    time.sleep(3)
    assert kube.status(ns_b, "b").get("run", 0) == 0 and reason_is(kube, ns_b, "b", "DependencyFailed")

    source.canary_error_rate = 0.02  # a fixed canary, released again
    kube.patch_experiment(ns_a, "a", {"spec": {"target": {"canary": {"version": "v3"}}}})
    wait_for(lambda: kube.status(ns_a, "a").get("run") == 2, "a's run 2", timeout=30)
    wait_for(lambda: promoted(kube, ns_a, "a"), "a's run 2 promoted", timeout=90)
    wait_for(lambda: kube.status(ns_b, "b").get("run") == 1, "b started", timeout=RESYNC_S / 3)
    assert len(events(kube, ns_b, "b", "DependencyFailed")) == 1


def test_a_cycle_is_reported_and_nothing_starts_until_it_is_broken(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    ns_a, ns_b, ns_c = stage(controlplane, kube, 3)
    start_controller(NoData, namespaces=(ns_a, ns_b, ns_c), lease_namespace=ns_a, watch_timeout_s=RESYNC_S)
    kube.create_experiment(after(experiment(ns_a, "a", interval="120s"), (ns_c, "c")))
    kube.create_experiment(after(experiment(ns_b, "b", interval="120s"), (ns_a, "a")))
    kube.create_experiment(after(experiment(ns_c, "c", interval="120s"), (ns_b, "b")))
    for ns, name in ((ns_a, "a"), (ns_b, "b"), (ns_c, "c")):
        wait_for(lambda n=ns, m=name: reason_is(kube, n, m, "DependencyCycle"), f"{name}'s cycle", timeout=30)
    message = ready(kube.status(ns_a, "a"))["message"]
    assert f"dependency cycle: {ns_a}/a -> {ns_c}/c -> {ns_b}/b -> {ns_a}/a" in message, message
    for ns, name in ((ns_a, "a"), (ns_b, "b"), (ns_c, "c")):
        assert kube.status(ns, name).get("run", 0) == 0
        [warning] = events(kube, ns, name, "DependencyCycle")
        assert warning["type"] == "Warning"

    kube.patch_experiment(ns_a, "a", {"spec": {"after": []}})  # a goes first
    wait_for(lambda: kube.status(ns_a, "a").get("trafficApplied"), "a started", timeout=30)
    wait_for(lambda: reason_is(kube, ns_c, "c", "Waiting"), "c waits for b", timeout=RESYNC_S / 3)
    # c may turn Waiting before b leaves DependencyCycle; b's move then updates c's message
    wait_for(
        lambda: f"{ns_b}/b: no run yet (Waiting)" in ready(kube.status(ns_c, "c"))["message"],
        "c's message naming b as Waiting",
        timeout=RESYNC_S / 3,
    )
    assert reason_is(kube, ns_b, "b", "Waiting")
    assert kube.status(ns_b, "b").get("run", 0) == 0 and kube.status(ns_c, "c").get("run", 0) == 0


def test_a_missing_dependency_created_later_unblocks(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    ns_a, ns_b = stage(controlplane, kube, 2)
    start_controller(NoData, namespaces=(ns_a, ns_b), lease_namespace=ns_a, watch_timeout_s=RESYNC_S)
    kube.create_experiment(after(experiment(ns_b, "b", interval="120s"), (ns_a, "a")))
    wait_for(lambda: reason_is(kube, ns_b, "b", "Waiting"), "b waiting", timeout=30)
    assert f"{ns_a}/a: does not exist (yet)" in ready(kube.status(ns_b, "b"))["message"]

    kube.create_experiment(experiment(ns_a, "a", interval="120s"))
    wait_for(
        lambda: f"{ns_a}/a: run 1 Progressing" in ready(kube.status(ns_b, "b"))["message"],
        "b's message following a (woken by a's creation and start)",
        timeout=RESYNC_S / 3,
    )
    command(kube, ns_a, "a", "promote")
    wait_for(lambda: kube.status(ns_b, "b").get("trafficApplied"), "b started", timeout=RESYNC_S / 3)
    assert len(events(kube, ns_b, "b", "Waiting")) == 1


def test_one_waiting_for_its_dependencies_holds_no_place_in_the_run_queue(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    ns_a, ns_b, ns_c = stage(controlplane, kube, 3)
    options: Obj = {"namespaces": (ns_a, ns_b, ns_c), "lease_namespace": ns_a, "max_concurrent_runs": 1}
    start_controller(NoData, watch_timeout_s=RESYNC_S, **options)
    kube.create_experiment(experiment(ns_a, "a", interval="120s"))
    wait_for(lambda: kube.status(ns_a, "a").get("trafficApplied"), "a's first step", timeout=30)
    kube.create_experiment(after(experiment(ns_b, "b", interval="120s"), (ns_a, "a")))
    wait_for(lambda: reason_is(kube, ns_b, "b", "Waiting"), "b waiting", timeout=30)
    time.sleep(1.1)  # creation times are to the second
    kube.create_experiment(experiment(ns_c, "c", interval="120s"))
    wait_for(lambda: reason_is(kube, ns_c, "c", "Queued"), "c queued", timeout=30)
    message = ready(kube.status(ns_c, "c"))["message"]
    assert "1 run is under way and the limit is 1" in message, message
    assert "queuedGeneration" not in kube.status(ns_b, "b")
