"""Input with nothing to import, broken YAML or a missing required field ends in one line and exit 1."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rollout.cli import app
from tests.cli_errors import one_line_error


def test_a_file_without_canary_or_rollout_is_refused(peer: Path) -> None:
    output = one_line_error(["import", str(peer / "flagger-metrictemplate-prometheus.yaml")])
    assert "no Flagger Canary or Argo Rollouts Rollout found (kinds seen: MetricTemplate)" in output


def test_a_fragment_is_refused(peer: Path) -> None:
    output = one_line_error(["import", str(peer / "flagger-fragment-webhooks-all-types.yaml")])
    assert "no Flagger Canary or Argo Rollouts Rollout found" in output


def test_broken_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: flagger.app/v1beta1\nkind: Canary\nspec: [\n")
    output = one_line_error(["import", str(broken)])
    assert f"{broken}:4:1: not valid YAML" in output


def test_a_canary_without_target_ref_names_the_missing_field(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo}\n"
        "spec:\n  analysis: {interval: 1m, stepWeight: 10, maxWeight: 50}\n"
    )
    output = one_line_error(["import", str(canary)])
    assert f"{canary}:spec.targetRef.name: required field missing" in output


def test_a_blue_green_rollout_says_what_to_do(tmp_path: Path) -> None:
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: demo}\n"
        "spec:\n  strategy:\n    blueGreen: {activeService: a, previewService: b}\n"
    )
    assert "blue/green is not translated" in one_line_error(["import", str(rollout)])


def test_a_missing_file_and_an_unknown_engine_are_refused(tmp_path: Path) -> None:
    assert "no such file" in one_line_error(["import", str(tmp_path / "absent.yaml")])
    assert "--engine 'kayenta'" in one_line_error(["import", str(tmp_path / "absent.yaml"), "--engine", "kayenta"])


def test_standard_input_is_read_as_validate_reads_it(peer: Path) -> None:
    """``kubectl get canary podinfo -o yaml | meshroll import -``."""
    canary = (peer / "flagger-canary-gatewayapi.yaml").read_text()
    result = CliRunner().invoke(app, ["import", "-"], input=canary)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Imported by `meshroll import` from standard input (Flagger Canary test/podinfo)")
    broken = CliRunner().invoke(app, ["import", "-"], input="kind: Canary\nspec: [\n")
    assert broken.exit_code == 1 and broken.stderr.startswith("meshroll: -:3:1: not valid YAML")
