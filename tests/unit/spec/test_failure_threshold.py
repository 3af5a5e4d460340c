"""analysis.failureThreshold: the threshold engine's failed checks before a rollback, refused with any other engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollout.cli import app
from rollout.judging import engine_config
from rollout.spec import load_experiment_text

EXPERIMENT = """\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10, 50]}}
  analysis:
ENGINE
    failureThreshold: 10
    metrics:
      - {name: errors, template: istio-error-rate, thresholdRange: {min: 99}}
"""


def experiment_text(engine: str | None, failure_threshold: bool = True) -> str:
    text = EXPERIMENT.replace("ENGINE\n", f"    engine: {engine}\n" if engine else "")
    return text if failure_threshold else text.replace("    failureThreshold: 10\n", "")


def test_the_threshold_engine_gets_the_experiments_count_in_its_config() -> None:
    assert engine_config(load_experiment_text(experiment_text("threshold"))).failure_threshold == 10
    unset = load_experiment_text(experiment_text("threshold", failure_threshold=False))
    assert engine_config(unset).failure_threshold is None, "None: the engine's own default of 5"


@pytest.mark.parametrize("engine", [None, "sequential", "kayenta"])
def test_validate_refuses_failure_threshold_with_another_engine_in_one_line(tmp_path: Path, engine: str | None) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_text(engine))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"{path}:") and " spec.analysis.failureThreshold: " in result.output
    assert (
        "only engine: threshold reads failureThreshold (its failed checks before a rollback), and this Experiment's "
        f"engine is {engine or 'sequential'}: set engine: threshold, or remove failureThreshold"
    ) in " ".join(result.output.split())
