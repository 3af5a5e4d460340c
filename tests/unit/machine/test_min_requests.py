"""The promotion gate counts minRequests on the requests the engine says the canary served over the run
(``Judged.canary_requests``), not on a verdict's sample size; and a run that ends short of them says so."""

from __future__ import annotations

from rollout.events import Judged, Start
from rollout.status import Phase
from tests.unit.machine.conftest import CANARY, plan_from, proven, run

STEPS = [60, 120, 180]  # the judgements that take CANARY through its first three steps


def counted(requests: float | None, canary_n: float, outcome: str = "advance") -> Judged:
    """A judgement with every metric proven, on ``canary_n`` samples each, whose engine counted ``requests``."""
    return proven(canary_n=canary_n).model_copy(update={"outcome": outcome, "canary_requests": requests})


def test_the_last_step_promotes_on_the_runs_requests_though_each_verdict_rests_on_a_few_points() -> None:
    plan = plan_from(CANARY)  # minRequests: 100

    status = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(900, canary_n=3)))

    assert status.phase is Phase.SUCCEEDED


def test_the_engines_count_of_requests_decides_not_the_largest_sample() -> None:
    plan = plan_from(CANARY)

    status = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(50, canary_n=9000)))

    assert status.phase is Phase.PROGRESSING
    assert status.reason == "holding: the canary served 50 requests, below minRequests 100"


def test_an_engine_that_does_not_count_requests_is_held_to_its_largest_canary_n() -> None:
    plan = plan_from(CANARY)

    short = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(None, canary_n=50)))
    enough = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(None, canary_n=100)))

    assert short.phase is Phase.PROGRESSING and "served 50 requests, below minRequests 100" in short.reason
    assert enough.phase is Phase.SUCCEEDED


def test_a_canary_short_of_min_requests_at_the_deadline_is_told_to_get_requests_not_a_longer_schedule() -> None:
    plan = plan_from(CANARY, **{"maxDuration: 1h": "maxDuration: 240s"})  # the schedule ends at the deadline

    status = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(50, canary_n=3)))

    assert status.phase is Phase.INCONCLUSIVE and status.traffic.is_safe  # onInconclusive: rollback (the default)
    assert status.reason.startswith(
        "no decision by maxDuration (240s): not promoted: the canary served 50 requests, below minRequests 100; "
    )
    assert "(the canary needs more requests before the deadline to reach minRequests 100: " in status.reason
    assert "the schedule's" not in status.reason, "the schedule was through: its length is not what to change"


def test_a_canary_with_its_requests_left_undecided_at_the_deadline_is_told_how_to_decide_sooner() -> None:
    plan = plan_from(CANARY, **{"maxDuration: 1h": "maxDuration: 240s"})

    status = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(900, 3, "inconclusive")))

    assert "a wider margin or an absoluteMargin decides sooner" in status.reason
    assert "minRequests" not in status.reason


def test_promote_if_not_critical_counts_the_runs_requests_too() -> None:
    text = CANARY.replace("maxDuration: 1h", "maxDuration: 240s\n    onInconclusive: promote-if-not-critical")
    plan = plan_from(text)

    promoted = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(900, 3, "hold")))
    short = run(plan, (0, Start()), *[(t, proven()) for t in STEPS], (240, counted(50, 3, "hold")))

    assert promoted.phase is Phase.SUCCEEDED
    assert short.phase is not Phase.SUCCEEDED
    assert "not promoted because the canary has not served minRequests 100" in short.reason
