"""The import notes say what happened: what the peer judged with, where Flagger wrote a field, values as
YAML, the variables meshroll really fills, and nothing a user has to act on when nothing was lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.engines import engine_for
from analysis.kayenta import KayentaJudge
from analysis.templates import TEMPLATE_VARIABLES
from tests.unit.importers.conftest import run_import
from tests.unit.importers.test_peer_specs import RELEASES

KAYENTA = "argo-rollout-experiment-kayenta.yaml"
SLACK = "argo-rollout-notifications-slack.yaml"
AB_TEST = "flagger-canary-istio-abtest.yaml"
RANGES_KEPT = "the peer's fixed ranges are kept as thresholdRange"


def test_a_kayenta_judged_rollout_is_not_said_to_have_judged_nothing(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / KAYENTA)
    assert imported.code == 0, imported.stderr
    assert "the peer judged nothing" not in imported.comments
    assert "the peer judged by metric 'mann-whitney' (Kayenta canary analysis), which meshroll cannot run" in (
        imported.comments
    )


def test_kayentas_score_thresholds_are_listed_with_what_meshrolls_kayenta_engine_does(
    peer: Path, tmp_path: Path
) -> None:
    judge = engine_for("kayenta")
    assert isinstance(judge, KayentaJudge)
    fixed = judge.thresholds
    imported = run_import(tmp_path, peer / KAYENTA)
    assert "provider.kayenta.thresholds: not translated: pass 90, marginal 75: meshroll's engine kayenta" in (
        imported.stderr
    )
    assert f"fixed at pass {fixed.pass_score:g} and marginal {fixed.marginal:g}" in imported.stderr


@pytest.mark.parametrize("name", [KAYENTA, SLACK])
def test_without_ranges_nothing_is_said_to_be_kept_as_threshold_range(peer: Path, tmp_path: Path, name: str) -> None:
    imported = run_import(tmp_path, peer / name)
    assert "thresholdRange" not in imported.text
    assert RANGES_KEPT not in imported.comments


def test_with_ranges_they_are_said_to_be_kept(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-istio.yaml")
    assert "thresholdRange" in imported.text and RANGES_KEPT in imported.comments


def test_traffic_policy_is_said_to_go_into_the_destination_rules_flagger_generated(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / AB_TEST)
    (line,) = [n for n in imported.stderr.splitlines() if "spec.service.trafficPolicy" in n]
    assert "DestinationRules it generated" in line and "route" not in line
    (line,) = [n for n in imported.stderr.splitlines() if "spec.service.portDiscovery" in n]
    assert "the Services it generated" in line


@pytest.mark.parametrize("name", RELEASES)
def test_values_are_shown_as_yaml_not_python(peer: Path, tmp_path: Path, name: str) -> None:
    imported = run_import(tmp_path, peer / name)
    for python in (": True", ": False", ": None"):
        assert python not in imported.stderr and python not in imported.comments, name


def test_a_yaml_value_in_a_note(peer: Path, tmp_path: Path) -> None:
    assert "spec.service.portDiscovery: not translated: true:" in run_import(tmp_path, peer / AB_TEST).stderr


def test_skip_analysis_at_flaggers_default_is_no_loss(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-istio.yaml")  # skipAnalysis: false
    assert "skipAnalysis" not in imported.stderr and "skipAnalysis" not in imported.comments


def test_skip_analysis_true_is_still_listed(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: api, namespace: edge}\nspec:\n"
        "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  skipAnalysis: true\n"
        "  analysis: {interval: 1m, stepWeight: 10, maxWeight: 50}\n"
    )
    assert "spec.skipAnalysis: not translated: true: meshroll always judges" in run_import(tmp_path, canary).stderr


def test_the_variables_meshroll_fills_are_listed_from_the_code(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / KAYENTA)  # its arguments come from podTemplateHashValue
    (line, *_) = [n for n in imported.stderr.splitlines() if "argument 'stable-hash'" in n]
    assert all(f"{{{{{name}}}}}" in line for name in TEMPLATE_VARIABLES), line
    assert "substitutes only {{service}}, {{namespace}} and {{version}}" not in line


def test_the_header_comes_first_and_unused_documents_are_listed_below_it(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / SLACK)  # holds an Ingress nothing references
    assert imported.text.startswith("# Imported by `meshroll import` from")
    listed = imported.comments.index("(document): Ingress rollouts-demo-stable: no imported Canary or Rollout")
    assert imported.comments.index("Not translated (also printed on stderr):") < listed
    assert "Ingress rollouts-demo-stable: no imported Canary or Rollout references it" in imported.stderr


def test_engine_kayenta_is_refused_and_no_note_says_to_pass_it_to_the_importer(peer: Path, tmp_path: Path) -> None:
    refused = run_import(tmp_path, peer / KAYENTA, options=("--engine", "kayenta"))
    assert refused.code == 1 and "by hand" in refused.stderr
    imported = run_import(tmp_path, peer / KAYENTA)
    assert "set analysis.engine: kayenta" not in imported.comments
    assert "change analysis.engine to kayenta by hand (meshroll import writes sequential or threshold" in (
        imported.comments
    )
