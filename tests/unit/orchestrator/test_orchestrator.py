"""The orchestrator carries out the machine's actions: intent first, then the mesh, then 'applied'.

Test doubles here (a recording provider, a scripted judge, a counter source) are in-memory stand-ins
for the adapters; the real ones are exercised by the integration and end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from analysis.observations import ArmSample, EngineConfig, MetricPair, StepWindow
from analysis.verdicts import Decision, MetricVerdict, Outcome
from rollout.machine import Notify
from rollout.mesh.plan import TrafficPlan
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricQuery, MetricsUnavailableError, StepSpan
from rollout.spec import Experiment, load_experiment_text
from rollout.status import Phase, Status
from rollout.store import MemoryStore
from tests.unit.machine.conftest import CANARY
from tests.unit.orchestrator.doubles import Clock, RecordingProvider


class ScriptedJudge:
    name = "scripted"

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes
        self.seen: list[int] = []

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        self.seen.append(len(steps))
        outcome = self.outcomes.pop(0)
        metrics = tuple(
            MetricVerdict(m.name, outcome, "scripted", canary_n=5000, stable_n=5000) for m in config.metrics
        )
        return Decision(outcome, f"scripted {outcome.value}", "scripted", metrics)


class Source:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        if self.fail:
            raise MetricsUnavailableError("connection refused")
        pair = MetricPair(ArmSample(9000, 9), ArmSample(1000, 1))
        return {m.name: pair for m in metrics}


class FailingNotifier:
    def notify(self, experiment: Experiment, status: object, note: Notify) -> None:
        raise RuntimeError("slack is down")


@pytest.fixture
def experiment() -> Experiment:
    return load_experiment_text(CANARY)


def make(
    experiment: Experiment,
    judge: ScriptedJudge,
    provider: RecordingProvider,
    store: MemoryStore,
    clock: Clock,
    source: Source | None = None,
) -> Orchestrator:
    return Orchestrator(
        experiment, provider, source or Source(), judge, store, clock=clock, notifiers=[FailingNotifier()]
    )


def test_a_whole_canary_promotes_and_the_mesh_follows_every_step(experiment: Experiment) -> None:
    clock, provider, store = Clock(), RecordingProvider(), MemoryStore()
    judge = ScriptedJudge([Outcome.ADVANCE] * 4)
    orchestrator = make(experiment, judge, provider, store, clock)
    orchestrator.start()
    for _ in range(4):
        clock.now += 60
        orchestrator.observe()
    assert orchestrator.status.phase is Phase.SUCCEEDED
    assert [p.canary_weight for p in provider.plans] == [5, 10, 25, 50, 100]
    assert judge.seen == [1, 2, 3, 4], "the engine sees every step so far"
    assert store.status == orchestrator.status


def test_the_intent_is_saved_before_the_mesh_is_touched_and_resumed_after_a_crash(experiment: Experiment) -> None:
    clock, store = Clock(), MemoryStore()
    crashing = RecordingProvider(fail_times=1)
    with pytest.raises(ConnectionError):
        make(experiment, ScriptedJudge([]), crashing, store, clock).start()
    assert store.status is not None
    assert store.status.phase is Phase.PROGRESSING and not store.status.traffic_applied
    healthy = RecordingProvider()
    resumed = make(experiment, ScriptedJudge([Outcome.ROLLBACK]), healthy, store, clock)
    resumed.resume()
    assert healthy.plans[-1].canary_weight == 5 and resumed.status.traffic_applied
    clock.now += 60
    resumed.observe()
    assert resumed.status.phase is Phase.ROLLED_BACK
    assert healthy.plans[-1] == TrafficPlan.all_stable()


def test_metrics_unavailable_holds_without_asking_the_engine(experiment: Experiment) -> None:
    clock, provider, store = Clock(), RecordingProvider(), MemoryStore()
    judge = ScriptedJudge([])
    orchestrator = make(experiment, judge, provider, store, clock, source=Source(fail=True))
    orchestrator.start()
    clock.now += 60
    orchestrator.observe()
    assert orchestrator.status.phase is Phase.PROGRESSING and orchestrator.status.holds == 1
    assert judge.seen == []
    assert "connection refused" in orchestrator.status.reason


def test_a_failing_notifier_never_stops_the_rollout(experiment: Experiment) -> None:
    clock = Clock()
    orchestrator = make(experiment, ScriptedJudge([Outcome.ROLLBACK]), RecordingProvider(), MemoryStore(), clock)
    orchestrator.start()
    clock.now += 60
    orchestrator.observe()
    assert orchestrator.status.phase is Phase.ROLLED_BACK


class SlowProvider(RecordingProvider):
    """A mesh whose writes take 0.4 s (an API server and a proxy push), on the test's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def apply(self, plan: TrafficPlan) -> None:
        self.clock.now += 0.4
        super().apply(plan)


class SpanSource(Source):
    def __init__(self) -> None:
        super().__init__()
        self.spans: list[tuple[float, float]] = []

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        self.spans.append((span.start, span.end))
        return super().collect(span, metrics)


def test_each_window_starts_when_the_mesh_took_the_weight_it_is_judged_at(experiment: Experiment) -> None:
    clock, source = Clock(), SpanSource()
    judge = ScriptedJudge([Outcome.HOLD, Outcome.ADVANCE, Outcome.HOLD])
    orchestrator = make(experiment, judge, SlowProvider(clock), MemoryStore(), clock, source=source)
    started = clock.now
    orchestrator.start()
    for _ in range(3):
        clock.now += 30
        orchestrator.observe()
    assert source.spans == [
        (started + 0.4, started + 30.4),  # 5% from the moment the write returned
        (started + 30.4, started + 60.4),  # a hold keeps the weight: windows are contiguous
        (started + 60.8, started + 90.8),  # 10% only after its write, not from the judgement that chose it
    ]
    kept = 0.98  # CANARY's canary always loses 2% of its requests to an injected abort, which no backend counts
    shares = [100 * w * kept / (w * kept + 1 - w) for w in (0.05, 0.05, 0.10)]
    assert [w.canary_weight for w in orchestrator.windows] == pytest.approx(shares)
    applied = [e.time for e in orchestrator.status.history if e.event.type == "applied"]
    assert applied == [started + 0.4, started + 60.8], "the history records when the mesh took each weight"


class SweepingProvider(RecordingProvider):
    """A mesh that still holds the run's cohort route when the process restarts (the sweep removes it)."""

    def sweep(self, owner: str) -> list[str]:
        return [f"meshroll-ab-{owner.replace('/', '.')}"]


AB_TEST = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {abTest: {match: [{headers: {x-beta: "1"}}], duration: 10m}}
  analysis:
    metrics: [{name: errors, template: istio-error-rate}]
"""


def test_a_resumed_ab_run_gets_its_cohort_route_back_right_after_the_sweep() -> None:
    clock, store = Clock(), MemoryStore()
    experiment = load_experiment_text(AB_TEST)
    first = make(experiment, ScriptedJudge([]), RecordingProvider(), store, clock)
    first.start()
    assert first.status.traffic.ab_active and first.status.traffic_applied
    restarted = SweepingProvider()
    make(experiment, ScriptedJudge([]), restarted, store, clock).resume()
    assert [bool(p.ab_matches) for p in restarted.plans] == [True], "the swept cohort route is written back"


class RecordingNotifier:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Phase, int]] = []

    def notify(self, experiment: Experiment, status: Status, note: Notify) -> None:
        self.seen.append((note.kind, status.phase, status.traffic.canary_weight))


def test_each_notification_carries_the_status_of_the_transition_that_made_it(experiment: Experiment) -> None:
    """The mesh takes a promotion at once, so the status is Succeeded by the time the notifiers are called;
    the "promoting" message still says Promoting (it said Succeeded, twice over, before)."""
    clock, notifier = Clock(), RecordingNotifier()
    orchestrator = Orchestrator(
        experiment, RecordingProvider(), Source(), ScriptedJudge([Outcome.ADVANCE] * 4), MemoryStore(),
        clock=clock, notifiers=[notifier],
    )  # fmt: skip
    orchestrator.start()
    for _ in range(4):
        clock.now += 60
        orchestrator.observe()

    assert notifier.seen[-2:] == [("promoting", Phase.PROMOTING, 100), ("succeeded", Phase.SUCCEEDED, 100)]
