"""A step whose mesh write was refused for a while runs a whole step once the mesh takes it.

The controller retries a refused write (a DestinationRule subset missing, say) until it goes
through. The step's time, which makes it due and counts its exposure, starts when the mesh took
the step's weights, not when the judgement chose them: otherwise the step is already due when the
write finally lands and is judged over the few milliseconds since.
"""

from __future__ import annotations

import pytest

from analysis.verdicts import Outcome
from rollout.events import Applied, Start, Tick
from rollout.machine import advance
from rollout.spec import Experiment, load_experiment_text
from rollout.status import Phase, Status
from rollout.store import MemoryStore
from rollout.windows import next_observation_due
from tests.unit.machine.conftest import CANARY, T0, plan_from, proven
from tests.unit.orchestrator.doubles import Clock, RecordingProvider
from tests.unit.orchestrator.test_orchestrator import ScriptedJudge, make

MINUTE = 60.0
PLAN = plan_from(CANARY)


@pytest.fixture
def experiment() -> Experiment:
    return load_experiment_text(CANARY)


def test_a_step_whose_write_lands_a_minute_late_is_due_a_full_interval_after_it(experiment: Experiment) -> None:
    clock, store = Clock(), MemoryStore()
    orchestrator = make(experiment, ScriptedJudge([Outcome.ADVANCE] * 2), RecordingProvider(), store, clock)
    orchestrator.start()
    clock.now += MINUTE
    orchestrator.provider = RecordingProvider(fail_times=1)  # the mesh refuses the 10% step's write
    with pytest.raises(ConnectionError):
        orchestrator.observe()
    chosen = clock.now
    assert store.status is not None and not store.status.traffic_applied

    clock.now += MINUTE  # the controller's retry, once the subset exists: the mesh takes 10% now
    retried = make(experiment, ScriptedJudge([Outcome.ADVANCE]), RecordingProvider(), store, clock)
    retried.resume()
    taken = clock.now

    status = retried.status
    assert (status.step, status.traffic.canary_weight, status.traffic_applied) == (1, 10, True)
    assert status.step_started_at == taken != chosen
    assert next_observation_due(status, retried.plan) == taken + MINUTE  # not already due at the retry
    clock.now = taken + MINUTE
    window = retried.begin_observation()
    assert window is not None and (window.start, window.end) == (taken, taken + MINUTE)  # a whole step


def test_the_step_needs_its_full_exposure_from_when_its_weight_was_applied() -> None:
    started = advance(PLAN, Status(), Start(), T0).status
    late = advance(PLAN, started, Applied(), T0 + MINUTE).status  # the first write was taken a minute late
    assert late.step_started_at == T0 + MINUTE

    early = advance(PLAN, late, proven(), T0 + MINUTE + 1).status
    assert (early.phase, early.traffic.canary_weight) == (Phase.PROGRESSING, 5)
    assert "the step needs 59s more exposure" in early.reason

    due = advance(PLAN, early, proven(), T0 + 2 * MINUTE).status
    assert due.traffic.canary_weight == 10


def test_a_write_that_changes_no_split_leaves_the_step_clock_alone() -> None:
    """A fault switched on mid-step (a tick) is written too; the step's weights were taken long before."""
    plan = plan_from(CANARY, **{"during: {steps: [10, 25]}": "during: {window: {after: 30s, duration: 10m}}"})
    status = advance(plan, Status(), Start(), T0).status
    status = advance(plan, status, Applied(), T0 + 1).status
    ticked = advance(plan, status, Tick(), T0 + 31).status
    assert len(ticked.traffic.faults) == 2 and not ticked.traffic_applied  # the delay fault goes on
    assert advance(plan, ticked, Applied(), T0 + 40).status.step_started_at == T0 + 1
