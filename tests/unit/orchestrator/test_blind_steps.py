"""A step the engine could not judge at all never moves the canary on: with the real sequential engine, a
canary that gets no requests (its pods not ready, its route broken), bad counters or a split off its weights
hold the weights, spend the failure budget and end by onNoData, where "no regression after a full step"
used to give the canary its next weight, step after step, without a single look at it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from analysis.engines import engine_for
from analysis.observations import ArmSample, MetricPair
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricQuery, MetricsUnavailableError, StepSpan
from rollout.spec import load_experiment_text
from rollout.status import Phase
from tests.unit.machine.conftest import CANARY
from tests.unit.orchestrator.doubles import RecordingProvider, drive


def arm(requests: float, errors: float) -> ArmSample:
    """Requests, errors, and a latency histogram: 90% under 100ms, 99% under 250ms."""
    buckets = ((100.0, 0.9 * requests), (250.0, 0.99 * requests), (math.inf, requests))
    return ArmSample(requests, errors, buckets)


class Traffic:
    """Every step: stable serves 9,000 requests; the canary what the case says."""

    def __init__(self, canary: ArmSample) -> None:
        self.canary = canary

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        return {m.name: MetricPair(arm(9000.0, 9.0), self.canary) for m in metrics}


def run(canary: ArmSample, steps: int = 3) -> tuple[Orchestrator, RecordingProvider]:
    experiment = load_experiment_text(CANARY)  # failureBudget: 2, onNoData: rollback
    return drive(experiment, lambda _: Traffic(canary), engine_for("sequential"), steps)


@pytest.mark.parametrize(
    ("canary", "said"),
    [
        (arm(0.0, 0.0), "the canary received no requests"),
        (arm(math.nan, 0.0), "canary requests is nan"),
        (arm(30.0, 0.0), "the traffic split is off"),
    ],
)
def test_a_step_that_could_not_be_judged_never_gives_the_canary_more_traffic(canary: ArmSample, said: str) -> None:
    orchestrator, provider = run(canary, steps=2)
    status = orchestrator.status
    assert [p.canary_weight for p in provider.plans] == [5]
    assert status.phase is Phase.PROGRESSING and status.holds == 2
    assert status.reason.startswith("holding weights: the step could not be judged") and said in status.reason

    orchestrator, provider = run(canary, steps=3)
    assert orchestrator.status.phase is Phase.INCONCLUSIVE, "the failure budget is spent: onNoData decides"
    assert [p.canary_weight for p in provider.plans] == [5, 0]


def test_a_healthy_canary_with_too_little_evidence_yet_still_takes_the_next_weight() -> None:
    orchestrator, provider = run(arm(470.0, 0.47), steps=1)  # 5% of the requests, the same error rate
    assert [p.canary_weight for p in provider.plans] == [5, 10]
    assert orchestrator.status.reason.startswith("no regression after a full step")


class Down:
    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        raise MetricsUnavailableError("Prometheus answered 503")


def test_a_run_blind_until_its_deadline_says_the_deadline_not_the_budget_ended_it() -> None:
    text = CANARY.replace("maxDuration: 1h", "maxDuration: 3m").replace("failureBudget: 2", "failureBudget: 10")
    orchestrator, _ = drive(load_experiment_text(text), lambda _: Down(), engine_for("sequential"), 5)
    status = orchestrator.status
    assert status.phase is Phase.ROLLED_BACK  # onNoData: rollback
    assert "maxDuration (180s) is reached with this step unjudged" in status.reason
    assert "failure budget of 10 is spent" not in status.reason


class Empty:
    """A source that answers, with nothing in it (Prometheus not scraping the versions, a misnamed label)."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        return {}

    def no_data(self, span: StepSpan) -> str:
        return "the store has no series for " + span.service


def test_a_step_with_no_data_says_what_its_source_says_and_not_that_no_requests_came() -> None:
    orchestrator, _ = drive(load_experiment_text(CANARY), lambda _: Empty(), engine_for("sequential"), 1)
    assert "no data (the store has no series for checkout)" in orchestrator.status.reason
    assert "no requests reached" not in orchestrator.status.reason
