"""Events on a real API server: one per transition, with the numbers; repeats fold into a series, written at a
falling rate (a fake clock stands for hours of a stuck run)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from analysis.observations import MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.events import Judged, MetricNumbers
from rollout.kube.events import FIRST_REPEAT_S, MAX_NOTE, MAX_REPEAT_S, EventRecorder, EventText
from rollout.kube.objects import reference
from rollout.status import HistoryEntry, Phase, Traffic
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, experiment

pytestmark = pytest.mark.controlplane


class NoData:
    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        return {}


def test_a_transition_is_posted_with_its_numbers_and_a_repeat_becomes_a_series(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    obj = kube.create_experiment(experiment(namespace, "c"))
    now = [1000.0]
    recorder = EventRecorder(controlplane.api_client(), instance="replica-a", clock=lambda: now[0])
    numbers = MetricNumbers(
        metric="error-rate", outcome="rollback", reason="r", estimate=4.0, stable_n=900, canary_n=100
    )
    entry = HistoryEntry(
        time=1.0,
        event=Judged(outcome="rollback", engine="sequential", reason="regression", metrics=(numbers,)),
        from_phase=Phase.PROGRESSING,
        to_phase=Phase.ROLLING_BACK,
        step=0,
        traffic=Traffic(),
        reason="error-rate regressed",
    )
    recorder.transition(reference(obj), entry, 1)
    problem = EventText("Warning", "MeshError", "Reconcile", "VirtualService x not found: create it")
    for _ in range(3):
        now[0] += 1.0
        recorder.record(reference(obj), problem)
    assert "series" not in {e["reason"]: e for e in kube.events(namespace, "c")}["MeshError"]  # counted, not sent
    now[0] += FIRST_REPEAT_S
    recorder.record(reference(obj), problem)

    events = {e["reason"]: e for e in kube.events(namespace, "c")}
    assert set(events) == {"RollingBack", "MeshError"}
    rolling = events["RollingBack"]
    assert rolling["type"] == "Warning" and rolling["reportingController"] == "meshroll.io/controller"
    assert rolling["reportingInstance"] == "replica-a" and rolling["regarding"]["uid"] == obj["metadata"]["uid"]
    assert "error-rate rollback est=4 n=900/100" in rolling["note"]
    assert events["MeshError"]["series"]["count"] == 4
    assert (recorder.posted, recorder.deduplicated, recorder.series_writes) == (2, 3, 1)
    described = controlplane.kubectl("describe", "experiment", "c", "-n", namespace).stdout
    assert "RollingBack" in described and "MeshError" in described and "(x4 over" in described


def test_a_run_stuck_on_one_problem_for_hours_is_one_event_written_a_few_times_an_hour(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    """The controller reports a failing run's problem at every retry: a minute apart at its longest backoff."""
    obj = kube.create_experiment(experiment(namespace, "stuck"))
    now = [1000.0]
    recorder = EventRecorder(controlplane.api_client(), instance="replica-a", clock=lambda: now[0])
    problem = EventText("Warning", "MeshError", "Reconcile", "VirtualService x: 422 refused (retrying in 60s)")
    minutes = 3 * 60
    for minute in range(minutes):
        now[0] = 1000.0 + 60.0 * minute
        recorder.record(reference(obj), problem)

    (event,) = kube.events(namespace, "stuck")
    writes = recorder.posted + recorder.series_writes
    assert writes <= 10, f"{writes} writes for {minutes} reports"
    assert event["type"] == "Warning" and event["note"] == problem.note
    # every repeat up to the last write; those of the last hour at most wait for the next one
    assert minutes - 60 <= event["series"]["count"] <= minutes, event["series"]

    now[0] += MAX_REPEAT_S  # the problem has stopped; the controller flushes every half minute
    recorder.flush()
    (event,) = kube.events(namespace, "stuck")
    assert event["series"]["count"] == minutes, "the series ends at every report"


def test_a_stopping_controller_writes_the_repeats_its_events_counted_but_had_not_written(
    controlplane: ControlPlane, kube: Api, namespace: str, start_controller: ControllerFactory
) -> None:
    obj = kube.create_experiment(experiment(namespace, "quiet"))
    elsewhere = controlplane.create_namespace("mr")  # it watches another namespace: its Events are the test's
    controller = start_controller(NoData, namespaces=(elsewhere,))
    problem = EventText("Warning", "MeshError", "Reconcile", "VirtualService x: 422 refused (retrying in 60s)")
    for _ in range(3):  # within the minute before a first repeat is written
        controller.recorder.record(reference(obj), problem)
    assert "series" not in {e["reason"]: e for e in kube.events(namespace, "quiet")}["MeshError"]

    controller.stop()

    assert {e["reason"]: e for e in kube.events(namespace, "quiet")}["MeshError"]["series"]["count"] == 3


def test_a_note_longer_than_an_event_may_hold_is_clipped_not_refused(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    obj = kube.create_experiment(experiment(namespace, "c"))
    recorder = EventRecorder(controlplane.api_client(), instance="replica-a")
    recorder.record(reference(obj), EventText("Warning", "InvalidSpec", "Validate", "spec.target: " + "x" * 3000))

    (event,) = kube.events(namespace, "c")
    assert len(event["note"].encode()) == MAX_NOTE and event["note"].endswith("...")
