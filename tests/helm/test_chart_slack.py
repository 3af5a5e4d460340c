"""The chart's Slack buttons: off by default; on, the signing secret is mounted from a Secret and the
allowed users reach the controller; on without a Secret, the install is refused with a clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.chart import CHART, KUBE_VERSION, helm, render

Obj = dict[str, Any]
ON = {"enabled": True, "signingSecret": {"name": "slack-app", "key": "signing"}, "allowedUsers": ["U012AB3CD", "U0456"]}


def pod(values: Obj) -> Obj:
    documents = render("mr", "meshroll-system", values)
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    return dict(deployment["spec"]["template"]["spec"])


def test_off_by_default_nothing_of_it_is_rendered() -> None:
    spec = pod({})
    args = spec["containers"][0]["args"]
    assert not any(a.startswith("--slack-") for a in args)
    assert "slack-signing-secret" not in {v["name"] for v in spec["volumes"]}


def test_on_the_signing_secret_is_a_read_only_file_and_the_users_are_passed() -> None:
    spec = pod({"slack": {"tokenSecret": {"name": "", "key": "token"}, "interactivity": ON}})
    container = spec["containers"][0]
    assert "--slack-signing-secret-file=/etc/meshroll/slack/signing-secret" in container["args"]
    assert "--slack-allowed-users=U012AB3CD,U0456" in container["args"]
    assert {"name": "slack-signing-secret", "mountPath": "/etc/meshroll/slack", "readOnly": True} in container[
        "volumeMounts"
    ]
    volume = next(v for v in spec["volumes"] if v["name"] == "slack-signing-secret")
    assert volume["secret"] == {"secretName": "slack-app", "items": [{"key": "signing", "path": "signing-secret"}]}
    assert not any("SIGNING" in e["name"] for e in container["env"])  # never in the environment


def test_on_without_users_every_click_is_refused_by_the_controller_not_the_chart() -> None:
    spec = pod({"slack": {"tokenSecret": {"name": "", "key": "token"}, "interactivity": {**ON, "allowedUsers": []}}})
    assert not any(a.startswith("--slack-allowed-users") for a in spec["containers"][0]["args"])


def test_on_without_a_signing_secret_is_refused() -> None:
    result = helm(
        "template", "mr", str(CHART), "--kube-version", KUBE_VERSION, "--set", "slack.interactivity.enabled=true"
    )
    assert result.returncode != 0 and "needs slack.interactivity.signingSecret.name" in result.stderr


def test_the_cluster_role_is_unchanged_by_it() -> None:
    """Patching the command annotations is the experiments' patch the finalizer already needs."""
    plain = next(d for d in render("mr", "ns", {}) if d["kind"] == "ClusterRole")
    slack = next(
        d
        for d in render("mr", "ns", {"slack": {"tokenSecret": {"name": "", "key": "token"}, "interactivity": ON}})
        if d["kind"] == "ClusterRole"
    )
    assert plain["rules"] == slack["rules"]
    experiments = next(r for r in slack["rules"] if r["resources"] == ["experiments"])
    assert {"get", "patch"} <= set(experiments["verbs"])


INGRESS = {"enabled": True, "host": "meshroll.example.com", "tlsSecret": "meshroll-tls", "className": "nginx"}


def slack_ingress(values: Obj) -> list[Obj]:
    documents = render("mr", "meshroll-system", {"slack": {"interactivity": {**ON, "ingress": values}}})
    return [d for d in documents if d["kind"] == "Ingress"]


def test_the_ingress_routes_only_the_actions_path_to_the_metrics_service_over_tls() -> None:
    (ingress,) = slack_ingress(INGRESS)
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["meshroll.example.com"], "secretName": "meshroll-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "meshroll.example.com"
    assert rule["http"]["paths"] == [
        {
            "path": "/slack/actions",
            "pathType": "Exact",  # /metrics, /healthz and /readyz are not reachable through it
            "backend": {"service": {"name": "mr-meshroll-metrics", "port": {"name": "http-metrics"}}},
        }
    ]
    service = next(d for d in render("mr", "meshroll-system", {}) if d["kind"] == "Service")
    assert service["metadata"]["name"] == "mr-meshroll-metrics"
    assert {"name": "http-metrics"}.items() <= service["spec"]["ports"][0].items()


def test_no_ingress_unless_asked_and_none_without_a_host() -> None:
    assert slack_ingress({"enabled": False}) == []
    assert not [
        d for d in render("mr", "ns", {"slack": {"interactivity": {"ingress": INGRESS}}}) if d["kind"] == "Ingress"
    ]
    result = helm(
        "template",
        "mr",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "slack.interactivity.enabled=true",
        "--set",
        "slack.interactivity.signingSecret.name=slack-app",
        "--set",
        "slack.interactivity.ingress.enabled=true",
    )
    assert result.returncode != 0 and "needs slack.interactivity.ingress.host" in result.stderr


@pytest.mark.controlplane
def test_the_api_server_accepts_the_ingress(controlplane: ControlPlane, tmp_path: Path) -> None:
    namespace = controlplane.create_namespace("meshroll-slack")
    documents = render("dry", namespace, {"slack": {"interactivity": {**ON, "ingress": INGRESS}}})
    ingress = [d for d in documents if d["kind"] == "Ingress"]
    path = tmp_path / "ingress.yaml"
    path.write_text(yaml.safe_dump_all(ingress))
    result = controlplane.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert "ingress.networking.k8s.io/dry-meshroll-slack created (server dry run)" in result.stdout
