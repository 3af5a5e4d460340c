"""Many Experiments reconciled at once by the controller's several workers, against a real API server.

- Twelve Experiments on one VirtualService: at every moment at most one run steers it (a monitor
  polls the statuses and the route the whole time), the others wait naming the holder, and each
  starts in turn as the one before it is aborted.
- Twenty Experiments on twenty VirtualServices, half deleted mid-run (some right as they start):
  every deleted one has its route reverted and its finalizer removed, none is left Terminating.
- A burst of spec edits while the key is being reconciled: the last generation is the one that runs.

No timing is asserted; waits are bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from analysis.observations import MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.crd import GROUP, PLURAL, VERSION
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import ISTIO, SERVICE, Api, experiment, gone, virtual_service, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
TERMINAL = ("Succeeded", "RolledBack", "Aborted", "Inconclusive")
Obj = dict[str, Any]


class NoData:
    """A metric source with nothing to say: with steps of minutes nothing moves on its own while a test acts."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        return {}


def under_way(status: Mapping[str, Any]) -> bool:
    """Whether a stored status holds a run that may still touch the mesh (not ended and applied)."""
    if not status.get("run"):
        return False
    return not (status.get("phase") in TERMINAL and status.get("trafficApplied"))


def ready(status: Mapping[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})


def statuses(kube: Api, namespace: str) -> dict[str, Obj]:
    """Every Experiment's status, from one list (one consistent snapshot)."""
    items = kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    return {item["metadata"]["name"]: item.get("status") or {} for item in items}


def destinations(vs: Mapping[str, Any]) -> list[tuple[str, int]]:
    route = next(r for r in vs["spec"]["http"] if r.get("name") == "primary")
    default = 100 if len(route["route"]) == 1 else 0
    return [(d["destination"].get("subset"), int(d.get("weight", default))) for d in route["route"]]


def create_all(kube: Api, bodies: Sequence[Obj]) -> None:
    """Create ``bodies`` at once (each from its own thread)."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        list(pool.map(kube.create_experiment, bodies))


@contextmanager
def monitor(kube: Api, namespace: str) -> Iterator[list[str]]:
    """Poll the statuses and the VirtualService until the block ends; yields the violations seen (and
    adds the number of polls last): two runs under way at once, weights not summing to 100, two canaries."""
    seen: list[str] = []
    polls = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal polls
        while not stop.is_set():
            running = sorted(name for name, status in statuses(kube, namespace).items() if under_way(status))
            if len(running) > 1:
                seen.append(f"runs under way at once: {running}")
            route = destinations(kube.virtual_service(namespace))
            if sum(weight for _, weight in route) != 100:
                seen.append(f"weights not summing to 100: {route}")
            canaries = [subset for subset, weight in route if subset != "v1" and weight > 0]
            if len(canaries) > 1:
                seen.append(f"two canaries on the route: {route}")
            polls += 1
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)
        seen.append(f"polls: {polls}")


def new_holder(kube: Api, namespace: str, before: Sequence[str]) -> str | None:
    """The one Experiment whose run is under way and applied, if there is exactly one and it is not in ``before``."""
    running = [n for n, s in statuses(kube, namespace).items() if under_way(s) and s.get("trafficApplied")]
    return running[0] if len(running) == 1 and running[0] not in before else None


def all_wait_on(kube: Api, namespace: str, waiting: Sequence[str], holder: str) -> bool:
    """Whether none of ``waiting`` has started a run and each one's Ready condition names ``holder``."""
    found = statuses(kube, namespace)
    named = f"in use by Experiment {namespace}/{holder}"
    return all(found[n].get("run", 0) == 0 and named in ready(found[n]).get("message", "") for n in waiting)


def test_twelve_experiments_on_one_route_run_one_at_a_time_in_turn_and_the_others_name_the_holder(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    names = [f"e{i:02}" for i in range(12)]
    kube.create_istio(namespace, subsets=("v1", *(f"c{i:02}" for i in range(12))))
    start_controller(NoData, namespaces=(namespace,), lease_namespace=namespace, reconcile_workers=4)
    bodies = [experiment(namespace, name, canary=f"c{i:02}", interval="120s") for i, name in enumerate(names)]

    order: list[str] = []
    with monitor(kube, namespace) as violations:
        create_all(kube, bodies)
        for turn in range(len(names)):
            current = wait_for(
                lambda: new_holder(kube, namespace, order), f"turn {turn}: one run under way, a new one", timeout=30
            )
            order.append(current)
            canary = f"c{names.index(current):02}"
            assert [d for d in destinations(kube.virtual_service(namespace)) if d[1]] == [("v1", 80), (canary, 20)]
            waiting = [name for name in names if name not in order]
            wait_for(
                partial(all_wait_on, kube, namespace, waiting, current),
                f"turn {turn}: the {len(waiting)} others waiting on {current}",
                timeout=30,
            )
            kube.patch_experiment(namespace, current, {"metadata": {"annotations": {"meshroll.io/command": "abort"}}})
        wait_for(
            lambda: all(
                s.get("phase") == "Aborted" and s.get("trafficApplied") for s in statuses(kube, namespace).values()
            ),
            "every run aborted",
            timeout=30,
        )

    assert sorted(order) == names
    assert violations[:-1] == [], violations
    assert [d for d in destinations(kube.virtual_service(namespace)) if d[1]] == [("v1", 100)]
    assert all(s["run"] == 1 for s in statuses(kube, namespace).values())


def named_route(namespace: str, index: int) -> Obj:
    body = virtual_service(namespace)
    body["metadata"]["name"] = f"{SERVICE}-{index:02}"
    return body


def weights_of(kube: Api, namespace: str, index: int) -> list[tuple[str, int]]:
    vs = kube.custom.get_namespaced_custom_object(*ISTIO, namespace, "virtualservices", f"{SERVICE}-{index:02}")
    return [d for d in destinations(vs) if d[1]]


def test_twenty_experiments_on_twenty_routes_half_deleted_mid_run_are_all_reverted_and_let_go(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    for index in range(20):
        kube.custom.create_namespaced_custom_object(*ISTIO, namespace, "virtualservices", named_route(namespace, index))
    controller = start_controller(NoData, namespaces=(namespace,), lease_namespace=namespace, reconcile_workers=4)
    bodies = []
    for index in range(20):
        body = experiment(namespace, f"e{index:02}", interval="120s")
        body["spec"]["mesh"]["virtualService"] = f"{SERVICE}-{index:02}"
        bodies.append(body)
    early = [f"e{i:02}" for i in range(0, 20, 4)]  # deleted as soon as their run has started (racing its first step)
    late = [f"e{i:02}" for i in range(2, 20, 4)]  # deleted once every run holds its first step
    kept = [f"e{i:02}" for i in range(20) if i % 2]

    create_all(kube, bodies)
    for name in early:
        wait_for(lambda name=name: kube.status(namespace, name).get("run") == 1, f"{name}'s run started", timeout=30)
        kube.delete_experiment(namespace, name)
    wait_for(
        lambda: all(
            s.get("phase") == "Progressing" and s.get("trafficApplied")
            for n, s in statuses(kube, namespace).items()
            if n not in early
        ),
        "every remaining run at its first step",
        timeout=45,
    )
    with ThreadPoolExecutor(len(late)) as pool:
        list(pool.map(lambda name: kube.delete_experiment(namespace, name), late))

    for name in early + late:
        wait_for(lambda name=name: gone(kube, namespace, name), f"{name} gone (not left Terminating)", timeout=30)
    for index in range(20):
        expected = [("v1", 80), ("v2", 20)] if index % 2 else [("v1", 100)]
        assert weights_of(kube, namespace, index) == expected, f"{SERVICE}-{index:02}"
    left = statuses(kube, namespace)
    assert sorted(left) == kept
    assert all(s["phase"] == "Progressing" and s["run"] == 1 for s in left.values())
    assert sorted(key.name for key in controller.runs) == kept
    reverted = {
        e["regarding"]["name"]
        for e in kube.custom.list_namespaced_custom_object("events.k8s.io", "v1", namespace, "events")["items"]
        if e["reason"] == "Reverted"
    }
    assert reverted == set(early + late)


def test_spec_edits_arriving_while_the_key_is_reconciled_are_not_lost(
    kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    kube.create_istio(namespace)
    start_controller(NoData, namespaces=(namespace,), lease_namespace=namespace, reconcile_workers=4)
    kube.create_experiment(experiment(namespace, "c", interval="120s"))
    wait_for(lambda: under_way(s := kube.status(namespace, "c")) and s.get("trafficApplied"), "run 1", timeout=30)

    edits = [5, 10, 15, 25, 30, 35, 40, 45]  # each a new first step: a new run, superseding the one before
    for first in edits:
        kube.patch_experiment(namespace, "c", {"spec": {"strategy": {"canary": {"steps": [first, 60]}}}})
    generation = int(kube.experiment(namespace, "c")["metadata"]["generation"])

    def settled() -> Obj | None:
        status = kube.status(namespace, "c")
        ok = status.get("observedGeneration") == generation and status.get("trafficApplied")
        return status if ok and status.get("phase") == "Progressing" else None

    status = wait_for(settled, f"generation {generation} observed and running", timeout=45)
    assert status["runSpec"]["strategy"]["canary"]["steps"] == [edits[-1], 60]
    assert status["runGeneration"] == generation
    assert ready(status).get("status") == "True", ready(status)
    assert [d for d in destinations(kube.virtual_service(namespace)) if d[1]] == [
        ("v1", 100 - edits[-1]),
        ("v2", edits[-1]),
    ]
    assert all(p["phase"] == "Aborted" for p in status.get("previousRuns") or ())
