"""The stored ``.status``: meshroll's Status with the run info and conditions alongside, and back."""

from __future__ import annotations

import json
import math

from rollout.events import Applied, Judged, MetricNumbers, Start
from rollout.kube.document import KEEP_ENTRIES, MAX_PREVIOUS_RUNS, RunInfo, compose, same_history, same_spec, split
from rollout.kube.status_size import judged_run
from rollout.status import HistoryEntry, Phase, Status, Traffic
from rollout.windows import observation_spans

SPEC = {"target": {"service": "checkout", "canary": {"version": "v2"}}, "mesh": {"provider": "istio"}}


def judged_status(e_value: float) -> Status:
    event = Judged(
        outcome="hold",
        engine="sequential",
        reason="r",
        metrics=(MetricNumbers(metric="m", outcome="hold", reason="r", e_value=e_value),),
    )
    entries = (
        HistoryEntry(
            time=1.0,
            event=Start(),
            from_phase=Phase.PENDING,
            to_phase=Phase.PROGRESSING,
            step=0,
            traffic=Traffic(canary_weight=5),
            reason="s",
        ),
        HistoryEntry(
            time=2.0,
            event=event,
            from_phase=Phase.PROGRESSING,
            to_phase=Phase.PROGRESSING,
            step=0,
            traffic=Traffic(canary_weight=5),
            reason="h",
        ),
    )
    return Status(phase=Phase.PROGRESSING, step=0, traffic=Traffic(canary_weight=5), history=entries)


def test_compose_then_split_gives_back_the_status_and_the_run_info() -> None:
    status = judged_status(3.5)
    info = RunInfo(run=2, generation=4, spec=SPEC, observed_generation=5, last_command="pause")
    body = compose(status, info, [{"type": "Ready", "status": "True"}], "replica-a")
    json.dumps(body, allow_nan=False)  # what the API server accepts
    assert body["phase"] == "Progressing" and body["traffic"]["canaryWeight"] == 5  # meshroll's fields, as they are
    assert (body["observedGeneration"], body["run"], body["runGeneration"], body["controller"]) == (
        5,
        2,
        4,
        "replica-a",
    )
    assert (body["state"], body["currentStep"]) == ("Progressing", 1)  # the printer columns': step index 0 is "step 1"
    stored = split(json.loads(json.dumps(body)))
    assert stored.status == status
    assert stored.info == info
    assert stored.conditions == ({"type": "Ready", "status": "True"},)


def entry(time: float, event: Start | Applied, weight: int, step: int = 0) -> HistoryEntry:
    phase = Phase.PROGRESSING
    return HistoryEntry(
        time=time,
        event=event,
        from_phase=phase,
        to_phase=phase,
        step=step,
        traffic=Traffic(canary_weight=weight),
        reason="",
    )


def test_the_weight_column_shows_what_the_mesh_took_not_the_intent_it_refused() -> None:
    history = (entry(1.0, Start(), 5), entry(2.0, Applied(), 5), entry(60.0, Start(), 10, step=1))
    refused = Status(
        phase=Phase.PROGRESSING, step=1, traffic=Traffic(canary_weight=10), traffic_applied=False, history=history
    )
    body = compose(refused, RunInfo(run=1), [], "a")
    assert (body["meshWeight"], body["traffic"]["canaryWeight"]) == (5, 10)
    history = (*history, entry(61.0, Applied(), 10, step=1))
    taken = refused.model_copy(update={"traffic_applied": True, "history": history})
    assert compose(taken, RunInfo(run=1), [], "a")["meshWeight"] == 10
    assert (
        compose(Status(phase=Phase.PROGRESSING, step=0, traffic=Traffic(canary_weight=5)), RunInfo(run=1), [], "a")[
            "meshWeight"
        ]
        == 0
    )  # nothing taken yet: all stable
    assert split(body).status == refused  # a column, not part of meshroll's Status


def test_infinite_and_nan_numbers_are_stored_as_null_and_still_compare_equal_to_what_was_written() -> None:
    status = judged_status(math.inf)
    body = compose(status, RunInfo(run=1), [], "a")
    json.dumps(body, allow_nan=False)
    stored = split(body)
    assert stored.status is not None and stored.status != status  # inf came back as None
    assert same_history(stored.status, status)


def test_an_empty_or_unreadable_status_means_no_run_yet() -> None:
    assert split(None).status is None and split({}).info == RunInfo()
    garbage = split({"run": 1, "phase": "Sideways"})
    assert garbage.status is None and garbage.info.run == 1


def test_a_new_run_sums_up_the_last_one_and_keeps_only_the_latest_runs() -> None:
    info = RunInfo(run=1, generation=1, spec=SPEC)
    ended = Status(phase=Phase.ROLLED_BACK, reason="regression", started_at=10.0, updated_at=20.0)
    for generation in range(2, MAX_PREVIOUS_RUNS + 5):
        info = info.next_run(generation, SPEC, ended)
    assert info.run == MAX_PREVIOUS_RUNS + 4 and info.generation == MAX_PREVIOUS_RUNS + 4
    assert len(info.previous) == MAX_PREVIOUS_RUNS
    assert info.previous[-1] == {
        "run": MAX_PREVIOUS_RUNS + 3,
        "generation": MAX_PREVIOUS_RUNS + 3,
        "canaryVersion": "v2",
        "phase": "RolledBack",
        "reason": "regression",
        "startedAt": 10.0,
        "finishedAt": 20.0,
    }


def test_same_spec_ignores_key_order_only() -> None:
    assert same_spec({"a": 1, "b": {"c": 2}}, {"b": {"c": 2}, "a": 1})
    assert not same_spec({"a": 1}, {"a": 2})
    assert not same_spec(None, {"a": 1})


def long_run(judgements: int, metrics: int, steps: int, thin: bool = True) -> Status:
    """A run that judged every minute, thinned as the machine records it (or not)."""
    return judged_run(judgements, metrics, steps, keep_every_number=not thin)


def test_the_machine_keeps_the_numbers_of_the_newest_judgements_of_each_steps_last_and_of_each_move() -> None:
    history = long_run(judgements=100, metrics=2, steps=4).history
    kept = [i for i, e in enumerate(history) if isinstance(e.event, Judged) and e.event.metrics]
    # steps 0-2's last holds, the judgements that advanced the run to steps 1-3, and the newest 20
    assert kept == [24, 25, 49, 50, 74, 75, *range(80, 100)]


def test_the_stored_status_thins_an_unthinned_history_as_the_machine_does() -> None:
    # A status from an older meshroll (whole history) is stored exactly as the machine's own.
    machine, whole = long_run(300, 2, 4), long_run(300, 2, 4, thin=False)
    assert machine != whole
    assert compose(machine, RunInfo(run=1), [], "a") == compose(whole, RunInfo(run=1), [], "a")


def test_a_week_of_judgements_on_twenty_metrics_fits_in_a_kubernetes_object() -> None:
    status = long_run(judgements=7 * 1440, metrics=20, steps=6)  # a week at a 1-minute interval
    body = compose(status, RunInfo(run=1), [], "a")
    stored = len(json.dumps(body))
    assert stored < 1_000_000, stored  # the API server takes at most 1.5 MiB
    assert len(body["history"]) == KEEP_ENTRIES and body["history"][-1] == json.loads(
        status.history[-1].model_dump_json(by_alias=True)
    )
    back = split(json.loads(json.dumps(body)))
    assert back.status is not None and same_history(back.status, status)  # still our history after a restart
    assert [(e.time, e.step, e.traffic, e.event.type) for e in back.status.history] == [
        (e.time, e.step, e.traffic, e.event.type) for e in status.history
    ]
    assert observation_spans(back.status.history) == observation_spans(status.history)  # same evidence windows
    steps_last = [e for e in back.status.history if isinstance(e.event, Judged) and e.event.metrics]
    # each step's last (for the report), the 5 advances and the newest 20, numbers and all
    assert len(steps_last) == 5 + 5 + 20


def test_a_status_written_before_packing_reads_the_same() -> None:
    status = long_run(judgements=50, metrics=1, steps=2)
    old_style = json.loads(status.model_dump_json(by_alias=True)) | {"run": 1}  # no earlierHistory
    back = split(old_style)
    assert back.status is not None and back.status.history == status.history
