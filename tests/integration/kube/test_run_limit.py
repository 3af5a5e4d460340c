"""``--max-concurrent-runs`` against a real API server: at most N runs under way at once (a monitor
samples every status the whole time), the others queued first come first served with Ready False
(reason Queued) and one Queued Event, started as runs end or are deleted; a superseded run keeps its
slot; a new leader counts the runs the statuses record; 0 is no limit.

Each Experiment has a namespace (and a VirtualService) of its own, so no route is shared: the only
thing that makes them wait is the limit. No timing is asserted; waits are bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from analysis.observations import MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.crd import GROUP, PLURAL, VERSION
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(240)]
TERMINAL = ("Succeeded", "RolledBack", "Aborted", "Inconclusive")
Obj = dict[str, Any]


class NoData:
    """Nothing to judge: with steps of minutes a run stays at its first step while a test acts."""

    def collect(self, span: StepSpan, metrics: list[MetricQuery]) -> dict[str, MetricPair]:
        return {}


def under_way(status: Mapping[str, Any]) -> bool:
    return bool(status.get("run")) and not (status.get("phase") in TERMINAL and status.get("trafficApplied"))


def ready(status: Mapping[str, Any]) -> Obj:
    return next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})


def statuses(kube: Api, namespaces: list[str]) -> dict[str, Obj]:
    """Every Experiment's status, from one list across the namespaces (a consistent snapshot)."""
    found = kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
    return {i["metadata"]["name"]: i.get("status") or {} for i in found if i["metadata"]["namespace"] in namespaces}


@dataclass
class Seen:
    most: int = 0  # runs under way at once, at most
    polls: int = 0
    queued: set[str] = field(default_factory=set)  # ever seen with Ready reason Queued
    messages: dict[str, str] = field(default_factory=dict)


@contextmanager
def monitor(kube: Api, namespaces: list[str]) -> Iterator[Seen]:
    seen = Seen()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            found = statuses(kube, namespaces)
            seen.most = max(seen.most, sum(1 for s in found.values() if under_way(s)))
            for name, status in found.items():
                if ready(status).get("reason") == "Queued":
                    seen.queued.add(name)
                    seen.messages.setdefault(name, ready(status)["message"])
            seen.polls += 1
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)


def stage(controlplane: ControlPlane, kube: Api, count: int) -> list[str]:
    """``count`` namespaces, each with the Istio objects of one Experiment."""
    namespaces = [controlplane.create_namespace("cap") for _ in range(count)]
    for namespace in namespaces:
        kube.create_istio(namespace)
    return namespaces


def queued_events(kube: Api, namespace: str, name: str) -> list[Obj]:
    return [e for e in kube.events(namespace, name) if e["reason"] == "Queued"]


def test_five_experiments_with_a_limit_of_two_run_two_at_a_time_first_come_first_served(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    namespaces = stage(controlplane, kube, 5)
    names = ["e4", "e3", "e2", "e1", "e0"]  # created in this order: first come is not first by name
    start_controller(
        lambda: SyntheticSource(kube),
        namespaces=tuple(namespaces),
        lease_namespace=namespaces[0],
        reconcile_workers=4,
        max_concurrent_runs=2,
    )
    with monitor(kube, namespaces) as seen:
        for namespace, name in zip(namespaces, names, strict=True):
            kube.create_experiment(experiment(namespace, name, interval="2s"))
            time.sleep(1.1)  # creation times are to the second
        wait_for(
            lambda: (
                all(
                    s.get("phase") == "Succeeded" and s.get("trafficApplied")
                    for s in statuses(kube, namespaces).values()
                )
                and len(statuses(kube, namespaces)) == 5
            ),
            "all five promoted",
            timeout=180,
        )

    assert seen.polls > 50 and seen.most == 2, seen
    found = statuses(kube, namespaces)
    assert sorted(found, key=lambda name: found[name]["startedAt"]) == names  # first come, first served
    assert seen.queued >= {"e2", "e1", "e0"}, seen.queued  # the first two started at once, the others waited
    assert "e4" not in seen.queued and "e3" not in seen.queued
    assert "runs are under way and the limit is 2" in seen.messages["e0"]
    assert "--max-concurrent-runs" in seen.messages["e0"] and "maxConcurrentRuns" in seen.messages["e0"]
    for namespace, name in zip(namespaces, names, strict=True):
        assert route_weights(kube.virtual_service(namespace)) == (0, 100)
        events = queued_events(kube, namespace, name)
        assert len(events) == (1 if name in seen.queued else 0), (name, events)
        assert all(e["type"] == "Normal" for e in events)
        assert found[name]["run"] == 1 and "queuedGeneration" not in found[name]


def test_a_deleted_running_experiment_frees_its_slot_and_a_superseded_run_keeps_its_own(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    namespaces = stage(controlplane, kube, 3)
    start_controller(NoData, namespaces=tuple(namespaces), lease_namespace=namespaces[0], max_concurrent_runs=1)
    kube.create_experiment(experiment(namespaces[0], "a", interval="120s"))
    wait_for(lambda: kube.status(namespaces[0], "a").get("trafficApplied"), "a's first step", timeout=30)
    kube.create_experiment(experiment(namespaces[1], "b", interval="120s"))
    time.sleep(1.1)
    kube.create_experiment(experiment(namespaces[2], "c", interval="120s"))
    for namespace, name in ((namespaces[1], "b"), (namespaces[2], "c")):
        wait_for(lambda n=namespace, m=name: ready(kube.status(n, m)).get("reason") == "Queued", f"{name} queued")
    message = ready(kube.status(namespaces[2], "c"))["message"]
    assert "1 run is under way and the limit is 1" in message and "first come first served" in message
    assert f"the slots are held by {namespaces[0]}/a." in message  # who to wait for, or to abort
    [event] = queued_events(kube, namespaces[2], "c")
    assert f"the slots are held by {namespaces[0]}/a." in event["note"]

    kube.patch_experiment(namespaces[0], "a", {"spec": {"strategy": {"canary": {"steps": [30, 60]}}}})
    wait_for(lambda: kube.status(namespaces[0], "a").get("run") == 2, "a's next generation running", timeout=30)
    wait_for(lambda: kube.status(namespaces[0], "a").get("trafficApplied"), "a's run 2 at its first step")
    assert route_weights(kube.virtual_service(namespaces[0])) == (70, 30)
    assert kube.status(namespaces[1], "b").get("run", 0) == 0  # the slot stayed a's

    kube.delete_experiment(namespaces[0], "a")
    wait_for(lambda: kube.status(namespaces[1], "b").get("trafficApplied"), "b started in a's slot", timeout=30)
    assert route_weights(kube.virtual_service(namespaces[0])) == (100, 0)  # a reverted
    assert ready(kube.status(namespaces[2], "c")).get("reason") == "Queued"


def test_a_new_leader_counts_the_runs_the_statuses_record(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory
) -> None:
    namespaces = stage(controlplane, kube, 2)
    options = {"namespaces": tuple(namespaces), "lease_namespace": namespaces[0], "max_concurrent_runs": 1}
    first = start_controller(NoData, identity="first", **options)
    kube.create_experiment(experiment(namespaces[0], "a", interval="120s"))
    wait_for(lambda: kube.status(namespaces[0], "a").get("trafficApplied"), "a's first step", timeout=30)
    kube.create_experiment(experiment(namespaces[1], "b", interval="120s"))
    wait_for(lambda: ready(kube.status(namespaces[1], "b")).get("reason") == "Queued", "b queued")

    first.stop()  # releases the Lease
    second = start_controller(NoData, identity="second", **options)
    wait_for(lambda: [key.name for key in second.runs] == ["a"], "a resumed by the new leader")
    time.sleep(2)  # b has been reconciled by the new leader meanwhile (it queues every key when it leads)
    assert kube.status(namespaces[1], "b").get("run", 0) == 0
    assert ready(kube.status(namespaces[1], "b")).get("reason") == "Queued"
    assert kube.status(namespaces[0], "a")["run"] == 1

    kube.patch_experiment(namespaces[0], "a", {"metadata": {"annotations": {"meshroll.io/command": "abort"}}})
    wait_for(lambda: kube.status(namespaces[1], "b").get("trafficApplied"), "b started as a ended", timeout=30)
    assert len(queued_events(kube, namespaces[1], "b")) == 1
    assert sorted(key.name for key in second.runs) == ["b"]


def test_no_limit_by_default(controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory) -> None:
    namespaces = stage(controlplane, kube, 4)
    start_controller(NoData, namespaces=tuple(namespaces), lease_namespace=namespaces[0])
    for index, namespace in enumerate(namespaces):
        kube.create_experiment(experiment(namespace, f"e{index}", interval="120s"))

    wait_for(
        lambda: sum(1 for s in statuses(kube, namespaces).values() if s.get("trafficApplied") and under_way(s)) == 4,
        "all four under way at once",
        timeout=45,
    )
    assert not any(ready(s).get("reason") == "Queued" for s in statuses(kube, namespaces).values())
