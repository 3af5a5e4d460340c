"""The decision trail a run prints: each reason once, with the numbers under each decision."""

from __future__ import annotations

from rollout.cli.run_commands import decided_by
from rollout.events import Applied, Judged, MetricNumbers
from rollout.status import HistoryEntry, Phase, Status, Traffic
from rollout.trail import entry_lines

REASON = "no regression after a full step; hold: error-rate: error rate 0.46% vs 0.29%"


def entry(event: object, time: float, reason: str = REASON) -> HistoryEntry:
    return HistoryEntry(
        time=time,
        event=event,
        from_phase=Phase.PROGRESSING,
        to_phase=Phase.PROGRESSING,
        step=1,
        traffic=Traffic(canary_weight=25),
        reason=reason,
    )  # type: ignore[arg-type]


def test_the_weights_applied_after_a_decision_do_not_repeat_its_reason() -> None:
    numbers = MetricNumbers(metric="error-rate", outcome="hold", reason="r", estimate=1.6, stable_n=10, canary_n=5)
    judged = entry(Judged(outcome="hold", engine="sequential", reason=REASON, metrics=(numbers,)), 8.0)
    applied = entry(Applied(), 8.0)
    decision = entry_lines(judged, 0.0)
    assert decision[0].endswith(f"weights 75/25: {REASON}") and "error-rate: HOLD" in decision[1]
    assert entry_lines(applied, 0.0, previous=judged) == [
        "[   8.0s] applied             Progressing                weights 75/25"
    ]


def test_an_entry_with_a_reason_of_its_own_keeps_it() -> None:
    judged = entry(Judged(outcome="hold", engine="sequential", reason=REASON), 8.0)
    applied = entry(Applied(), 9.0, reason="mesh restored after an error")
    assert entry_lines(applied, 0.0, previous=judged)[0].endswith(": mesh restored after an error")
    assert entry_lines(entry(Applied(), 0.0), 0.0)[0].endswith(REASON), "the first entry has nothing before it"


def test_the_demo_summary_names_the_metric_that_decided_a_rollback_and_the_evidence() -> None:
    bad = MetricNumbers(
        metric="error-rate", outcome="rollback", reason="r", estimate=8.77, e_value=456.0, stable_n=1, canary_n=1
    )
    fine = MetricNumbers(metric="latency", outcome="hold", reason="r", estimate=1.03, stable_n=1, canary_n=1)
    judged = entry(Judged(outcome="rollback", engine="sequential", reason="rollback: ...", metrics=(fine, bad)), 16.0)
    status = Status(reason="rollback: error-rate: error rate 2.15% vs 0.22% (ratio 8.77, CS [1.74, 42.5]); ...",
                    history=(judged,))  # fmt: skip
    assert decided_by(status) == "error-rate: ratio 8.77, e-value 456"


def test_the_demo_summary_says_a_promotion_in_a_few_words() -> None:
    ok = MetricNumbers(metric="latency", outcome="advance", reason="r", stable_n=1, canary_n=1)
    judged = entry(Judged(outcome="advance", engine="sequential", reason="advance: ...", metrics=(ok, ok)), 24.0)
    assert decided_by(Status(reason="advance: all 2 metrics are non-inferior and ...", history=(judged,))) == (
        "all 2 metrics non-inferior"
    )
    assert decided_by(Status(reason="halted: steady state broken: error-rate above 5%")) == (
        "steady state broken: error-rate above 5%"
    )


def test_a_judgement_that_moves_the_weights_shows_those_it_was_measured_at_then_the_new_ones() -> None:
    before = entry(Judged(outcome="hold", engine="sequential", reason=REASON), 8.0)
    moved = entry(Judged(outcome="advance", engine="sequential", reason="r", canary_share=24.6), 16.0, reason="r")
    moved = moved.model_copy(update={"traffic": Traffic(canary_weight=50)})

    line = entry_lines(moved, 0.0, previous=before)[0]

    assert "weights 75/25 -> 50/50 (the canary served 24.6% of the requests just judged): r" in line
