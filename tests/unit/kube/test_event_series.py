"""EventRecorder (rollout/kube/events.py) with an API stand-in and a fake clock: an Event recorded by two threads
at once is posted once and counted as a series, whatever the order the requests take; a problem reported every
minute for hours (a stuck run) is one Event whose series is written at a falling rate, at most once an hour;
once the problem stops, the controller's flush writes the count the last writes left out."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from kubernetes import client as k8s

from rollout.kube.events import FIRST_REPEAT_S, MAX_REPEAT_S, EventRecorder, EventText, micro_time

REGARDING = {"kind": "Experiment", "namespace": "shop", "name": "checkout", "uid": "u-1"}
TEXT = EventText("Normal", "Queued", "Queue", "queued: 2 runs are under way and the limit is 2")


class SlowEvents:
    """events.k8s.io as far as the recorder uses it; a create takes a while (as over a network)."""

    def __init__(self, fail_first: bool = False, delay: float = 0.1) -> None:
        self.created: list[str] = []
        self.bodies: list[Any] = []
        self.patched: list[tuple[str, int]] = []
        self.series: list[Any] = []  # each patch's series
        self.fail_first = fail_first
        self.delay = delay
        self.expired: set[str] = set()  # dropped by the API server (the Event TTL)
        self.lock = threading.Lock()

    def create_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, body: Any) -> Any:
        time.sleep(self.delay)
        with self.lock:
            if self.fail_first:
                self.fail_first = False
                raise k8s.ApiException(status=500, reason="etcd hiccup")
            self.created.append(body["metadata"]["name"])
            self.bodies.append(body)
        return body

    def patch_namespaced_custom_object(self, g: str, v: str, ns: str, p: str, name: str, patch: Any) -> Any:
        with self.lock:
            assert name in self.created, "a series patched before its Event exists"
            if name in self.expired:
                raise k8s.ApiException(status=404, reason="Not Found")
            self.patched.append((name, patch["series"]["count"]))
            self.series.append(patch["series"])
        return patch

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.patched)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def recorder(api: SlowEvents, clock: Clock | None = None) -> EventRecorder:
    events = EventRecorder(k8s.ApiClient(), instance="test", clock=clock or Clock())
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
    clock = Clock()
    events = recorder(api, clock)

    record_at_once(events, 2)

    assert len(api.created) == 1, api.created
    assert api.patched == [], "the repeat is counted into the next write, not sent at once"
    clock.now += FIRST_REPEAT_S
    events.record(REGARDING, TEXT)
    assert api.patched == [(api.created[0], 3)] and len(api.created) == 1


def test_a_problem_reported_every_minute_for_a_day_is_one_event_written_a_few_times_an_hour_at_most() -> None:
    """A stuck run reports the same problem at every retry (a minute apart at the longest backoff)."""
    api = SlowEvents(delay=0.0)
    clock = Clock()
    events = recorder(api, clock)
    writes_at: list[float] = []
    for minute in range(24 * 60):
        clock.now = 1000.0 + 60.0 * minute
        before = api.writes
        events.record(REGARDING, TEXT)
        if api.writes > before:
            writes_at.append(clock.now - 1000.0)

    assert len(api.created) == 1, "one Event, its series counting the repeats"
    assert writes_at[:6] == [0.0, 60.0, 180.0, 420.0, 900.0, 1860.0], "at once, then each gap twice the last"
    gaps = [b - a for a, b in itertools.pairwise(writes_at)]
    assert max(gaps) <= MAX_REPEAT_S + 60.0 and gaps[-1] >= MAX_REPEAT_S, gaps
    assert len(writes_at) <= 6 + 24, f"{len(writes_at)} writes in a day, not {24 * 60}"
    assert api.patched[-1][1] == 1 + writes_at[-1] / 60.0, "the count holds every repeat up to its write"
    assert (events.posted, events.deduplicated) == (1, 24 * 60 - 1)


def test_when_the_problem_stops_the_flush_writes_the_repeats_the_last_write_left_out_when_it_is_due() -> None:
    api = SlowEvents(delay=0.0)
    clock = Clock()
    events = recorder(api, clock)
    for minute in range(10):  # written at 0, 60, 180 and 420 s; the repeats at 480 and 540 s wait for 900 s
        clock.now = 1000.0 + 60.0 * minute
        events.record(REGARDING, TEXT)
    assert api.patched[-1][1] == 8

    clock.now = 1000.0 + 899.0
    events.flush()
    assert api.patched[-1][1] == 8, "not before its next write is due: the falling rate holds"
    clock.now = 1000.0 + 900.0
    events.flush()
    assert api.patched[-1][1] == 10, "the series ends at every repeat recorded"
    last = api.patched[-1]
    clock.now += MAX_REPEAT_S
    events.flush()
    assert api.patched[-1] == last and len(api.patched) == 4, "nothing left to write: no write"


def test_the_flush_as_the_controller_stops_writes_every_repeat_at_once_with_when_it_was_last_seen() -> None:
    api = SlowEvents(delay=0.0)
    clock = Clock()
    events = recorder(api, clock)
    events.record(REGARDING, TEXT)
    clock.now += 10.0
    events.record(REGARDING, TEXT)
    repeated_at = clock.now
    clock.now += 20.0
    events.flush(force=True)

    assert api.patched == [(api.created[0], 2)], "written at once, though its first repeat was due in a minute"
    assert api.series[-1]["lastObservedTime"] == micro_time(repeated_at), "when it was last seen, not when written"
    assert events._seen, "the Event is remembered while it may repeat"
    clock.now = repeated_at + MAX_REPEAT_S + 1
    events.flush()
    assert not events._seen, "an Event an hour quiet and fully written is forgotten"


def test_after_an_hour_of_quiet_the_same_problem_is_a_new_event_at_once() -> None:
    api = SlowEvents(delay=0.0)
    clock = Clock()
    events = recorder(api, clock)
    events.record(REGARDING, TEXT)
    clock.now += MAX_REPEAT_S + 1
    events.record(REGARDING, TEXT)
    assert len(api.created) == 2 and api.patched == []


def test_an_event_the_api_server_dropped_is_posted_again_with_its_series() -> None:
    api = SlowEvents(delay=0.0)
    clock = Clock()
    events = recorder(api, clock)
    events.record(REGARDING, TEXT)
    api.expired.add(api.created[0])  # its TTL ran out
    for _ in range(3):
        clock.now += 30.0
        events.record(REGARDING, TEXT)
    assert len(api.created) == 2, "posted again when its series was due"
    again = api.bodies[-1]
    assert again["series"]["count"] == 3 and again["eventTime"] == api.bodies[0]["eventTime"]
    clock.now += 2 * FIRST_REPEAT_S + 30.0
    events.record(REGARDING, TEXT)
    assert api.patched == [(api.created[1], 5)]


def test_a_create_that_failed_is_made_by_the_next_record() -> None:
    api = SlowEvents(fail_first=True)
    events = recorder(api)

    events.record(REGARDING, TEXT)  # logged, not raised: posting never stops a rollout
    events.record(REGARDING, TEXT)

    assert len(api.created) == 1 and api.patched == []
