"""After a restart, the engine's windows are rebuilt from the history and re-collected (pure parts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.sources import MetricQuery, MetricsUnavailableError, StepSpan
from rollout.events import Applied, Event, Judged, MetricNumbers, MetricsUnavailable, Start
from rollout.judging import step_span
from rollout.kube.evidence import recollect
from rollout.machine import advance
from rollout.plan import run_plan
from rollout.spec.loader import load_experiment_text
from rollout.status import Status
from rollout.windows import last_observation, next_observation_due, next_window_start, observation_spans

EXPERIMENT = load_experiment_text(
    """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: c, namespace: shop}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: istio, virtualService: checkout}
  strategy: {canary: {steps: [10, 30], stepInterval: 100s}}
  analysis:
    minRequests: 1
    metrics: [{name: errors, template: istio-error-rate, margin: 0.5}]
"""
)
PLAN = run_plan(EXPERIMENT)
NAMES = step_span(EXPERIMENT, 0.0, 0.0)  # what the run fills in its queries: checkout in shop, v1 and v2
QUERIES = [MetricQuery("errors", "istio-error-rate", MetricKind.ERRORS)]
PROVEN = (MetricNumbers(metric="errors", outcome="advance", reason="ok", canary_n=100.0),)


def run(events: Sequence[tuple[float, Event]]) -> Status:
    status = Status()
    for now, event in events:
        status = advance(PLAN, status, event, now).status
    return status


HISTORY = run(
    [
        (100.0, Start()),
        (100.1, Applied()),
        (110.0, Judged(outcome="hold", engine="sequential", reason="h")),
        (120.0, MetricsUnavailable(reason="down")),
        (210.0, Judged(outcome="advance", engine="sequential", reason="a", metrics=PROVEN)),  # a full step: to 30%
        (210.1, Applied()),
        (220.0, Judged(outcome="hold", engine="sequential", reason="h")),
    ]
)


class Recording:
    def __init__(self, fail_at: int | None = None, empty_at: int | None = None) -> None:
        self.spans: list[StepSpan] = []
        self.fail_at, self.empty_at = fail_at, empty_at

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        self.spans.append(span)
        if len(self.spans) == self.fail_at:
            raise MetricsUnavailableError("Prometheus at http://p:9090 refused the connection")
        if len(self.spans) == self.empty_at:
            return {}
        return {"errors": MetricPair(ArmSample(900, 1), ArmSample(100, 1))}


def test_the_observation_windows_are_contiguous_from_the_moment_each_weight_was_applied() -> None:
    spans = observation_spans(HISTORY.history)
    assert [(s.start, s.end, s.canary_weight, s.judged) for s in spans] == [
        (100.1, 110.0, 10.0, True),  # not from the start (100.0): the mesh took 10% at 100.1
        (110.0, 120.0, 10.0, False),  # metrics unavailable: no window for the engine
        (120.0, 210.0, 10.0, True),
        (210.1, 220.0, 30.0, True),  # requests between the judgement and the write went by 10%
    ]
    assert last_observation(HISTORY.history) == 220.0


def test_the_next_window_starts_when_the_new_weight_was_applied_if_that_came_after_the_last_observation() -> None:
    moved = run(
        [
            (100.0, Start()),
            (100.1, Applied()),
            (200.2, Judged(outcome="advance", engine="sequential", reason="a", metrics=PROVEN)),  # a full step
            (200.4, Applied()),
        ]
    )
    assert next_window_start(moved.history) == 200.4
    assert next_window_start(HISTORY.history) == 220.0
    assert next_window_start(run([(100.0, Start())]).history) is None  # nothing applied yet: the step start


def test_recollect_queries_every_judged_window_again_and_the_next_window_starts_after_the_last() -> None:
    source = Recording()
    evidence = recollect(HISTORY, source, QUERIES, plan=PLAN, names=NAMES)
    assert evidence.restarted is None
    assert [(w.index, w.start, w.end, w.canary_weight) for w in evidence.windows] == [
        (0, 100.1, 110.0, 10.0),
        (1, 120.0, 210.0, 10.0),
        (2, 210.1, 220.0, 30.0),
    ]
    assert next_window_start(HISTORY.history) == 220.0  # where the resumed orchestrator's next window starts
    assert {(s.service, s.namespace, s.stable_version, s.canary_version) for s in source.spans} == {
        ("checkout", "shop", "v1", "v2")
    }


def test_the_evidence_restarts_when_a_window_cannot_be_read_again() -> None:
    for source in (Recording(fail_at=2), Recording(empty_at=3)):
        evidence = recollect(HISTORY, source, QUERIES, plan=PLAN, names=NAMES)
        assert evidence.windows == ()  # the next window still starts at 220.0: no judged request counts twice
        assert evidence.restarted is not None


def test_a_run_with_no_judgement_yet_has_no_windows() -> None:
    started = run([(100.0, Start()), (100.1, Applied())])
    evidence = recollect(started, Recording(), QUERIES, plan=PLAN, names=NAMES)
    assert evidence.windows == () and evidence.restarted is None
    assert next_window_start(started.history) == 100.1


def test_the_next_observation_is_due_an_interval_after_the_last_one_or_the_step_start() -> None:
    assert HISTORY.phase.value == "Progressing" and HISTORY.step == 1
    assert next_observation_due(HISTORY, PLAN) == 320.0
    started = run([(100.0, Start()), (100.1, Applied())])
    assert next_observation_due(started, PLAN) == 200.1  # from when the mesh took it


def test_the_last_observation_is_due_at_the_deadline_not_a_step_interval_after_it() -> None:
    started = run([(100.0, Start()), (100.1, Applied())])
    # the mesh took the first split at 100.1, + 50, and just after
    assert next_observation_due(started, replace(PLAN, max_duration=50.0)) == pytest.approx(150.11)
    assert next_observation_due(started, replace(PLAN, max_duration=150.0)) == 200.1  # the interval comes first
    assert next_observation_due(started, replace(PLAN, max_duration=0.0)) == 200.1  # past: never due in the past
