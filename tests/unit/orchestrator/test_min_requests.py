"""minRequests counts the requests the canary served over the whole run, for every engine: the machine's
promotion gate reads the count the engine kept (``Judged.canary_requests``), not a verdict's sample size,
which is Kayenta's points per arm and the threshold engine's latest window."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.engines import engine_for
from analysis.observations import ArmSample, MetricPair
from rollout.events import Judged
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricQuery, StepSpan
from rollout.spec import load_experiment_text
from rollout.status import Phase
from tests.unit.orchestrator.doubles import drive

EXPERIMENT = """\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10, 30], stepInterval: 60s}}
  analysis:
    engine: ENGINE
    minRequests: 500
    maxDuration: MAXs
    onInconclusive: rollback
    metrics:
      - {name: errors, template: istio-error-rate, thresholdRange: {min: 99}}
"""


class Healthy:
    """Every window the canary serves ``canary`` requests, the stable 9 times as many; both fail about 0.2%."""

    def __init__(self, canary: float) -> None:
        self.canary = canary
        self.window = 0

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        self.window += 1
        errors = 0.002 + 0.0002 * (self.window % 3)  # points that differ a little from window to window
        pair = MetricPair(ArmSample(9 * self.canary, 9 * self.canary * errors), ArmSample(self.canary, 0.0))
        return {m.name: pair for m in metrics}


def run(engine: str, canary: float, windows: int, max_duration: int = 3600) -> Orchestrator:
    text = EXPERIMENT.replace("ENGINE", engine).replace("MAX", str(max_duration))
    orchestrator, _ = drive(load_experiment_text(text), lambda _mesh: Healthy(canary), engine_for(engine), windows)
    return orchestrator


def judgements(orchestrator: Orchestrator) -> list[Judged]:
    return [e.event for e in orchestrator.status.history if isinstance(e.event, Judged)]


def test_kayenta_promotes_on_the_requests_the_canary_served_not_on_its_points_per_arm() -> None:
    orchestrator = run("kayenta", canary=300, windows=5)

    assert orchestrator.status.phase is Phase.SUCCEEDED, orchestrator.status.reason
    last = judgements(orchestrator)[-1]
    assert [m.canary_n for m in last.metrics] == [3.0], "n stays Kayenta's points per arm"
    assert last.canary_requests == 900, "three windows of 300 canary requests"
    assert (
        orchestrator.status.reason == "Kayenta score 100 passes with at least 3 points per arm and 900 canary requests"
    )


def test_threshold_promotes_at_the_end_of_its_schedule_on_the_requests_of_the_whole_run() -> None:
    orchestrator = run("threshold", canary=300, windows=5)  # 300 a window: never 500 in one window

    assert orchestrator.status.phase is Phase.SUCCEEDED, orchestrator.status.reason
    first, last = judgements(orchestrator)
    assert "promotion needs 500 canary requests (has 300)" in first.reason
    assert last.canary_requests == 600 and [m.canary_n for m in last.metrics] == [300.0]
    assert orchestrator.status.reason == (
        "advance: every metric is within range at judgement 2, and the canary served 600 requests (at least 500)"
    )


def test_a_canary_short_of_min_requests_at_the_deadline_is_told_so_not_to_raise_max_duration() -> None:
    # the schedule (120 s) fits in maxDuration; the canary's 200 requests a window do not reach 500 by then
    orchestrator = run("threshold", canary=200, windows=5, max_duration=120)

    assert orchestrator.status.phase is Phase.INCONCLUSIVE
    reason = orchestrator.status.reason
    assert "promotion needs 500 canary requests (has 400)" in reason
    assert "(the canary needs more requests before the deadline to reach minRequests 500: raise maxDuration" in reason
    assert "raise maxDuration to at least the schedule's" not in reason, "the schedule was through"
    assert "wider margin" not in reason, "every metric was within range: a margin is not what to change"
