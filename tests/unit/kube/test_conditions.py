"""Conditions are a pure function of the status: types, values, reasons, transition times, generations."""

from __future__ import annotations

import pytest

from rollout.kube.conditions import Problem, conditions, display_state, timestamp
from rollout.status import Phase, Status, Traffic


def by_type(status: Status | None, **options: object) -> dict[str, dict[str, object]]:
    found = conditions(status, generation=options.pop("generation", 3), now=options.pop("now", 1000.0), **options)  # type: ignore[arg-type]
    return {str(c["type"]): c for c in found}


def test_every_condition_carries_the_api_convention_fields() -> None:
    for condition in by_type(Status(phase=Phase.PROGRESSING, step=1, traffic=Traffic(canary_weight=25))).values():
        assert set(condition) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
        assert condition["status"] in ("True", "False", "Unknown")
        assert str(condition["reason"])[0].isupper() and " " not in str(condition["reason"])
        assert condition["observedGeneration"] == 3
        assert condition["lastTransitionTime"] == "1970-01-01T00:16:40Z"


@pytest.mark.parametrize(
    ("phase", "weight", "progressing", "promoted", "rolled_back"),
    [
        (Phase.PROGRESSING, 25, ("True", "Progressing"), ("False", "InProgress"), ("False", "InProgress")),
        (Phase.PAUSED, 25, ("False", "Paused"), ("False", "InProgress"), ("False", "InProgress")),
        (Phase.PROMOTING, 100, ("True", "Promoting"), ("False", "InProgress"), ("False", "InProgress")),
        (Phase.SUCCEEDED, 100, ("False", "Succeeded"), ("True", "Promoted"), ("False", "Promoted")),
        (Phase.SUCCEEDED, 0, ("False", "Succeeded"), ("False", "Completed"), ("False", "Completed")),
        (Phase.ROLLED_BACK, 0, ("False", "RolledBack"), ("False", "RolledBack"), ("True", "RolledBack")),
        (Phase.ABORTED, 0, ("False", "Aborted"), ("False", "Aborted"), ("True", "Aborted")),
        (Phase.INCONCLUSIVE, 0, ("False", "Inconclusive"), ("False", "Inconclusive"), ("True", "Inconclusive")),
    ],
)
def test_values_and_reasons_follow_the_phase(
    phase: Phase,
    weight: int,
    progressing: tuple[str, str],
    promoted: tuple[str, str],
    rolled_back: tuple[str, str],
) -> None:
    found = by_type(Status(phase=phase, step=1, traffic=Traffic(canary_weight=weight), reason="because"))
    assert (found["Progressing"]["status"], found["Progressing"]["reason"]) == progressing
    assert (found["Promoted"]["status"], found["Promoted"]["reason"]) == promoted
    assert (found["RolledBack"]["status"], found["RolledBack"]["reason"]) == rolled_back
    assert found["Ready"]["status"] == "True"


def test_an_abort_for_a_newer_generation_reads_superseded() -> None:
    status = Status(phase=Phase.ABORTED, reason="aborted (abort by meshroll controller: superseded by generation 4)")
    assert by_type(status)["RolledBack"]["reason"] == "Superseded"


def test_ready_is_false_while_an_intent_is_applied_or_a_problem_stops_the_run() -> None:
    applying = Status(phase=Phase.PROGRESSING, traffic=Traffic(canary_weight=10), traffic_applied=False)
    assert (by_type(applying)["Ready"]["status"], by_type(applying)["Ready"]["reason"]) == ("False", "ApplyingTraffic")
    problem = Problem("MeshError", "VirtualService shop/checkout not found: create it")
    ready = by_type(Status(phase=Phase.PROGRESSING), problem=problem)["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "MeshError", problem.message)


def test_before_the_first_run_progressing_is_unknown_or_names_the_invalid_spec() -> None:
    assert by_type(None)["Progressing"]["status"] == "Unknown"
    invalid = by_type(None, problem=Problem("InvalidSpec", "spec.strategy: give one"))
    assert (invalid["Progressing"]["status"], invalid["Progressing"]["reason"]) == ("False", "InvalidSpec")
    assert invalid["Ready"]["status"] == "False"


def test_the_transition_time_stays_while_the_value_holds_and_moves_when_it_flips() -> None:
    running = Status(phase=Phase.PROGRESSING, step=0, traffic=Traffic(canary_weight=10))
    first = conditions(running, generation=1, now=1000.0)
    later = by_type(running.model_copy(update={"step": 1}), now=2000.0, previous=first)
    assert later["Progressing"]["lastTransitionTime"] == timestamp(1000.0)
    ended = by_type(Status(phase=Phase.SUCCEEDED, traffic=Traffic(canary_weight=100)), now=3000.0, previous=first)
    assert ended["Progressing"]["lastTransitionTime"] == timestamp(3000.0)
    assert ended["Promoted"]["lastTransitionTime"] == timestamp(3000.0)
    assert ended["Ready"]["lastTransitionTime"] == timestamp(1000.0)  # True all along


def test_a_long_message_is_clipped() -> None:
    long = Status(phase=Phase.ROLLED_BACK, reason="x" * 10_000)
    assert len(str(by_type(long)["RolledBack"]["message"])) <= 2048


@pytest.mark.parametrize(
    ("status", "problem", "state"),
    [
        (None, None, "Pending"),  # accepted, the run not started yet
        (None, Problem("Queued", "queued"), "Queued"),
        (None, Problem("InvalidSpec", "bad"), "InvalidSpec"),
        (None, Problem("Waiting", "after"), "Waiting"),
        (Status(phase=Phase.PROGRESSING, step=1), None, "Progressing"),
        (Status(phase=Phase.PROGRESSING, step=1), Problem("MetricsUnavailable", "down"), "MetricsUnavailable"),
        (Status(phase=Phase.PROGRESSING, step=1, traffic_applied=False), None, "Progressing"),  # applying: it moves
        (Status(phase=Phase.SUCCEEDED, traffic=Traffic(canary_weight=100)), None, "Succeeded"),
    ],
)
def test_the_display_state_is_the_ready_reason_that_holds_it_back_or_else_the_phase(
    status: Status | None, problem: Problem | None, state: str
) -> None:
    """What the STATUS column of ``kubectl get experiments`` shows: never empty once the controller looked."""
    assert display_state(status, conditions(status, generation=1, now=0.0, problem=problem)) == state
