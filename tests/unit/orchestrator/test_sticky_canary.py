"""A sticky canary is judged on the share of requests it really got: returning users keep the canary's
share above its weight, and the sequential engine's traffic-split check must not hold it for that."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.engines import engine_for
from analysis.observations import ArmSample, MetricPair
from rollout.events import Judged
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricQuery, StepSpan
from rollout.spec import load_experiment_text
from rollout.status import Phase
from rollout.trail import entry_lines
from tests.unit.orchestrator.doubles import RecordingProvider, drive

EXPERIMENT = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10, 25], stepInterval: 60s STICKY}}
  analysis:
    engine: sequential
    minRequests: 1000
    maxDuration: 1h
    metrics:
      - {name: errors, template: istio-error-rate, margin: 0.5, absoluteMargin: 0.01, critical: true}
"""
STICKY = ", sessionAffinity: {cookieName: canary-user, maxAge: 1h}"


class StickyTraffic:
    """Per step, 20,000 requests of which the canary serves 40%: its weight's users plus returning sticky
    users. Both arms fail 0.5% of requests: a healthy canary."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        stable, canary = 12_000.0, 8_000.0
        pair = MetricPair(ArmSample(stable, stable * 0.005), ArmSample(canary, canary * 0.005))
        return {m.name: pair for m in metrics}


def run(sticky: str) -> tuple[Orchestrator, RecordingProvider]:
    experiment = load_experiment_text(EXPERIMENT.replace(" STICKY", sticky))
    return drive(experiment, lambda _: StickyTraffic(), engine_for("sequential"), steps=6)


def test_a_sticky_canary_is_judged_on_its_observed_share_and_promotes() -> None:
    orchestrator, provider = run(STICKY)
    assert orchestrator.status.phase is Phase.SUCCEEDED, orchestrator.status.reason
    assert [p.canary_weight for p in provider.plans] == [10, 25, 100]
    cookies = [p.affinity for p in provider.plans]
    assert cookies[0] is not None and cookies[0].cookie_name == "canary-user" and cookies[0].max_age == 3600
    assert (
        cookies[0].value == "demo.shop.1000000000" == cookies[1].value
    )  # one run (started at 1,000,000 s), one cookie
    assert cookies[2] is None  # promoted: the sticky route and the Set-Cookie go
    judged = [e.reason for e in orchestrator.status.history if e.event.type == "judged"]
    assert not any("traffic split is off" in reason for reason in judged)


def test_each_judgement_of_a_sticky_canary_says_how_much_of_the_step_it_served() -> None:
    orchestrator, _ = run(STICKY)
    judged = [e for e in orchestrator.status.history if isinstance(e.event, Judged)]
    assert [e.event.canary_share for e in judged] == [40.0] * len(judged)
    assert "(the canary served 40.0% of the requests just judged)" in entry_lines(judged[0], None)[0]
    plain, _ = run("")  # the weight is the share: nothing more to say
    assert all(e.event.canary_share is None for e in plain.status.history if isinstance(e.event, Judged))


def test_the_same_share_without_affinity_is_a_split_mismatch_that_holds_the_weights() -> None:
    orchestrator, provider = run("")
    assert orchestrator.status.phase is Phase.PAUSED  # the failure budget spent on steps it could not judge
    assert [p.canary_weight for p in provider.plans] == [10], "never walked up on a split off its weights"
    assert all(p.affinity is None for p in provider.plans)
    assert "the traffic split is off" in orchestrator.status.reason
