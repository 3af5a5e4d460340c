"""Flagger Canaries from the real peer files: what each field becomes, and what is said about the rest."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import run_import


def test_an_istio_canary_keeps_its_weights_interval_and_builtin_metrics(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-istio.yaml")
    assert imported.code == 0
    assert imported.experiment["metadata"] == {"name": "podinfo", "namespace": "test"}
    spec = imported.spec
    assert spec["strategy"] == {"canary": {"stepWeight": 5, "maxWeight": 50, "stepInterval": "1m"}}
    assert spec["mesh"] == {"provider": "istio", "virtualService": "podinfo"}
    assert spec["target"]["service"] == "podinfo" and spec["target"]["port"] == 9898
    metrics = {m["name"]: m for m in spec["analysis"]["metrics"]}
    assert metrics["request-success-rate"]["template"] == "istio-error-rate"
    assert metrics["request-success-rate"]["thresholdRange"] == {"min": 99}
    assert metrics["request-duration"]["template"] == "istio-latency-histogram"
    assert metrics["request-duration"]["latencyEdges"] == [500]  # the P99 bound becomes the edge it must not cross
    assert spec["analysis"]["engine"] == "sequential"


def test_webhooks_alerts_and_a_missing_template_are_listed_not_dropped(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-istio.yaml")
    lines = imported.stderr.splitlines()
    for path in (
        "spec.analysis.webhooks[0]",
        "spec.analysis.webhooks[1]",
        "spec.analysis.alerts[2]",
        "spec.analysis.metrics[2].templateRef",
        "spec.analysis.threshold",
        "spec.progressDeadlineSeconds",
    ):
        assert any(f"flagger-canary-istio.yaml:{path}: not translated: " in line for line in lines), path
        assert f"flagger-canary-istio.yaml:{path}:" in imported.text, path  # and written as a comment
    assert "pre-rollout webhook 'conformance test': run this check in your pipeline" in imported.stderr
    assert "# Not translated (also printed on stderr):" in imported.text


def test_with_the_threshold_engine_analysis_threshold_10_becomes_failure_threshold_10(
    peer: Path, tmp_path: Path
) -> None:
    canary = peer / "flagger-canary-istio.yaml"  # analysis.threshold: 10
    imported = run_import(tmp_path, canary, options=("--engine", "threshold"))
    assert imported.code == 0, imported.stderr
    assert imported.spec["analysis"]["engine"] == "threshold"
    assert imported.spec["analysis"]["failureThreshold"] == 10
    assert "spec.analysis.threshold" not in imported.stderr, "translated, so not listed"
    text = imported.comments
    assert (
        "analysis.threshold 10 -> analysis.failureThreshold 10: the threshold engine rolls back after 10 failed "
        "checks, counted over the whole run as Flagger counts them"
    ) in text
    assert "rollback after 10 failed checks (analysis.failureThreshold)" in text


def test_with_the_sequential_engine_analysis_threshold_stays_a_note_with_the_canarys_count(
    peer: Path, tmp_path: Path
) -> None:
    canary = peer / "flagger-canary-istio.yaml"  # analysis.threshold: 10
    imported = run_import(tmp_path, canary)
    assert "failureThreshold" not in imported.spec["analysis"], "the sequential engine would refuse it"
    assert (
        f"{canary}:spec.analysis.threshold: not translated: this Canary rolls back after 10 failed checks; the "
        "sequential engine counts no failed checks: it rolls back on evidence and bounds false rollbacks with "
        "analysis.alpha (import with --engine threshold to keep this count as analysis.failureThreshold: 10)"
    ) in imported.stderr.splitlines()


def test_a_failure_threshold_of_5_is_written_too(peer: Path, tmp_path: Path) -> None:
    canary = peer / "flagger-canary-gatewayapi.yaml"  # analysis.threshold: 5, the engine's default
    imported = run_import(tmp_path, canary, options=("--engine", "threshold"))
    assert imported.spec["analysis"]["failureThreshold"] == 5, "the Canary's count, whatever meshroll's default"
    assert "spec.analysis.threshold" not in imported.stderr


def test_an_ab_test_canary_keeps_its_count_too(peer: Path, tmp_path: Path) -> None:
    canary = peer / "flagger-canary-istio-abtest.yaml"  # iterations with match, analysis.threshold: 10
    imported = run_import(tmp_path, canary, options=("--engine", "threshold"))
    assert "abTest" in imported.spec["strategy"] and imported.spec["analysis"]["failureThreshold"] == 10


def test_without_analysis_threshold_the_engine_default_is_said_and_nothing_written(tmp_path: Path) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: api}\nspec:\n"
        "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  service: {port: 8080}\n"
        "  analysis:\n    interval: 1m\n    stepWeight: 20\n    maxWeight: 60\n"
        "    metrics: [{name: request-success-rate, thresholdRange: {min: 99}}]\n"
    )
    imported = run_import(tmp_path, path, options=("--engine", "threshold"))
    assert imported.code == 0, imported.stderr
    assert "failureThreshold" not in imported.spec["analysis"]
    assert "rollback after 5 failed checks (the default of analysis.failureThreshold)" in imported.comments


def test_iterations_with_match_become_an_ab_test_on_the_same_headers(peer: Path, tmp_path: Path) -> None:
    spec = run_import(tmp_path, peer / "flagger-canary-istio-abtest.yaml").spec
    assert spec["strategy"] == {
        "abTest": {
            "match": [
                {"headers": {"cookie": {"regex": "^(.*?;)?(type=insider)(;.*)?$"}}},
                {"headers": {"user-agent": {"regex": ".*Firefox.*"}}},
            ],
            "duration": "2m30s",  # 10 iterations of 15s
            "stepInterval": "15s",
        }
    }


def test_a_gateway_api_canary_uses_its_metric_templates_as_custom_queries(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-gatewayapi.yaml")
    spec = imported.spec
    assert spec["mesh"] == {"provider": "gateway-api", "httpRoute": "podinfo"}
    assert spec["target"]["stable"]["service"] == "podinfo-primary"
    assert spec["target"]["canary"]["service"] == "podinfo-canary"
    templates = {t["name"]: t for t in spec["analysis"]["templates"]}
    query = templates["latency"]["value"]
    assert templates["latency"]["kind"] == "gauge"
    assert 'destination_workload=~"{{service}}"' in query and "[{{window}}]" in query and "{{ target }}" not in query
    metrics = {m["name"]: m for m in spec["analysis"]["metrics"]}
    assert metrics["latency"]["thresholdRange"] == {"max": 0.5} and metrics["latency"]["direction"] == "increase"
    # the arms compared, besides the gauges, on the HTTPRoute's backends (test_target_service.py)
    assert metrics["istio-error-rate"]["template"] == "istio-error-rate"  # which selects each arm's backend
    assert "MetricTemplate/latency:spec.query: not translated: the query measures one workload" in imported.stderr


def test_engine_threshold_keeps_flaggers_ranges_without_margins(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-istio.yaml", options=("--engine", "threshold"))
    analysis = imported.spec["analysis"]
    assert analysis["engine"] == "threshold"
    assert analysis["metrics"][0] == {
        "name": "request-success-rate",
        "template": "istio-error-rate",
        "critical": True,
        "thresholdRange": {"min": 99},
    }
    assert "analysis.engine threshold (--engine threshold)" in imported.text


def test_mirror_becomes_mirroring_for_the_iterations(tmp_path: Path) -> None:
    canary = tmp_path / "mirror.yaml"
    canary.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\n"
        "spec:\n  provider: istio\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n"
        "  service: {port: 9898}\n"
        "  analysis: {interval: 1m, iterations: 10, mirror: true, mirrorWeight: 20,\n"
        "    metrics: [{name: request-success-rate, thresholdRange: {min: 99}}]}\n"
    )
    imported = run_import(tmp_path, canary)
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"] == {"mirror": {"percent": 20, "duration": "10m", "stepInterval": "1m"}}


def test_blue_green_mirroring_says_the_mirror_never_promotes_and_how_to_release(tmp_path: Path) -> None:
    """Flagger promotes after the mirrored analysis; a mirror-only Experiment ends with all traffic on stable."""
    canary = tmp_path / "mirror.yaml"
    canary.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\n"
        "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n"
        "  analysis: {interval: 1m, iterations: 10, mirror: true}\n"
    )
    imported = run_import(tmp_path, canary)
    assert imported.spec["strategy"] == {"mirror": {"percent": 100, "duration": "10m", "stepInterval": "1m"}}
    (line,) = [n for n in imported.stderr.splitlines() if "spec.analysis.iterations: not translated" in n]
    assert "blue/green with mirroring (10 iterations): Flagger promotes after the mirrored analysis" in line
    assert "never promotes: the run ends Completed with all traffic still on stable" in line
    assert "spec.after: [{name: podinfo}] and strategy.canary" in line
