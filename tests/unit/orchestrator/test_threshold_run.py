"""A run judged by the threshold engine rolls back at the Experiment's own failureThreshold: the spec's count
travels through the orchestrator's engine config (rollout/judging.py) to the engine ``engine_for`` gives."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.engines import engine_for
from analysis.observations import ArmSample, MetricPair
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
  strategy: {canary: {steps: [10, 50], stepInterval: 60s}}
  analysis:
    engine: threshold
    minRequests: 100
    metrics:
      - {name: errors, template: istio-error-rate, thresholdRange: {min: 99}}
"""


class FailingCanary:
    """Every step: stable answers 99.9% of its requests, the canary 95% (below the range's min of 99)."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        return {m.name: MetricPair(ArmSample(9000, 9), ArmSample(1000, 50)) for m in metrics}


def run_with(failure_threshold: str, judgements: int) -> tuple[Phase, str]:
    experiment = load_experiment_text(EXPERIMENT.replace("    minRequests", f"{failure_threshold}    minRequests"))
    orchestrator, _ = drive(experiment, lambda _mesh: FailingCanary(), engine_for("threshold"), judgements)
    return orchestrator.status.phase, orchestrator.status.reason


def test_a_run_rolls_back_at_the_experiments_failure_threshold_and_not_before() -> None:
    assert run_with("    failureThreshold: 2\n", judgements=1)[0] is Phase.PROGRESSING
    phase, reason = run_with("    failureThreshold: 2\n", judgements=2)
    assert phase is Phase.ROLLED_BACK
    assert "2 failed checks reached the threshold of 2" in reason


def test_without_failure_threshold_a_run_rolls_back_at_the_engines_five() -> None:
    assert run_with("", judgements=4)[0] is Phase.PROGRESSING
    phase, reason = run_with("", judgements=5)
    assert phase is Phase.ROLLED_BACK and "5 failed checks reached the threshold of 5" in reason


def test_a_count_above_the_default_holds_past_five_failed_checks() -> None:
    phase, reason = run_with("    failureThreshold: 8\n", judgements=7)
    assert phase is Phase.PROGRESSING and "failed check 7 of 8" in reason


def test_a_failed_check_halts_advancement_as_in_flagger() -> None:
    """The default step gate (no-regression) advances after a full step without evidence of a regression;
    a failed check is such evidence, so the canary stays at its first weight until the threshold rolls back."""
    experiment = load_experiment_text(EXPERIMENT.replace("    minRequests", "    failureThreshold: 8\n    minRequests"))
    orchestrator, _ = drive(experiment, lambda _mesh: FailingCanary(), engine_for("threshold"), 7)
    assert orchestrator.status.traffic.canary_weight == 10
    assert {e.traffic.canary_weight for e in orchestrator.status.history} == {10}
    assert run_with("    failureThreshold: 8\n", judgements=8)[0] is Phase.ROLLED_BACK
