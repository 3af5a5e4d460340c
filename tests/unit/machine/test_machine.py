"""The state machine, step by step: what each event does to the phase, the weights and the faults."""

from __future__ import annotations

from pathlib import Path

from rollout.events import Command, Halt, Judged, MetricsUnavailable, NoData, Start, Tick
from rollout.machine import Notify, SetFaults, SetRoute, advance
from rollout.plan import RunPlan, run_plan
from rollout.spec.loader import load_experiment_text
from rollout.status import Phase, Status
from tests.unit.machine.conftest import CANARY, T0, plan_from, proven, run

REPO = Path(__file__).resolve().parents[3]


def test_start_routes_the_first_step_and_turns_on_unconditional_faults(canary_plan: RunPlan) -> None:
    transition = advance(canary_plan, Status(), Start(), T0)
    status = transition.status
    assert status.phase is Phase.PROGRESSING
    assert (status.step, status.traffic.canary_weight) == (0, 5)
    assert status.traffic.faults == ("demo/shop#1",)  # the delay waits for the 10% and 25% steps
    assert not status.traffic_applied, "the intent is recorded before the mesh holds it"
    kinds = [type(a) for a in transition.actions]
    assert kinds == [SetRoute, SetFaults, Notify]


def test_each_advance_after_a_full_step_moves_to_the_next_weight(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (60, proven()), (120, proven()))
    assert (status.step, status.traffic.canary_weight) == (2, 25)
    assert set(status.traffic.faults) == {"demo/shop#0", "demo/shop#1"}


def test_an_advance_before_the_step_has_lasted_its_interval_holds(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (30, proven()))
    assert status.traffic.canary_weight == 5
    assert "more exposure" in status.reason


def test_the_last_advance_promotes_to_all_canary_without_faults(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), *[(60 * i, proven()) for i in range(1, 5)])
    assert status.phase is Phase.SUCCEEDED
    assert status.traffic.canary_weight == 100 and not status.traffic.faults


def test_promotion_waits_for_minimum_exposure(canary_plan: RunPlan) -> None:
    events = [(60 * i, proven()) for i in range(1, 4)] + [(240, proven(canary_n=50))]
    status = run(canary_plan, (0, Start()), *events)
    assert status.phase is Phase.PROGRESSING
    assert "below minRequests 100" in status.reason


def test_promotion_needs_every_metric_proven(canary_plan: RunPlan) -> None:
    mixed = proven().model_copy(update={"metrics": (proven().metrics[0], proven("hold").metrics[1])})
    status = run(canary_plan, (0, Start()), *[(60 * i, proven()) for i in range(1, 4)], (240, mixed))
    assert status.phase is Phase.PROGRESSING
    assert "non-inferiority not proven for latency" in status.reason


def test_a_proven_regression_rolls_back_to_all_stable_with_no_faults(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (60, proven()), (120, proven("rollback")))
    assert status.phase is Phase.ROLLED_BACK
    assert status.traffic.is_safe and status.traffic_applied


def test_no_data_holds_and_spends_the_failure_budget_then_follows_the_policy(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (60, NoData(reason="empty vector")), (120, NoData(reason="empty")))
    assert status.phase is Phase.PROGRESSING and status.holds == 2
    assert status.traffic.canary_weight == 5, "no data holds the weights"
    status = run(canary_plan, (0, Start()), *[(60 * i, NoData(reason="empty")) for i in (1, 2, 3)])
    assert status.phase is Phase.ROLLED_BACK
    assert "failure budget of 2 is spent" in status.reason


def test_prometheus_down_is_not_a_verdict_on_the_canary(canary_plan: RunPlan) -> None:
    outage = MetricsUnavailable(reason="connection refused by 127.0.0.1:9090")
    status = run(canary_plan, (0, Start()), (60, outage))
    assert status.phase is Phase.PROGRESSING
    assert "says nothing about the canary" in status.reason
    status = run(canary_plan, (0, Start()), (60, outage), (120, proven()), (180, outage), (240, outage))
    assert status.phase is Phase.PROGRESSING, "a judgement in between refills the budget"


def test_hold_policy_pauses_with_faults_off() -> None:
    plan = plan_from(CANARY, **{"onNoData: rollback": "onNoData: hold"})
    status = run(plan, (0, Start()), *[(60 * i, NoData(reason="empty")) for i in (1, 2, 3)])
    assert status.phase is Phase.PAUSED and not status.traffic.faults
    assert status.traffic.canary_weight == 5


HOLD = {"onNoData: rollback": "onNoData: hold"}
NO_DATA_3 = [(60 * i, NoData(reason="empty")) for i in (1, 2, 3)]


def test_a_pause_for_a_spent_failure_budget_says_a_resume_is_possible_and_what_it_does() -> None:
    paused = run(plan_from(CANARY, **HOLD), (0, Start()), *NO_DATA_3)
    assert paused.phase is Phase.PAUSED
    assert paused.reason.endswith(
        "paused for an operator to promote, abort or resume, which gives the run its failure budget of 2 anew"
    )


def test_a_resume_after_the_failure_budget_is_spent_gives_the_run_its_budget_anew() -> None:
    plan = plan_from(CANARY, **HOLD)
    resumed = run(plan, (0, Start()), *NO_DATA_3, (200, Command(command="resume", by="alice")))
    assert resumed.phase is Phase.PROGRESSING and resumed.holds == 0
    again = run(plan, (0, Start()), *NO_DATA_3, (200, Command(command="resume")), (260, NoData(reason="empty")))
    assert again.phase is Phase.PROGRESSING, "one step without data after a resume spends 1 of 2, not the run"
    assert "failure budget 1/2 spent" in again.reason


def test_inconclusive_at_max_duration_goes_back_to_stable(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (3600, proven("hold")))
    assert status.phase is Phase.INCONCLUSIVE and status.traffic.is_safe


def test_promote_if_not_critical_promotes_when_only_a_non_critical_metric_is_open() -> None:
    plan = plan_from(CANARY, **{"maxDuration: 1h": "maxDuration: 1h\n    onInconclusive: promote-if-not-critical"})
    open_latency = proven().model_copy(
        update={"outcome": "inconclusive", "metrics": (proven().metrics[0], proven("hold").metrics[1])}
    )
    status = run(plan, (0, Start()), (3600, open_latency))
    assert status.phase is Phase.SUCCEEDED


def test_operator_commands(canary_plan: RunPlan) -> None:
    paused = run(canary_plan, (0, Start()), (10, Command(command="pause")))
    assert paused.phase is Phase.PAUSED and not paused.traffic.faults
    resumed = run(canary_plan, (0, Start()), (10, Command(command="pause")), (20, Command(command="resume")))
    assert resumed.phase is Phase.PROGRESSING and resumed.traffic.faults
    promoted = run(canary_plan, (0, Start()), (10, Command(command="promote", by="alice")))
    assert promoted.phase is Phase.SUCCEEDED and "operator override" in promoted.reason
    aborted = run(canary_plan, (0, Start()), (60, proven()), (70, Command(command="abort")))
    assert aborted.phase is Phase.ABORTED and aborted.traffic.is_safe


def test_a_halt_stops_faults_and_rolls_the_canary_back(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (30, Halt(reason="error-rate 0.09 above 0.05")))
    assert status.phase is Phase.ROLLED_BACK and status.traffic.is_safe
    assert "error-rate 0.09 above 0.05" in status.reason


def test_time_windows_turn_faults_on_and_off_by_tick() -> None:
    plan = plan_from(
        CANARY,
        **{
            "during: {steps: [10, 25]}": "during: {window: {after: 30s, duration: 60s}}",
            "{abort: {httpStatus: 503, percent: 2}, arm: canary}": "{abort: {httpStatus: 503, percent: 2}, "
            "during: {window: {after: 500s, duration: 1s}}}",
        },
    )
    before = run(plan, (0, Start()))
    assert before.traffic.faults == ()
    during = run(plan, (0, Start()), (31, Tick()))
    assert during.traffic.faults == ("demo/shop#0",)
    after = run(plan, (0, Start()), (31, Tick()), (95, Tick()))
    assert after.traffic.faults == ()


def test_terminal_phases_ignore_everything(canary_plan: RunPlan) -> None:
    done = run(canary_plan, (0, Start()), (60, proven("rollback")))
    for event in (Start(), proven(), Command(command="promote"), NoData(reason="x"), Tick()):
        assert advance(canary_plan, done, event, T0 + 500).status == done


def test_with_no_regression_after_a_full_step_the_canary_takes_more_traffic(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), (60, proven("hold")))
    assert status.traffic.canary_weight == 10
    assert status.reason.startswith("no regression after a full step")


def test_a_hold_on_evidence_against_the_canary_keeps_the_weights_whatever_the_step_gate(canary_plan: RunPlan) -> None:
    """A threshold engine's failed check short of its threshold (or a Kayenta score below pass) is not "no
    regression": Flagger halts advancement on it. The failure budget is not spent: the engine counts it."""
    failed = proven("hold").model_copy(
        update={"adverse": True, "reason": "hold: failed check 1 of 5: request-success-rate: 90.57% < min 99%"}
    )
    status = run(canary_plan, (0, Start()), (60, failed), (120, failed))
    assert status.traffic.canary_weight == 5 and status.holds == 0 and status.phase is Phase.PROGRESSING
    assert status.reason == "hold: failed check 1 of 5: request-success-rate: 90.57% < min 99%"
    passed = run(canary_plan, (0, Start()), (60, failed), (120, proven("hold")))
    assert passed.traffic.canary_weight == 10, "a step with every check passing moves on"


def blind() -> Judged:
    """A HOLD from a step the engine could not judge at all (here: the canary got no requests)."""
    reason = "hold: errors: the canary received no requests in step 1"
    return proven("hold").model_copy(update={"blocked": True, "reason": reason})


def test_a_step_that_could_not_be_judged_holds_the_weights_and_spends_the_failure_budget(
    canary_plan: RunPlan,
) -> None:
    status = run(canary_plan, (0, Start()), (60, blind()))
    assert status.traffic.canary_weight == 5 and status.holds == 1, "never 'no regression after a full step'"
    assert status.reason == (
        "holding weights: the step could not be judged (errors: the canary received no requests in step 1); "
        "failure budget 1/2 spent"
    )
    refilled = run(canary_plan, (0, Start()), (60, blind()), (120, proven("hold")))
    assert refilled.traffic.canary_weight == 10 and refilled.holds == 0, "a step judged again moves on"
    spent = run(canary_plan, (0, Start()), *[(60 * i, blind()) for i in (1, 2, 3)])
    assert spent.phase is Phase.INCONCLUSIVE and spent.traffic.canary_weight == 0  # onNoData: rollback
    assert "for 3 steps: the failure budget of 2 is spent" in spent.reason


def test_the_non_inferiority_gate_holds_each_step_until_proven() -> None:
    plan = plan_from(CANARY, **{"failureBudget: 2": "failureBudget: 2\n    stepGate: non-inferiority"})
    held = run(plan, (0, Start()), (60, proven("hold")))
    assert held.traffic.canary_weight == 5
    moved = run(plan, (0, Start()), (60, proven("hold")), (120, proven()))
    assert moved.traffic.canary_weight == 10


def test_the_last_step_never_promotes_on_a_mere_absence_of_regression(canary_plan: RunPlan) -> None:
    status = run(canary_plan, (0, Start()), *[(60 * i, proven("hold")) for i in range(1, 8)])
    assert status.phase is Phase.PROGRESSING and status.traffic.canary_weight == 50


def test_an_operator_kill_switch_removes_faults_for_good_and_the_canary_goes_on(canary_plan: RunPlan) -> None:
    stopped = Halt(reason="faults stopped by 'meshroll chaos stop --all'", operator=True)
    status = run(canary_plan, (0, Start()), (30, stopped), (60, proven()), (120, proven()))
    assert status.phase is Phase.PROGRESSING and status.traffic.canary_weight == 25
    assert status.traffic.faults == (), "the 10% and 25% step faults never come back"


def test_a_drill_whose_faults_an_operator_stopped_ends_aborted_not_succeeded() -> None:
    drill = run_plan(load_experiment_text((REPO / "experiments" / "chaos-only-istio.yaml").read_text()))
    stopped = Halt(reason="faults stopped by 'meshroll chaos stop --all'", operator=True)
    status = run(drill, (0, Start()), (10, stopped))
    assert status.phase is Phase.ABORTED and status.traffic.faults == ()
    assert status.reason.startswith("the drill was ended by an operator before its duration, so it proves nothing")
