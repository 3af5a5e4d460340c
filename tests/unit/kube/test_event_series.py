"""EventRecorder (rollout/kube/events.py) with an API stand-in: an Event recorded by two threads at once is
posted once and counted as a series, whatever the order the requests take."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes import client as k8s

from rollout.kube.events import EventRecorder, EventText

REGARDING = {"kind": "Experiment", "namespace": "shop", "name": "checkout", "uid": "u-1"}
TEXT = EventText("Normal", "Queued", "Queue", "queued: 2 runs are under way and the limit is 2")


class SlowEvents:
    """events.k8s.io as far as the recorder uses it; a create takes a while (as over a network)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.created: list[str] = []
        self.patched: list[tuple[str, int]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def create_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, body: Any) -> Any:
        time.sleep(0.1)
        with self.lock:
            if self.fail_first:
                self.fail_first = False
                raise k8s.ApiException(status=500, reason="etcd hiccup")
            self.created.append(body["metadata"]["name"])
        return body

    def patch_namespaced_custom_object(self, g: str, v: str, ns: str, p: str, name: str, patch: Any) -> Any:
        with self.lock:
            assert name in self.created, "a series patched before its Event exists"
            self.patched.append((name, patch["series"]["count"]))
        return patch


def recorder(api: SlowEvents) -> EventRecorder:
    events = EventRecorder(k8s.ApiClient(), instance="test", clock=lambda: 1000.0)
    events._api = api  # type: ignore[assignment]
    return events


def record_at_once(events: EventRecorder, times: int) -> None:
    barrier = threading.Barrier(times)

    def record() -> None:
        barrier.wait()
        events.record(REGARDING, TEXT)

    threads = [threading.Thread(target=record) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_the_same_event_recorded_by_two_threads_at_once_is_one_event_with_a_series() -> None:
    api = SlowEvents()
    events = recorder(api)

    record_at_once(events, 2)

    assert len(api.created) == 1, api.created
    assert api.patched == [(api.created[0], 2)]
    events.record(REGARDING, TEXT)
    assert api.patched[-1] == (api.created[0], 3) and len(api.created) == 1


def test_a_create_that_failed_is_made_by_the_next_record() -> None:
    api = SlowEvents(fail_first=True)
    events = recorder(api)

    events.record(REGARDING, TEXT)  # logged, not raised: posting never stops a rollout
    events.record(REGARDING, TEXT)

    assert len(api.created) == 1 and api.patched == []
