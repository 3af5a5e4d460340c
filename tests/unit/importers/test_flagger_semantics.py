"""Flagger Canaries whose meaning was easy to get wrong: arm names in queries, match conditions, weights of
100, Linkerd workloads, and whether the result can finish in time (`meshroll plan`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rollout.cli import app
from tests.unit.importers.conftest import run_import

CANARY = (
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: api, namespace: edge}\n"
    "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n"
)
ENVOY = (
    "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: envoy-5xx, namespace: edge}\n"
    "spec:\n  provider: {type: prometheus, address: 'http://prom:9090'}\n  query: |\n"
    '    sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="{{ namespace }}_CLUSTER_{{ variables.port }}",'
    'envoy_response_code=~"5.."}[{{ interval }}]))\n---\n'
)
USE_ENVOY = (
    "  provider: gatewayapi:v1\n  service: {port: 8080}\n"
    "  analysis:\n    interval: 1m\n    stepWeight: 20\n    maxWeight: 60\n"
    "    metrics: [{name: errors, templateRef: {name: envoy-5xx}, templateVariables: {port: '8080'}, "
    "thresholdRange: {max: 1}}]\n"
)


def _template(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The template of that name (on Gateway API the importer also writes copies of the built-in ones)."""
    (template,) = [t for t in spec["analysis"]["templates"] if t["name"] == name]
    return dict(template)


def test_a_query_naming_the_canary_service_measures_each_arm(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(ENVOY.replace("CLUSTER", "{{ target }}-canary") + CANARY + USE_ENVOY)
    imported = run_import(tmp_path, path)
    assert imported.code == 0, imported.stderr
    template = _template(imported.spec, "envoy-5xx")
    assert 'envoy_cluster_name="{{namespace}}_{{service}}-{{version}}_8080"' in template["value"]
    assert "spec.query: not translated" not in imported.stderr


def test_a_query_naming_both_arms_is_left_as_written(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    both = "{{ target }}-canary|{{ target }}-primary"
    path.write_text(ENVOY.replace("CLUSTER", both) + CANARY + USE_ENVOY)
    template = _template(run_import(tmp_path, path).spec, "envoy-5xx")
    assert "{{service}}-canary|{{service}}-primary" in template["value"]


def test_a_header_condition_meshroll_cannot_match_is_listed_not_turned_into_exact(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(
        CANARY + "  analysis:\n    interval: 1m\n    iterations: 5\n    match:\n"
        "    - headers: {x-beta: {present: true}, x-user: {suffix: '@example.org'}}\n"
    )
    imported = run_import(tmp_path, path)
    assert imported.spec["strategy"]["abTest"]["match"] == [{"headers": {"x-user": {"regex": r".*@example\.org"}}}]
    assert "match[0].headers.x-beta: not translated" in imported.stderr


def test_a_match_without_iterations_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(
        CANARY + "  analysis: {interval: 1m, stepWeight: 10, maxWeight: 30, match: [{headers: {x-a: {exact: b}}}]}\n"
    )
    imported = run_import(tmp_path, path)
    assert "spec.analysis.match: not translated: a match without iterations" in imported.stderr


def test_a_step_weight_of_100_becomes_one_half_step(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(CANARY + "  analysis: {interval: 2m, stepWeight: 100, maxWeight: 100}\n")
    imported = run_import(tmp_path, path)
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"] == {"canary": {"steps": [50], "stepInterval": "2m"}}
    assert "spec.analysis.stepWeight: not translated: 100" in imported.stderr


def test_linkerd_workloads_are_named_as_its_metrics_select_them(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(CANARY + "  provider: linkerd\n  analysis: {interval: 30s, stepWeight: 15, maxWeight: 60}\n")
    imported = run_import(tmp_path, path)
    assert {m["template"] for m in imported.spec["analysis"]["metrics"]} == {
        "linkerd-error-rate",
        "linkerd-latency-histogram",
    }
    assert "Deployments named api-primary and api-canary" in imported.text
    assert "pods labelled version" not in imported.text


def test_meshroll_plan_expects_an_imported_canary_to_finish_within_max_duration(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(
        CANARY + "  provider: linkerd\n  analysis:\n    interval: 30s\n    stepWeight: 15\n    maxWeight: 60\n"
        "    metrics:\n    - {name: request-success-rate, thresholdRange: {min: 98}}\n"
        "    - {name: request-duration, thresholdRange: {max: 400}}\n"
    )
    assert run_import(tmp_path, path).code == 0
    planned = CliRunner().invoke(app, ["plan", str(tmp_path / "imported.yaml")])
    assert planned.exit_code == 0, planned.output
    assert "request-du" in planned.output and "expect INCONCLUSIVE" not in planned.output
