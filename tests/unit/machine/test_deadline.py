"""maxDuration is a deadline: a run ends by it, not up to one stepInterval after it.

The runner judges each step at ``judgement_due`` (a stepInterval on, or the deadline when that comes
first); these tests drive the machine on that schedule with a fake clock (seconds after T0).
"""

from __future__ import annotations

import pytest

from rollout.events import Applied, Command, Judged, Start
from rollout.machine import advance
from rollout.plan import RunPlan, deadline, judgement_due
from rollout.status import Phase, Status
from tests.unit.machine.conftest import CANARY, T0, plan_from, proven, run

# four steps of 60 s: 240 s of schedule, with a deadline at 150 s, between the second and third judgements
SHORT = {"maxDuration: 1h": "maxDuration: 150s"}


def drive(
    plan: RunPlan, judgement: Judged, status: Status | None = None, now: float = T0
) -> tuple[Status, list[float]]:
    """Start (unless ``status`` is under way), then judge at each ``judgement_due`` until the run stops
    progressing; the times of the judgements, in seconds after T0."""
    if status is None:
        status = run(plan, (0, Start()))
    times: list[float] = []
    while status.phase is Phase.PROGRESSING:
        now = judgement_due(plan, status, now)
        times.append(round(now - T0, 1))  # a judgement capped at the deadline comes 10 ms after it
        status = advance(plan, status, judgement, now).status
        if not status.traffic_applied:
            status = advance(plan, status, Applied(), now).status
    return status, times


def test_the_last_judgement_comes_at_the_deadline_not_a_step_after_it() -> None:
    plan = plan_from(CANARY, **SHORT)

    status, times = drive(plan, proven("hold"))

    assert times == [60, 120, 150], "judged every stepInterval, and the last step's wait cut short at the deadline"
    assert status.phase is Phase.INCONCLUSIVE and status.traffic.is_safe
    assert deadline(plan, status) == T0 + 150
    assert status.history[-1].time == pytest.approx(T0 + 150.01), "ended at the deadline"
    assert status.reason.startswith("no decision by maxDuration (150s)")
    assert "(meshroll plan FILE estimates how long a decision takes; a wider margin" in status.reason, "what next"


def test_a_canary_judged_no_worse_at_the_deadline_with_steps_left_is_inconclusive_not_stepped_on() -> None:
    plan = plan_from(CANARY, **SHORT)

    status, times = drive(plan, proven())

    assert times == [60, 120, 150]
    assert status.phase is Phase.INCONCLUSIVE and status.traffic.is_safe
    assert "the schedule is at step 3 of 4 (25%); all metrics advance" in status.reason
    assert "(raise maxDuration to at least the schedule's 240s, or take fewer or shorter steps)" in status.reason
    assert "wider margin" not in status.reason, "the canary was proven no worse: a margin is not what to change"


def test_with_promote_if_not_critical_a_canary_proven_at_the_deadline_is_promoted() -> None:
    plan = plan_from(CANARY, **{"maxDuration: 1h": "maxDuration: 150s\n    onInconclusive: promote-if-not-critical"})

    status, _ = drive(plan, proven())

    assert status.phase is Phase.SUCCEEDED and status.traffic.canary_weight == 100
    assert "every critical metric is non-inferior" in status.reason
    assert "raise maxDuration" not in status.reason and "meshroll plan" not in status.reason, "promoted: no advice"


def test_the_last_step_cut_short_by_the_deadline_is_not_promoted_on_its_partial_exposure() -> None:
    plan = plan_from(CANARY, **{"maxDuration: 1h": "maxDuration: 210s"})  # the 4th step has 30 s of its 60 s

    status, times = drive(plan, proven())

    assert times == [60, 120, 180, 210]
    assert status.phase is Phase.INCONCLUSIVE
    assert "the last step (50%) has had 30s of its 60s" in status.reason


def test_a_schedule_within_the_deadline_is_judged_every_step_interval_and_promotes() -> None:
    status, times = drive(plan_from(CANARY), proven())

    assert times == [60, 120, 180, 240]
    assert status.phase is Phase.SUCCEEDED


def test_the_deadline_counts_from_when_the_mesh_took_the_first_split_not_from_the_intent() -> None:
    plan = plan_from(CANARY, **SHORT)
    refused = advance(plan, Status(), Start(), T0).status  # the first write, refused for 90 s (MeshError)
    assert not refused.traffic_applied
    assert deadline(plan, refused) == T0 + 150, "before the mesh takes a split: from the start"
    taken = advance(plan, refused, Applied(), T0 + 90).status

    status, times = drive(plan, proven("hold"), taken, T0 + 90)

    assert deadline(plan, status) == T0 + 240
    assert times == [150, 210, 240], "a whole 150 s of judged steps, as for a write taken at once"
    assert status.phase is Phase.INCONCLUSIVE


def test_a_run_resumed_after_its_deadline_is_judged_a_step_interval_on_and_ends_then() -> None:
    plan = plan_from(CANARY, **SHORT)
    paused = run(plan, (0, Start()), (60, proven()), (100, Command(command="pause")))
    resumed = advance(plan, paused, Command(command="resume"), T0 + 400).status
    resumed = advance(plan, resumed, Applied(), T0 + 400).status

    assert judgement_due(plan, resumed, T0 + 400) == T0 + 460, "never due in the past"
    status, times = drive(plan, proven(), resumed, T0 + 400)
    assert times == [460] and status.phase is Phase.INCONCLUSIVE


def test_nothing_is_due_before_the_start_beyond_one_step_interval(canary_plan: RunPlan) -> None:
    assert deadline(canary_plan, Status()) is None
    assert judgement_due(canary_plan, Status(), T0) == T0 + 60
