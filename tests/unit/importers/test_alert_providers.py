"""A Slack AlertProvider's settings are carried over or said: where meshroll reads the webhook Secret (the
Experiment's namespace), its proxy and username, that meshroll posts every event whatever the alert's
severity; the Secret it names is not called unreferenced; Argo's Slack subscriptions say where the token is."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import Imported, run_import

CANARY = (
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: NAMESPACE}\nspec:\n"
    "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n"
    "  analysis:\n    interval: 1m\n    stepWeight: 10\n    maxWeight: 50\n"
    "    alerts: [{name: on-call Slack, severity: SEVERITY, providerRef: {name: on-call, namespace: flagger}}]\n"
)


def _imported(peer: Path, tmp_path: Path, namespace: str = "test", severity: str = "error") -> Imported:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY.replace("NAMESPACE", namespace).replace("SEVERITY", severity))
    imported = run_import(tmp_path, canary, peer / "flagger-alertprovider-slack.yaml")
    assert imported.code == 0, imported.stderr
    assert imported.spec["notify"] == {"slack": {"channel": "on-call-alerts", "webhookSecret": "on-call-url"}}
    return imported


def _line(imported: Imported, part: str) -> str:
    (line,) = [n for n in imported.stderr.splitlines() if part in n]
    return line


def test_a_webhook_secret_in_another_namespace_is_said_to_be_copied_to_the_experiments(
    peer: Path, tmp_path: Path
) -> None:
    line = _line(_imported(peer, tmp_path), "AlertProvider/on-call:spec.secretRef: not translated")
    assert "meshroll reads the webhook URL from its key 'url' (Flagger reads 'address')" in line
    assert "not in flagger where this AlertProvider and its Secret are: copy the Secret to namespace test" in line


def test_a_webhook_secret_in_the_experiments_namespace_needs_no_copy(peer: Path, tmp_path: Path) -> None:
    line = _line(_imported(peer, tmp_path, namespace="flagger"), "spec.secretRef: not translated")
    assert "in the Experiment's namespace flagger with the key url" in line and "copy" not in line


def test_the_secret_an_alert_provider_names_is_not_called_unreferenced(peer: Path, tmp_path: Path) -> None:
    assert "Secret on-call-url: no imported Canary or Rollout references it" not in _imported(peer, tmp_path).stderr


def test_the_providers_proxy_and_username_are_listed(peer: Path, tmp_path: Path) -> None:
    imported = _imported(peer, tmp_path)
    assert "HTTPS_PROXY" in _line(imported, "AlertProvider/on-call:spec.proxy: not translated: 'http://my-http-proxy")
    assert "posts as the Slack app" in _line(imported, "AlertProvider/on-call:spec.username: not translated")


def test_a_severity_filter_says_meshroll_posts_every_event_to_the_channel(peer: Path, tmp_path: Path) -> None:
    line = _line(_imported(peer, tmp_path), "alerts[0].severity: not translated")
    assert "'error': Flagger posted only errors to this channel; meshroll posts every event of a run there" in line
    assert "alerts[0].severity" not in _imported(peer, tmp_path, severity="info").stderr  # info: every event too


def test_argo_slack_subscriptions_say_where_meshroll_reads_the_bot_token(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "argo-rollout-notifications-slack.yaml")
    line = _line(imported, "the Slack bot token")
    assert "argo-rollouts-notification-secret" in line
    assert "$SLACK_BOT_TOKEN" in line and "spec.notify.slack.tokenSecret (key token)" in line
