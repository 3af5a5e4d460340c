"""A canary's cohort is routed exactly while the canary has weight in the run: on from the first step,
kept through pauses, gone with the weights at promotion, rollback, abort, halt and policy ends."""

from __future__ import annotations

import pytest

from rollout.events import Command, Halt, NoData, Start
from rollout.machine import SetRoute, advance
from rollout.plan import RunPlan
from rollout.status import Phase, Status
from tests.unit.machine.conftest import CANARY, T0, plan_from, proven, run

COHORT = "stepInterval: 60s, cohort: {match: [{headers: {x-beta: '1'}}]}}"


@pytest.fixture
def plan() -> RunPlan:
    return plan_from(CANARY, **{"stepInterval: 60s}": COHORT})


def test_the_cohort_route_is_on_at_every_step_beside_the_weight(plan: RunPlan) -> None:
    start = advance(plan, Status(), Start(), T0)
    (route,) = [a for a in start.actions if isinstance(a, SetRoute)]
    assert (route.traffic.canary_weight, route.traffic.ab_active) == (5, True)
    status = run(plan, (0, Start()), (60, proven()), (120, proven()), (180, proven()))
    assert [(e.traffic.canary_weight, e.traffic.ab_active) for e in status.history if e.event.type == "applied"] == [
        (5, True),
        (10, True),
        (25, True),
        (50, True),
    ]


def test_promotion_sends_everyone_to_the_canary_and_the_cohort_route_goes(plan: RunPlan) -> None:
    status = run(plan, (0, Start()), *[(60 * i, proven()) for i in range(1, 5)])
    assert status.phase is Phase.SUCCEEDED
    assert (status.traffic.canary_weight, status.traffic.ab_active) == (100, False)


def test_a_pause_keeps_the_cohort_with_the_weight_and_a_resume_keeps_it(plan: RunPlan) -> None:
    paused = run(plan, (0, Start()), (10, Command(command="pause")))
    assert paused.phase is Phase.PAUSED and (paused.traffic.canary_weight, paused.traffic.ab_active) == (5, True)
    resumed = run(plan, (0, Start()), (10, Command(command="pause")), (20, Command(command="resume")))
    assert resumed.traffic.ab_active


@pytest.mark.parametrize(
    ("events", "phase"),
    [
        (((60, proven("rollback")),), Phase.ROLLED_BACK),
        (((30, Command(command="abort")),), Phase.ABORTED),
        (((30, Halt(reason="error-rate 0.09 above 0.05")),), Phase.ROLLED_BACK),
        (((60, NoData(reason="r")), (120, NoData(reason="r")), (180, NoData(reason="r"))), Phase.ROLLED_BACK),
    ],
    ids=["rollback", "abort", "halt", "no-data-policy"],
)
def test_every_way_back_to_stable_removes_the_cohort_with_the_weights(
    plan: RunPlan, events: tuple[tuple[float, object], ...], phase: Phase
) -> None:
    status = run(plan, (0, Start()), *events)
    assert status.phase is phase
    assert status.traffic.is_safe and not status.traffic.ab_active


def test_a_canary_without_a_cohort_never_turns_the_route_on() -> None:
    status = run(plan_from(CANARY), (0, Start()), (60, proven()))
    assert all(not e.traffic.ab_active for e in status.history)
