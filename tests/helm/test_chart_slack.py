"""The chart's Slack buttons: off by default; on, the signing secret is mounted from a Secret and the
allowed users reach the controller; on without a Secret, the install is refused with a clear line."""

from __future__ import annotations

from typing import Any

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
