"""Argo Rollouts from the real peer files (and upstream's header-routing and mirror examples)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import run_import

ROLLOUT_HEAD = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: rollouts-demo}\nspec:\n  strategy:\n"
    "    canary:\n      canaryService: canary-service\n      stableService: stable-service\n"
    "      trafficRouting:\n        managedRoutes: [{name: header-route}, {name: mirror-route}]\n"
    "        istio: {virtualService: {name: rollouts-demo-vsvc, routes: [primary]}}\n"
)


def test_set_weight_steps_pauses_and_the_virtual_service_route_are_kept(peer: Path, tmp_path: Path) -> None:
    imported = run_import(
        tmp_path,
        peer / "argo-rollout-istio.yaml",
        peer / "argo-analysistemplate-prometheus.yaml",
        peer / "argo-istio-virtualservice-services.yaml",
    )
    assert imported.code == 0, imported.stderr
    spec = imported.spec
    assert spec["strategy"] == {"canary": {"steps": [10, 20, 30, 40, 50, 60, 70, 80, 90], "stepInterval": "20s"}}
    assert spec["mesh"]["virtualService"] == "istio-rollout-vsvc" and spec["mesh"]["route"] == "primary"
    assert spec["target"]["port"] == 80  # from the stable Service given alongside


def test_the_analysis_template_query_becomes_a_gauge_with_the_success_condition_as_its_range(
    peer: Path, tmp_path: Path
) -> None:
    files = [peer / "argo-rollout-istio.yaml", peer / "argo-analysistemplate-prometheus.yaml"]
    spec = run_import(tmp_path, *files).spec
    (template,) = spec["analysis"]["templates"]
    assert template["name"] == "istio-success-rate" and template["kind"] == "gauge"
    assert 'destination_service=~"canary.{{namespace}}.svc.cluster.local"' in template["value"]  # args substituted
    metric = next(m for m in spec["analysis"]["metrics"] if m["template"] == "istio-success-rate")
    assert metric["thresholdRange"] == {"min": 0.9} and metric["direction"] == "decrease"


def test_indefinite_pause_starting_step_and_the_pod_template_are_listed(peer: Path, tmp_path: Path) -> None:
    stderr = run_import(tmp_path, peer / "argo-rollout-istio.yaml").stderr
    for path in ("spec.strategy.canary.steps[1].pause", "spec.strategy.canary.analysis.startingStep", "spec.template"):
        assert f"argo-rollout-istio.yaml:{path}: not translated: " in stderr, path


def test_slack_subscriptions_become_the_slack_channel(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "argo-rollout-notifications-slack.yaml")
    assert imported.spec["notify"] == {"slack": {"channel": "argoproj-deployments-notifications"}}
    assert imported.spec["strategy"]["canary"] == {"steps": [20, 40, 60, 80], "stepInterval": "10s"}
    assert "no trafficRouting (replica ratio)" in imported.stderr


def test_set_header_route_becomes_an_ab_test(tmp_path: Path) -> None:
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(
        ROLLOUT_HEAD + "      steps:\n"
        "      - setHeaderRoute:\n"
        "          {name: header-route, match: [{headerName: agent, headerValue: {regex: firefox(.*)}}]}\n"
        "      - pause: {duration: 5m}\n"
        "      - setHeaderRoute: {name: header-route}\n"
    )
    imported = run_import(tmp_path, rollout)
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"] == {
        "abTest": {"match": [{"headers": {"agent": {"regex": "firefox(.*)"}}}], "duration": "5m", "stepInterval": "5m"}
    }


def test_a_mirror_route_of_every_request_becomes_mirroring(tmp_path: Path) -> None:
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(
        ROLLOUT_HEAD + "      steps:\n"
        "      - setCanaryScale: {weight: 50}\n"
        "      - setMirrorRoute: {name: mirror-route, percentage: 50, match: [{path: {prefix: /}}]}\n"
        "      - pause: {duration: 10m}\n"
    )
    imported = run_import(tmp_path, rollout)
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"] == {"mirror": {"percent": 50, "duration": "10m", "stepInterval": "10m"}}
    assert "setMirrorRoute.match: not translated" not in imported.stderr
    assert "steps[0].setCanaryScale: not translated: meshroll does not scale pods" in imported.stderr


def test_without_a_stable_service_the_service_selecting_the_rollout_s_pods_is_its_target(
    peer: Path, tmp_path: Path
) -> None:
    imported = run_import(tmp_path, peer / "argo-rollout-notifications-slack.yaml")
    assert imported.spec["target"]["service"] == "rollouts-canary"  # not the Rollout's own name, rollout-canary
    assert "Service rollouts-canary: no imported Canary or Rollout references it" not in imported.stderr
    assert "the Service in the input that selects the Rollout's pods" in imported.text
