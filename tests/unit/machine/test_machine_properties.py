"""Properties that hold for any sequence of events (Hypothesis drives the machine at random)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.events import (
    Applied,
    Command,
    Event,
    Halt,
    Judged,
    MetricNumbers,
    MetricsUnavailable,
    NoData,
    Start,
    Tick,
)  # fmt: skip
from rollout.machine import advance
from rollout.plan import RunPlan
from rollout.status import Phase, Status
from tests.unit.machine.conftest import CANARY, plan_from

PLANS = {
    "canary": plan_from(CANARY),
    "hold-policies": plan_from(CANARY, **{"onNoData: rollback": "onNoData: hold\n    onInconclusive: hold"}),
    "promote-if-not-critical": plan_from(
        CANARY,
        **{"onNoData: rollback": "onNoData: promote-if-not-critical\n    onInconclusive: promote-if-not-critical"},
    ),
}


def _judged(outcome: str, other: str, canary_n: float) -> Judged:
    metrics = (
        MetricNumbers(metric="errors", outcome=outcome, reason="r", canary_n=canary_n, critical=True),
        MetricNumbers(metric="latency", outcome=other, reason="r", canary_n=canary_n),
    )
    return Judged(outcome=outcome, engine="test", reason="r", metrics=metrics)  # type: ignore[arg-type]


outcomes = st.sampled_from(["advance", "hold", "rollback", "inconclusive"])
events: st.SearchStrategy[Event] = st.one_of(
    st.just(Start()),
    st.just(Applied()),
    st.just(Tick()),
    st.builds(_judged, outcomes, outcomes, st.sampled_from([0.0, 50.0, 5000.0])),
    st.builds(NoData, reason=st.just("empty")),
    st.builds(MetricsUnavailable, reason=st.just("refused")),
    st.builds(Command, command=st.sampled_from(["pause", "resume", "promote", "abort"])),
    st.builds(Halt, reason=st.just("slo")),
)
runs = st.lists(st.tuples(st.floats(0, 900), events), max_size=40)


def drive(plan: RunPlan, run: list[tuple[float, Event]]) -> list[Status]:
    statuses = [Status()]
    now = 1_000_000.0
    for gap, event in run:
        now += gap
        statuses.append(advance(plan, statuses[-1], event, now).status)
    return statuses


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(PLANS)), run=runs)
def test_weights_stay_in_range_and_follow_the_schedule(name: str, run: list[tuple[float, Event]]) -> None:
    plan = PLANS[name]
    for status in drive(plan, run):
        weight = status.traffic.canary_weight
        assert 0 <= weight <= 100 and status.traffic.stable_weight == 100 - weight
        if status.phase in (Phase.PROGRESSING, Phase.PAUSED):
            assert weight == plan.weights[status.step]
        if status.phase in (Phase.PROMOTING, Phase.SUCCEEDED):
            assert weight == 100 and not status.traffic.faults


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(PLANS)), run=runs)
def test_every_rollback_or_abort_ends_at_all_stable_with_no_faults(name: str, run: list[tuple[float, Event]]) -> None:
    for status in drive(PLANS[name], run):
        if status.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK, Phase.ABORTED, Phase.INCONCLUSIVE):
            assert status.traffic.is_safe


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(PLANS)), run=runs)
def test_terminal_phases_are_absorbing(name: str, run: list[tuple[float, Event]]) -> None:
    statuses = drive(PLANS[name], run)
    for before, after in itertools.pairwise(statuses):
        if before.phase.terminal:
            assert after.phase is before.phase
            assert after.traffic == before.traffic


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(PLANS)), run=runs)
def test_replaying_the_history_reproduces_the_status(name: str, run: list[tuple[float, Event]]) -> None:
    plan = PLANS[name]
    final = drive(plan, run)[-1]
    replayed = Status()
    for entry in final.history:
        replayed = advance(plan, replayed, entry.event, entry.time).status
    assert replayed == final


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(PLANS)), run=runs)
def test_no_promotion_without_exposure_and_evidence_unless_an_operator_says_so(
    name: str, run: list[tuple[float, Event]]
) -> None:
    plan = PLANS[name]
    for status in drive(plan, run):
        if status.phase is Phase.PROMOTING or (status.phase is Phase.SUCCEEDED and status.history):
            promoting = next(e for e in status.history if e.to_phase in (Phase.PROMOTING, Phase.SUCCEEDED))
            event = promoting.event
            if isinstance(event, Command):
                assert event.command == "promote"
                continue
            judged = (
                event
                if isinstance(event, Judged)
                else next(
                    e.event
                    for e in reversed(status.history[: status.history.index(promoting)])
                    if isinstance(e.event, Judged)
                )
            )
            assert isinstance(judged, Judged)
            assert max(m.canary_n for m in judged.metrics) >= plan.min_requests
            critical = [m for m in judged.metrics if m.critical]
            assert all(m.outcome == "advance" for m in critical)
