"""RunSlots (rollout/kube/run_slots.py) with a list that stands in for the API server: the count and the
reservation are one step under concurrent admissions, waiters are woken when a slot is freed."""

from __future__ import annotations

import threading
from typing import Any, cast

from rollout.kube.admission import Admit, Queue
from rollout.kube.objects import Key
from rollout.kube.run_slots import RunSlots
from tests.integration.kube.helpers import experiment

Obj = dict[str, Any]


class Listing:
    """The Experiments as a list of dicts; a started run is recorded here as the API server would."""

    def __init__(self, items: list[Obj]) -> None:
        self.items = items
        self.lock = threading.Lock()

    def list(self, namespace: str | None) -> Obj:
        with self.lock:
            return {"items": [dict(i) for i in self.items]}

    def start(self, name: str) -> None:
        with self.lock:
            for item in self.items:
                if item["metadata"]["name"] == name:
                    item["status"] = {"run": 1, "phase": "Progressing", "trafficApplied": True}


def item(name: str, second: int) -> Obj:
    """A valid Experiment created at ``second`` that the controller has not looked at yet."""
    body = experiment("ns", name)
    body["metadata"].update(creationTimestamp=f"2025-01-01T00:00:{second:02}Z", generation=1)
    return body


def slots(listing: Listing, limit: int, woken: list[set[Key]] | None = None) -> RunSlots:
    wake = (lambda keys: woken.append(set(keys))) if woken is not None else (lambda keys: None)
    return RunSlots(cast(Any, listing), limit, clock=lambda: 1e10, wake=wake)


def test_eight_admissions_at_once_admit_exactly_the_limit_and_the_first_in_line() -> None:
    names = [f"e{i}" for i in range(8)]
    listing = Listing([item(name, i) for i, name in enumerate(names)])
    gate = slots(listing, 2)
    admitted: list[str] = []
    barrier = threading.Barrier(len(names))
    lock = threading.Lock()

    def start(name: str) -> None:
        barrier.wait()
        obj = next(i for i in listing.items if i["metadata"]["name"] == name)
        with gate.admitting(Key("ns", name), obj) as decision:
            if isinstance(decision, Admit):
                listing.start(name)  # the first status write, before the reservation ends
                gate.hold(Key("ns", name))
                with lock:
                    admitted.append(name)

    threads = [threading.Thread(target=start, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(admitted) == ["e0", "e1"]
    assert gate.waiting() == {Key("ns", n) for n in names[2:]}


def test_a_reservation_counts_until_the_block_ends() -> None:
    listing = Listing([item("a", 0), item("b", 1)])
    gate = slots(listing, 1)
    with gate.admitting(Key("ns", "a"), listing.items[0]) as first:
        assert first == Admit()
        with gate.admitting(Key("ns", "b"), listing.items[1]) as second:
            assert second == Queue(running=1, limit=1, ahead=0, holders=(Key("ns", "a"),))  # reserved: a holds it


def test_a_slot_admitted_but_not_used_wakes_the_waiters() -> None:
    listing = Listing([item("a", 0), item("b", 1)])
    woken: list[set[Key]] = []
    gate = slots(listing, 1, woken)
    with gate.admitting(Key("ns", "a"), listing.items[0]), gate.admitting(Key("ns", "b"), listing.items[1]) as queued:
        assert isinstance(queued, Queue)  # and a's run fails to start: no hold()
    assert woken == [{Key("ns", "b")}]


def test_the_end_of_a_run_that_held_a_slot_wakes_the_waiters_once() -> None:
    listing = Listing([item("a", 0), item("b", 1)])
    gate = slots(listing, 1)
    listing.start("a")
    gate.hold(Key("ns", "a"))
    with gate.admitting(Key("ns", "b"), listing.items[1]) as decision:
        assert decision == Queue(running=1, limit=1, ahead=0, holders=(Key("ns", "a"),))
    assert gate.release(Key("ns", "b")) == set()  # b held nothing
    assert gate.release(Key("ns", "a")) == {Key("ns", "b")}
    assert gate.release(Key("ns", "a")) == set()


def test_a_kept_slot_is_not_given_away_while_its_run_is_replaced() -> None:
    listing = Listing([item("a", 0), item("b", 1)])
    listing.items[0]["status"] = {"run": 1, "phase": "Aborted", "trafficApplied": True}  # superseded, not restarted
    gate = slots(listing, 1)
    with gate.keeping(Key("ns", "a")), gate.admitting(Key("ns", "b"), listing.items[1]) as decision:
        assert isinstance(decision, Queue)
    with gate.admitting(Key("ns", "b"), listing.items[1]) as decision:
        assert decision == Admit()


def test_no_limit_reads_nothing() -> None:
    gate = RunSlots(cast(Any, None), 0, clock=lambda: 0.0)
    with gate.admitting(Key("ns", "a"), {}) as decision:
        assert decision == Admit()


def queue_behind_a(listing: Listing, gate: RunSlots, names: list[str]) -> None:
    """``a`` holds the only slot; each of ``names`` is refused one and waits (in creation order)."""
    listing.start("a")
    gate.hold(Key("ns", "a"))
    for name in names:
        obj = next(i for i in listing.items if i["metadata"]["name"] == name)
        with gate.admitting(Key("ns", name), obj) as decision:
            assert isinstance(decision, Queue)


def test_the_end_of_a_run_wakes_only_the_first_in_line_not_every_queued_experiment() -> None:
    listing = Listing([item("a", 0), item("b", 1), item("c", 2), item("d", 3)])
    gate = slots(listing, 1)
    queue_behind_a(listing, gate, ["d", "c", "b"])  # asked in another order: the line is by creation
    assert gate.release(Key("ns", "a")) == {Key("ns", "b")}
    assert gate.waiting() == {Key("ns", "c"), Key("ns", "d")}, "the others sleep: no list, no status write each"


def test_a_woken_experiment_that_does_not_take_the_slot_hands_it_to_the_next() -> None:
    listing = Listing([item("a", 0), item("b", 1), item("c", 2)])
    gate = slots(listing, 1)
    queue_behind_a(listing, gate, ["b", "c"])
    assert gate.release(Key("ns", "a")) == {Key("ns", "b")}
    # b's reconcile ends without deciding (deleted, its route in use, waiting for its dependencies)
    assert gate.settle(Key("ns", "b")) == {Key("ns", "c")}
    assert gate.settle(Key("ns", "b")) == set(), "once"
    assert gate.settle(Key("ns", "a")) == set(), "a was not woken for a slot"


def test_a_queued_experiment_that_finds_a_free_slot_wakes_the_waiters_before_it() -> None:
    listing = Listing([item("a", 0), item("b", 1), item("c", 2)])
    woken: list[set[Key]] = []
    gate = slots(listing, 1, woken)
    queue_behind_a(listing, gate, ["b", "c"])
    listing.items[0]["status"] = {"run": 1, "phase": "Succeeded", "trafficApplied": True}  # ended elsewhere
    with gate.admitting(Key("ns", "c"), listing.items[2]) as decision:
        assert decision == Queue(running=0, limit=1, ahead=1)
    assert woken == [{Key("ns", "b")}], "b is first and was asleep: it is woken for the free slot"
