"""The steady-state checks of a run with faults: a rule halts on a sample big enough to mean something
(gathering one across checks at low traffic), the recovery check reads the arms that carry the traffic
after the run, and the journal ends with that check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from analysis.observations import ArmSample, MetricPair
from analysis.verdicts import Outcome
from rollout.chaos_watch import JournalRecorder, SteadyState, check_recovery
from rollout.events import Command, Halt
from rollout.orchestrator import Orchestrator
from rollout.plan import run_plan
from rollout.sources import MetricQuery, StepSpan
from rollout.spec import Experiment, load_experiment_text
from rollout.store import MemoryStore
from tests.unit.orchestrator.doubles import Clock, RecordingProvider
from tests.unit.orchestrator.test_orchestrator import ScriptedJudge

EXPERIMENT = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: drill, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10, 50], stepInterval: 30s}}
  chaos:
    interval: 1s
    recovery: 10s
    faults:
      - {delay: {fixed: 5ms, percent: 10}, arm: canary}
    haltWhen: [{metric: error-rate, above: 0.05}]
  analysis: {metrics: [{name: error-rate, template: istio-error-rate}]}
"""


class RateSource:
    """Requests at a steady rate per arm, with a share of errors: what a span of the mesh's counters gives."""

    def __init__(self, stable: tuple[float, float], canary: tuple[float, float]) -> None:
        self.rates = {"stable": stable, "canary": canary}
        self.spans: list[tuple[float, float]] = []

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        self.spans.append((span.start, span.end))
        seconds = span.end - span.start

        def arm(name: str) -> ArmSample:
            per_second, errors = self.rates[name]
            return ArmSample(per_second * seconds, per_second * seconds * errors)

        return {m.name: MetricPair(arm("stable"), arm("canary")) for m in metrics}


def steady(source: RateSource, text: str = EXPERIMENT) -> tuple[SteadyState, tuple[str, ...]]:
    experiment = load_experiment_text(text)
    plan = run_plan(experiment)
    return SteadyState(experiment, plan, source), tuple(p.fault.id for p in plan.faults)


def test_a_rule_waits_for_its_minimum_across_checks_and_then_halts_a_broken_canary() -> None:
    """10 requests a second on the canary, half of them errors: no verdict on 10, 20, 30 or 40 requests;
    the fifth check reads back to the first one's start, and 50 requests break the rule."""
    source = RateSource(stable=(90, 0.01), canary=(10, 0.5))
    state, faults = steady(source)
    assert [state.check(float(t), t + 1.0, faults) for t in range(4)] == [[], [], [], []]
    assert state.check(4.0, 5.0, faults) == ["error-rate on canary is 0.5, above 0.05 (over 50 requests)"]
    assert source.spans[-1] == (0.0, 5.0)
    state.check(5.0, 6.0, faults)
    assert source.spans[-1] == (5.0, 6.0), "a decided rule starts afresh"


def test_one_error_in_four_requests_does_not_halt_a_healthy_canary() -> None:
    """The probe's case: 4 requests a second on the canary; the first window held one error."""
    source = RateSource(stable=(36, 0.01), canary=(4, 0.25))
    state, faults = steady(source)
    assert state.check(0.0, 1.0, faults) == []


def test_a_window_that_does_not_follow_the_last_check_starts_afresh() -> None:
    """A new step (or other faults on) is a new window: what an earlier step gathered is not mixed in."""
    source = RateSource(stable=(90, 0.01), canary=(10, 0.5))
    state, faults = steady(source)
    assert state.check(0.0, 1.0, faults) == []
    assert state.check(2.0, 3.0, faults) == []
    assert source.spans[-1] == (2.0, 3.0)
    assert state.check(3.0, 4.0, ()) == []
    assert source.spans[-1] == (3.0, 4.0)


def test_a_rule_s_own_min_requests_is_used() -> None:
    text = EXPERIMENT.replace("above: 0.05}", "above: 0.05, minRequests: 10}")
    state, faults = steady(RateSource(stable=(90, 0.01), canary=(10, 0.5)), text)
    assert state.check(0.0, 1.0, faults) == ["error-rate on canary is 0.5, above 0.05 (over 10 requests)"]


def halted_run(tmp_path: Path, source: RateSource) -> tuple[Orchestrator, JournalRecorder, Clock]:
    experiment: Experiment = load_experiment_text(EXPERIMENT)
    clock = Clock()
    orchestrator = Orchestrator(
        experiment, RecordingProvider(), source, ScriptedJudge([Outcome.HOLD]), MemoryStore(), clock=clock
    )
    orchestrator.steady_state = SteadyState(experiment, orchestrator.plan, source)
    recorder = JournalRecorder(experiment, orchestrator.plan, lambda: ({}, {}), tmp_path / "journal.json", clock)
    orchestrator.listeners.append(recorder.on_change)
    orchestrator.start()
    clock.now += 3
    orchestrator.handle(Halt(reason="error-rate on canary is 0.5, above 0.05 (over 60 requests)"))
    assert orchestrator.status.phase.value == "RolledBack"
    return orchestrator, recorder, clock


def test_recovery_after_a_rollback_reads_stable_not_a_canary_at_weight_zero(tmp_path: Path) -> None:
    """One stray request on the rolled-back canary, an error, decided "not recovered" in 3 of 3 runs."""
    source = RateSource(stable=(60, 0.01), canary=(0.1, 1.0))
    orchestrator, recorder, clock = halted_run(tmp_path, source)

    def wait(seconds: float) -> str | None:
        clock.now += seconds
        return None

    sentence = check_recovery(orchestrator.steady_state, orchestrator.status, clock, wait, recorder)
    assert sentence == "steady state holds on stable 10s after the faults ended"
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["recovery"]["verdict"] == "recovered"


def test_recovery_on_too_few_requests_cannot_tell(tmp_path: Path) -> None:
    source = RateSource(stable=(2, 0.5), canary=(0, 0))
    orchestrator, recorder, clock = halted_run(tmp_path, source)

    def wait(seconds: float) -> str | None:
        clock.now += seconds
        return None

    sentence = check_recovery(orchestrator.steady_state, orchestrator.status, clock, wait, recorder)
    assert sentence == (
        "could not tell whether the steady state recovered: "
        "error-rate on stable: not enough requests (20 of the 50 it needs)"
    )
    assert json.loads((tmp_path / "journal.json").read_text())["recovery"]["verdict"] == "unknown"


@pytest.mark.parametrize("interrupted", [None, "SIGINT"])
def test_the_journal_ends_with_the_recovery_check_after_the_run(tmp_path: Path, interrupted: str | None) -> None:
    """Every event of the journal lies between its start and its end, the recovery check's included."""
    orchestrator, recorder, clock = halted_run(tmp_path, RateSource(stable=(60, 0.01), canary=(0, 0)))
    run_ended = json.loads((tmp_path / "journal.json").read_text())["ended"]

    def wait(seconds: float) -> str | None:
        clock.now += seconds
        return interrupted

    check_recovery(orchestrator.steady_state, orchestrator.status, clock, wait, recorder)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["events"][-1]["event"] == "recovery"
    assert journal["recovery"]["verdict"] == ("recovered" if interrupted is None else "not checked")
    assert all(journal["started"] <= e["time"] <= journal["ended"] for e in journal["events"])
    assert journal["ended"] == run_ended + 10
    assert journal["outcome"].startswith("RolledBack: steady state broken")


def test_faults_on_too_little_traffic_for_the_rule_are_said_to_have_run_unchecked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """2 canary requests a second for 10 s: the rule never has its 50, so the faults ran unchecked by it."""
    state, faults = steady(RateSource(stable=(18, 0.01), canary=(2, 0.5)))
    for t in range(10):
        assert state.check(float(t), t + 1.0, faults) == []
    with caplog.at_level("WARNING", logger="meshroll.chaos"):
        state.faults_off(10.0)
        state.faults_off(11.0)  # said once
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning == (
        f"faults {faults[0]} were on for 10s and haltWhen error-rate on canary never had the 50 requests it needs "
        "(20 at most): the faults ran unchecked by it; lower its minRequests or give the step more time or traffic"
    )


def test_no_warning_when_the_rule_decided_while_the_faults_were_on_or_no_check_could_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Decided once (at 50 requests) and short after it: checked. A set shorter than one check interval: not
    warned of. A check with no faults on (the start's): nothing was injected."""
    state, faults = steady(RateSource(stable=(90, 0.01), canary=(10, 0.0)))
    with caplog.at_level("WARNING", logger="meshroll.chaos"):
        for t in range(7):
            state.check(float(t), t + 1.0, faults)
        state.faults_off(7.0)
        state.check(8.0, 8.5, faults)
        state.faults_off(8.5)
        state.check(9.0, 10.0, ())
        state.faults_off(10.0)
    assert not caplog.records


def test_a_run_that_ends_under_faults_too_quiet_for_its_rule_says_so_with_how_long_they_were_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The controller and meshroll run both end a run's faults through the orchestrator: the faults went off
    with the abort (t=12), not when the warning is given (t=40)."""
    experiment = load_experiment_text(EXPERIMENT)
    source = RateSource(stable=(18, 0.01), canary=(2, 0.0))
    clock = Clock()
    orchestrator = Orchestrator(
        experiment, RecordingProvider(), source, ScriptedJudge([Outcome.HOLD]), MemoryStore(), clock=clock
    )
    orchestrator.steady_state = SteadyState(experiment, orchestrator.plan, source)
    begun = clock.now
    orchestrator.start()
    for _ in range(12):
        clock.now += 1
        orchestrator.check_steady_state()
    orchestrator.handle(Command(command="abort"))
    clock.now += 28
    with caplog.at_level("WARNING", logger="meshroll.chaos"):
        orchestrator.faults_off()
    (warning,) = [r.getMessage() for r in caplog.records]
    assert orchestrator.status.phase.terminal and clock.now - begun == 40
    assert " were on for 12s and haltWhen error-rate on canary never had the 50 requests it needs (24 at most)" in (
        warning
    )
