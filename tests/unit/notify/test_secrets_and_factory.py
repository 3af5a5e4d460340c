"""Tokens never show; ``notifiers_for`` builds what ``spec.notify`` asks for, and leaves out what it cannot."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from rollout.notify import close_all, notifiers_for
from rollout.notify.secrets import RedactingFilter, Secret, SecretError, from_env, redact, redacting_logger
from rollout.notify.slack import SlackNotifier
from rollout.notify.threads import FileThreadStore, ThreadRef
from rollout.notify.webhook import WebhookNotifier
from rollout.spec import Experiment
from tests.unit.notify import events

TOKEN = "xoxb-1111-2222-SECRETVALUE"


def with_notify(notify: dict[str, object]) -> Experiment:
    base = events.experiment()
    data = base.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["spec"]["notify"] = notify
    return Experiment.model_validate(data)


def test_a_secret_never_shows_in_repr_str_or_formatting() -> None:
    secret = Secret(TOKEN)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"token": secret})]
    assert all(TOKEN not in s for s in shown)
    assert repr(secret) == "***" and secret.reveal() == TOKEN
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_secrets_come_from_the_environment_and_blank_is_none() -> None:
    assert from_env("T", {"T": f"  {TOKEN}\n"}).reveal() == TOKEN  # type: ignore[union-attr]
    assert from_env("T", {"T": "  "}) is None and from_env("T", {}) is None


def test_the_redacting_filter_cleans_messages_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    logger = redacting_logger("meshroll.test.sdk", [Secret(TOKEN)])
    with caplog.at_level(logging.DEBUG, logger="meshroll.test.sdk"):
        logger.debug("calling https://hooks.example/%s now", TOKEN)
        try:
            raise ValueError(f"bad url https://hooks.example/{TOKEN}")
        except ValueError:
            logger.exception("failed")
    assert TOKEN not in caplog.text
    assert "https://hooks.example/*** now" in caplog.text
    assert redact(f"a {TOKEN} b", [None, Secret(TOKEN)]) == "a *** b"
    assert RedactingFilter([Secret("")]).secrets == []


def test_slack_bot_mode_and_webhooks_from_the_spec(tmp_path: Path) -> None:
    experiment = with_notify(
        {
            "slack": {"channel": "#deploys", "tokenEnv": "MY_TOKEN"},
            "webhooks": [{"url": "https://hooks.example/a", "secretEnv": "HOOK_KEY"}, {"url": "https://b.example/"}],
        }
    )
    notifiers = notifiers_for(experiment, tmp_path, env={"MY_TOKEN": TOKEN, "HOOK_KEY": "k"})
    try:
        assert [type(n) for n in notifiers] == [SlackNotifier, WebhookNotifier, WebhookNotifier]
        slack = notifiers[0]
        assert isinstance(slack, SlackNotifier) and slack.threaded
        assert isinstance(slack.threads, FileThreadStore)
        assert slack.threads.path == tmp_path / "demo.demo-healthy.slack-thread.json"
        assert slack.queue.path == tmp_path / "demo.demo-healthy.slack-queue.json"
        assert TOKEN not in repr(slack.__dict__)
    finally:
        assert close_all(notifiers, 1)


def test_no_token_means_no_slack_notifier_and_a_warning_that_says_what_to_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    experiment = with_notify({"slack": {"channel": "#deploys"}})
    assert notifiers_for(experiment, tmp_path, env={}) == []
    assert "no Slack notifications for demo/demo-healthy: set $SLACK_BOT_TOKEN" in caplog.text


def test_the_incoming_webhook_mode_is_used_without_a_channel(tmp_path: Path) -> None:
    experiment = with_notify({"slack": {"webhookUrlEnv": "SLACK_HOOK"}})
    url = "https://hooks.slack.com/services/T/B/SECRETPART"
    notifiers = notifiers_for(experiment, None, env={"SLACK_HOOK": url})
    assert len(notifiers) == 1
    slack = notifiers[0]
    assert isinstance(slack, SlackNotifier) and not slack.threaded and slack.queue.path is None
    assert close_all(notifiers, 1)


class SecretReaderStub:
    def __init__(self, values: dict[tuple[str, str, str], str]) -> None:
        self.values = values

    def read(self, namespace: str, name: str, key: str) -> Secret:
        if (namespace, name, key) not in self.values:
            raise SecretError(f"Secret {namespace}/{name} does not exist; create it with the key {key!r}")
        return Secret(self.values[(namespace, name, key)])


def test_a_token_secret_is_read_from_the_experiments_namespace(tmp_path: Path) -> None:
    experiment = with_notify({"slack": {"channel": "#deploys", "tokenSecret": "slack-bot"}})
    reader = SecretReaderStub({("demo", "slack-bot", "token"): TOKEN})
    notifiers = notifiers_for(experiment, tmp_path, env={}, secret_reader=reader)
    assert len(notifiers) == 1 and isinstance(notifiers[0], SlackNotifier)
    assert close_all(notifiers, 1)


def test_an_unreadable_token_secret_falls_back_to_the_environment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    experiment = with_notify({"slack": {"channel": "#deploys", "tokenSecret": "missing"}})
    notifiers = notifiers_for(experiment, tmp_path, env={"SLACK_BOT_TOKEN": TOKEN}, secret_reader=SecretReaderStub({}))
    assert len(notifiers) == 1
    assert "Secret demo/missing does not exist" in caplog.text and TOKEN not in caplog.text
    assert close_all(notifiers, 1)


def test_a_thread_is_remembered_in_its_file_and_old_runs_are_forgotten(tmp_path: Path) -> None:
    file = tmp_path / "threads.json"
    store = FileThreadStore(file)
    for run in range(25):
        store.put("demo/checkout", str(run), ThreadRef("C1", f"17.{run}"))
    again = FileThreadStore(file)
    assert again.get("demo/checkout", "24") == ThreadRef("C1", "17.24")
    assert again.get("demo/checkout", "4") is None and again.get("demo/checkout", "5") is not None
    assert again.get("demo/other", "24") is None


def test_a_webhook_whose_signing_key_is_missing_is_left_out_not_sent_unsigned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    experiment = with_notify({"webhooks": [{"url": "https://hooks.example/a", "secretEnv": "HOOK_KEY"}]})
    assert notifiers_for(experiment, tmp_path, env={}) == []
    assert "no webhook notifications to https://hooks.example/a for demo/demo-healthy" in caplog.text
    assert "its signing key $HOOK_KEY is not set" in caplog.text


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("not_in_channel", "invite the bot to the channel"),
        ("channel_not_found", "check the channel's name"),
        ("is_archived", "the channel is archived"),
        ("no_text", "check the channel and the bot's chat:write scope"),
    ],
)
def test_a_slack_refusal_says_what_to_do_about_it(error: str, hint: str) -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    from rollout.notify.slack import _api_failure

    response = SlackResponse(
        client=None, http_verb="POST", api_url="", req_args={}, data={"ok": False, "error": error}, headers={},
        status_code=200,
    )  # fmt: skip
    failure = _api_failure("chat.postMessage", SlackApiError("refused", response))
    assert str(failure).startswith(f"Slack chat.postMessage failed: {error}; {hint}")
