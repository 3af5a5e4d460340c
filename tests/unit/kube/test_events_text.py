"""Each transition becomes one Event with a CamelCase reason and the numbers in its note (pure)."""

from __future__ import annotations

import math

from rollout.events import Applied, Command, Judged, MetricNumbers, NoData, Start
from rollout.kube.events import MAX_NOTE, describe, micro_time
from rollout.status import HistoryEntry, Phase, Traffic

NUMBERS = MetricNumbers(
    metric="error-rate",
    outcome="rollback",
    reason="regression proven",
    estimate=3.2,
    interval=(1.8, 5.1),
    e_value=250.0,
    stable_n=4000,
    canary_n=800,
    stable_value=0.002,
    canary_value=0.031,
    critical=True,
)


def entry(event: object, before: Phase, after: Phase, step: int, weight: int, reason: str = "r") -> HistoryEntry:
    return HistoryEntry(
        time=1.0,
        event=event,
        from_phase=before,
        to_phase=after,
        step=step,
        traffic=Traffic(canary_weight=weight),
        reason=reason,
    )  # type: ignore[arg-type]


def test_reasons_name_what_happened() -> None:
    progressing = Phase.PROGRESSING
    step0 = entry(Start(), Phase.PENDING, progressing, 0, 10)
    cases = [
        (step0, None, "Started", "Normal"),
        (entry(Applied(), progressing, progressing, 0, 10), step0, "TrafficApplied", "Normal"),
        (
            entry(Judged(outcome="advance", engine="s", reason="ok"), progressing, progressing, 1, 30),
            step0,
            "Advanced",
            "Normal",
        ),
        (
            entry(Judged(outcome="hold", engine="s", reason="h"), progressing, progressing, 0, 10),
            step0,
            "Holding",
            "Normal",
        ),
        (entry(NoData(reason="quiet"), progressing, progressing, 0, 10), step0, "NoData", "Normal"),
        (
            entry(Judged(outcome="rollback", engine="s", reason="bad"), progressing, Phase.ROLLING_BACK, 0, 0),
            step0,
            "RollingBack",
            "Warning",
        ),
        (entry(Applied(), Phase.ROLLING_BACK, Phase.ROLLED_BACK, 0, 0), None, "RolledBack", "Warning"),
        (entry(Command(command="pause"), progressing, Phase.PAUSED, 0, 10), None, "Paused", "Normal"),
        (entry(Command(command="resume"), Phase.PAUSED, progressing, 0, 10), None, "Resumed", "Normal"),
        (entry(Applied(), Phase.PROMOTING, Phase.SUCCEEDED, 1, 100), None, "Succeeded", "Normal"),
    ]
    for history_entry, previous, reason, kind in cases:
        text = describe(history_entry, 1, previous)
        assert (text.reason, text.type) == (reason, kind), history_entry.event


def test_the_note_carries_the_run_the_step_the_weights_and_each_metric_s_numbers() -> None:
    judged = Judged(outcome="rollback", engine="sequential", reason="error-rate regressed", metrics=(NUMBERS,))
    note = describe(entry(judged, Phase.PROGRESSING, Phase.ROLLING_BACK, 1, 0, "error-rate regressed"), 2).note
    assert note.startswith("run 2, step 2, RollingBack: stable 100% / canary 0%; error-rate regressed; ")
    assert "error-rate rollback est=3.2 cs=[1.8, 5.1] e=250 stable=0.002 canary=0.031 n=4000/800" in note


def test_an_unbounded_interval_end_reads_as_infinity() -> None:
    unbounded = NUMBERS.model_copy(update={"outcome": "hold", "estimate": 0.0, "interval": (0.0, math.inf)})
    judged = Judged(outcome="hold", engine="sequential", reason="not yet known", metrics=(unbounded,))
    note = describe(entry(judged, Phase.PROGRESSING, Phase.PROGRESSING, 0, 10, "not yet known"), 1).note
    assert "est=0 cs=[0, ∞]" in note


def test_a_note_never_exceeds_the_api_limit() -> None:
    long = describe(entry(Start(), Phase.PENDING, Phase.PROGRESSING, 0, 10, "é" * 2000), 1)
    assert len(long.note.encode()) <= MAX_NOTE and long.note.endswith("...")


def test_event_times_are_micro_times() -> None:
    assert micro_time(1.5) == "1970-01-01T00:00:01.500000Z"
