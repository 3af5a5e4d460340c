"""The decision trail a run prints: each reason once, with the numbers under each decision."""

from __future__ import annotations

from rollout.events import Applied, Judged, MetricNumbers
from rollout.status import HistoryEntry, Phase, Traffic
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
