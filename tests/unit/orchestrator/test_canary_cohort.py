"""A canary with a cohort is judged on the share of requests it really got: the cohort's requests on top
of its weight's. With the real sequential engine it promotes through every step; the same traffic
judged at the bare weights is a traffic-split mismatch that holds the weights."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.engines import engine_for
from analysis.observations import ArmSample, MetricPair
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricQuery, StepSpan
from rollout.spec import load_experiment_text
from rollout.status import Phase
from tests.unit.orchestrator.doubles import RecordingProvider, drive

EXPERIMENT = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [5, 10, 25], stepInterval: 60s COHORT}}
  analysis:
    engine: sequential
    minRequests: 1000
    maxDuration: 1h
    metrics:
      - {name: errors, template: istio-error-rate, margin: 0.5, absoluteMargin: 0.01, critical: true}
"""
COHORT = ", cohort: {match: [{headers: {x-beta: '1'}}]}"
COHORT_SHARE = 0.15  # of all requests, carrying x-beta: 1


class CohortTraffic:
    """Per step 20,000 requests: the beta cohort's 15% all reach the canary, the rest split by the weight
    the mesh holds. Both arms fail 0.5% of requests: a healthy canary."""

    def __init__(self, provider: RecordingProvider) -> None:
        self.provider = provider

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        weight = self.provider.plans[-1].canary_weight / 100
        canary = 20_000 * (COHORT_SHARE + (1 - COHORT_SHARE) * weight)
        stable = 20_000 - canary
        pair = MetricPair(ArmSample(stable, stable * 0.005), ArmSample(canary, canary * 0.005))
        return {m.name: pair for m in metrics}


def run(cohort: str) -> tuple[Orchestrator, RecordingProvider]:
    experiment = load_experiment_text(EXPERIMENT.replace(" COHORT", cohort))
    return drive(experiment, CohortTraffic, engine_for("sequential"), steps=8)


def test_a_canary_with_a_cohort_promotes_through_its_steps_judged_at_the_observed_share() -> None:
    orchestrator, provider = run(COHORT)
    assert orchestrator.status.phase is Phase.SUCCEEDED, orchestrator.status.reason
    assert [(p.canary_weight, len(p.ab_matches)) for p in provider.plans] == [(5, 1), (10, 1), (25, 1), (100, 0)]
    judged = [e.reason for e in orchestrator.status.history if e.event.type == "judged"]
    assert not any("traffic split is off" in reason for reason in judged)
    assert [round(w.canary_weight) for w in orchestrator.windows] == [19, 24, 36]  # 15% + 85% of the weight


def test_the_same_traffic_judged_at_the_bare_weights_is_a_split_mismatch_that_holds_the_weights() -> None:
    """Without the cohort in the spec the engine is given the weights, while the canary still gets the
    cohort's requests: what the run would do if the observed share were not used. A split off its weights
    teaches nothing about the canary: the weights stay, the failure budget (5) is spent, and onNoData
    (hold) pauses the run for an operator."""
    orchestrator, provider = run("")
    assert orchestrator.status.phase is Phase.PAUSED, orchestrator.status.reason
    (paused,) = [e.reason for e in orchestrator.status.history if e.event.type == "judged" and "paused" in e.reason]
    assert "the traffic split is off" in paused and "failure budget of 5 is spent" in paused
    assert [p.canary_weight for p in provider.plans] == [5], "never walked up on steps it could not judge"
    assert all(not p.ab_matches for p in provider.plans)
