"""The admission decision of ``--max-concurrent-runs`` (rollout/kube/admission.py): pure."""

from __future__ import annotations

from typing import Any

from rollout.kube.admission import Admit, InLine, Place, Queue, decide, in_line, parse_time, place_of, under_way
from rollout.kube.objects import Key

Obj = dict[str, Any]
T0 = parse_time("2025-01-01T00:00:00Z") or 0.0


def obj(name: str, *, created: str = "2025-01-01T00:00:00Z", generation: int = 1, **status: Any) -> Obj:
    item: Obj = {"metadata": {"namespace": "ns", "name": name, "creationTimestamp": created, "generation": generation}}
    if status:
        item["status"] = status
    return item


def queued_ready(generation: int) -> list[Obj]:
    return [{"type": "Ready", "status": "False", "reason": "Queued", "observedGeneration": generation}]


def place(name: str, asked: float) -> Place:
    return Place(asked, "ns", name)


def test_no_limit_admits_everything() -> None:
    running = {Key("ns", f"r{i}") for i in range(50)}
    assert decide(place("me", 5.0), running, [place("a", 1.0)], 0) == Admit()


def test_below_the_limit_with_nobody_ahead_starts() -> None:
    assert decide(place("me", 5.0), {Key("ns", "r")}, [], 2) == Admit()


def test_at_the_limit_it_is_queued_and_says_the_numbers() -> None:
    decision = decide(place("me", 5.0), {Key("ns", "r2"), Key("ns", "r1")}, [place("a", 1.0)], 2)
    assert decision == Queue(running=2, limit=2, ahead=1, holders=(Key("ns", "r1"), Key("ns", "r2")))
    assert isinstance(decision, Queue)
    assert "2 runs are under way and the limit is 2" in decision.message
    assert "the slots are held by ns/r1, ns/r2." in decision.message
    assert "--max-concurrent-runs" in decision.message and "maxConcurrentRuns" in decision.message
    assert "in turn, first come first served" in decision.message
    assert "ahead" not in decision.message, "no place in line: it would go stale, or rewrite every status"


def test_the_queued_message_names_a_few_of_the_runs_holding_the_slots_and_counts_the_others() -> None:
    running = {Key("shop", f"r{i}") for i in range(5)} | {Key("pay", "z")}
    decision = decide(place("me", 5.0), running, [], 6)
    assert isinstance(decision, Queue)
    assert "the slots are held by pay/z, shop/r0, shop/r1 and 3 more." in decision.message
    one = decide(place("me", 5.0), {Key("shop", "checkout-v2")}, [], 1)
    assert isinstance(one, Queue) and "1 run is under way and the limit is 1" in one.message
    assert "the slots are held by shop/checkout-v2." in one.message and " more." not in one.message


def test_first_come_first_served_a_free_slot_goes_to_the_earliest() -> None:
    waiting = [place("a", 1.0), place("b", 2.0), place("c", 3.0)]
    running = {Key("ns", "r")}
    assert decide(place("a", 1.0), running, waiting, 2) == Admit()
    assert decide(place("b", 2.0), running, waiting, 2) == Queue(1, 2, 1, (Key("ns", "r"),))
    assert decide(place("b", 2.0), running, waiting, 3) == Admit()  # two slots: the first two in line


def test_ties_in_time_go_by_name_and_its_own_key_never_counts() -> None:
    assert place("a", 1.0) < place("b", 1.0)
    assert decide(place("b", 1.0), set(), [place("a", 1.0)], 1) == Queue(0, 1, 1)
    assert decide(place("a", 1.0), {Key("ns", "a")}, [place("a", 1.0)], 1) == Admit()


def test_later_arrivals_never_hold_back_an_earlier_one() -> None:
    assert decide(place("me", 1.0), set(), [place("x", 2.0), place("y", 3.0)], 1) == Admit()


def test_a_run_counts_as_under_way_until_it_has_ended_and_the_mesh_holds_that() -> None:
    assert not under_way(obj("a"))
    assert not under_way(obj("a", run=0))
    assert under_way(obj("a", run=1, phase="Progressing", trafficApplied=True))
    assert under_way(obj("a", run=1, phase="Paused", trafficApplied=True))
    assert under_way(obj("a", run=1, phase="Aborted", trafficApplied=False))  # the revert not applied yet
    assert not under_way(obj("a", run=1, phase="Succeeded", trafficApplied=True))
    assert not under_way(obj("a", run=2, phase="Inconclusive", trafficApplied=True))


def test_a_deleted_experiment_holds_its_slot_until_meshroll_lets_it_go() -> None:
    item = obj("a", run=1, phase="Progressing", trafficApplied=True)
    item["metadata"]["deletionTimestamp"] = "2025-01-01T00:01:00Z"
    item["metadata"]["finalizers"] = ["meshroll.io/revert"]
    assert under_way(item)
    item["metadata"]["finalizers"] = ["someone-else"]
    assert not under_way(item)


def test_the_place_of_one_that_never_ran_is_its_creation_time() -> None:
    assert place_of(obj("a", created="2025-01-01T00:00:07Z"), now=T0 + 100) == Place(T0 + 7, "ns", "a")


def test_the_place_of_a_new_generation_after_a_finished_run_is_when_it_was_first_queued_or_now() -> None:
    finished = {"run": 1, "phase": "Succeeded", "trafficApplied": True}
    assert place_of(obj("a", generation=3, **finished), now=T0 + 50).asked == T0 + 50
    recorded = obj("a", generation=3, queuedGeneration=3, queuedSince="2025-01-01T00:00:20.500000Z", **finished)
    assert place_of(recorded, now=T0 + 50).asked == T0 + 20.5
    stale = obj("a", generation=4, queuedGeneration=3, queuedSince="2025-01-01T00:00:20Z", **finished)
    assert place_of(stale, now=T0 + 50).asked == T0 + 50  # a newer generation asks anew


def test_in_line_are_those_never_looked_at_and_those_queued_at_their_generation() -> None:
    assert in_line(obj("fresh", created="2025-01-01T00:00:03Z")) == InLine(Place(T0 + 3, "ns", "fresh"), False)
    assert in_line(obj("q", conditions=queued_ready(1))) == InLine(Place(T0, "ns", "q"), True)
    again = obj(
        "q2", generation=2, conditions=queued_ready(2), run=1, queuedGeneration=2, queuedSince="2025-01-01T00:00:09Z"
    )
    assert in_line(again) == InLine(Place(T0 + 9, "ns", "q2"), True)


def test_refused_for_another_reason_edited_since_or_deleted_holds_no_place() -> None:
    mesh_error = [{"type": "Ready", "status": "False", "reason": "MeshError", "observedGeneration": 0}]
    assert in_line(obj("busy-route", conditions=mesh_error)) is None
    assert in_line(obj("edited", generation=2, conditions=queued_ready(1))) is None  # looked at again first
    deleted = obj("gone")
    deleted["metadata"]["deletionTimestamp"] = "2025-01-01T00:01:00Z"
    assert in_line(deleted) is None
    finished = obj("done", run=1, phase="Succeeded", trafficApplied=True, conditions=[])
    assert in_line(finished) is None


def test_times_that_are_not_rfc3339_are_none() -> None:
    assert parse_time("yesterday") is None and parse_time(None) is None and parse_time("") is None
    assert parse_time("2025-01-01T00:00:01.250000Z") == T0 + 1.25
