"""Slack, with slack-sdk: a bot token (threads per run, the first message kept current) or an incoming webhook.

``notify`` renders the message and queues it; the queue's thread talks to Slack. slack-sdk retries
429 (after ``Retry-After``), 500/503 and connection errors itself; what still fails waits in the
queue. Errors are translated here into the queue's temporary/permanent failures, with messages
that never contain the token or the webhook URL.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

from rollout.machine import Notify
from rollout.notify.blocks import Block, event_blocks, headline, notice_blocks, plain_text, summary_blocks
from rollout.notify.buttons import with_actions
from rollout.notify.facts import facts
from rollout.notify.queue import Delivery, DeliveryQueue, PermanentFailure, TemporaryFailure
from rollout.notify.secrets import Secret, redacting_logger
from rollout.notify.threads import MemoryThreadStore, ThreadRef, ThreadStore
from rollout.spec.models import Experiment
from rollout.status import Status

log = logging.getLogger("meshroll.notify")

TIMEOUT_SECONDS = 10
# Slack error codes worth another try later; any other "ok": false is permanent.
TEMPORARY_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})


def retry_handlers() -> list[RetryHandler]:
    """Connection errors, 429 (waits Retry-After) and 500/503, each retried by slack-sdk itself."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=1),
        RateLimitErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def web_client(token: Secret, *, base_url: str | None = None) -> WebClient:
    logger = redacting_logger("meshroll.notify.slack_sdk", [token])
    options: dict[str, Any] = {"base_url": base_url} if base_url else {}
    return WebClient(
        token=token.reveal(), timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers(), logger=logger, **options
    )


def webhook_client(url: Secret) -> WebhookClient:
    logger = redacting_logger("meshroll.notify.slack_sdk", [url])
    return WebhookClient(url=url.reveal(), timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers(), logger=logger)


CHANNEL_HINTS = {
    "not_in_channel": "invite the bot to the channel (/invite @your-bot in Slack)",
    "channel_not_found": "check the channel's name; a private channel needs the bot invited first",
    "is_archived": "the channel is archived; unarchive it or name another channel",
    "missing_scope": "add the chat:write scope to the bot token and reinstall the app",
}


def _api_failure(method: str, exc: SlackApiError) -> Exception:
    status = getattr(exc.response, "status_code", 0)
    error = str(exc.response.get("error", "")) if exc.response is not None else ""
    if status == 429 or status >= 500 or error in TEMPORARY_ERRORS:
        return TemporaryFailure(f"Slack {method} answered HTTP {status} {error}".strip())
    if error in AUTH_ERRORS:
        return PermanentFailure(f"Slack {method} refused the bot token ({error}); check the token and its scopes")
    hint = CHANNEL_HINTS.get(error, "check the channel and the bot's chat:write scope")
    return PermanentFailure(f"Slack {method} failed: {error or f'HTTP {status}'}; {hint}")


def _call(method: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except SlackApiError as exc:
        raise _api_failure(method, exc) from None
    except (SlackClientError, urllib.error.URLError, OSError) as exc:
        raise TemporaryFailure(f"cannot reach Slack for {method} ({type(exc).__name__})") from None


class SlackBotSender:
    """Sends queued deliveries with a bot token: the first of a run starts its thread."""

    def __init__(self, client: WebClient, channel: str, threads: ThreadStore) -> None:
        self.client = client
        self.channel = channel
        self.threads = threads

    def __call__(self, d: Delivery) -> None:
        body = d.body
        if d.action == "notice":
            _call("chat.postMessage", lambda: self._post(body["text"], body["blocks"]))
            return
        ref = self.threads.get(d.key, d.run)
        if ref is not None and ref.to and ref.to != self.channel:
            if d.action == "update":
                return  # the old channel's summary stays as it was; the next post starts the new thread
            self._moved(ref)  # the Experiment's channel was edited mid-run: the run goes on in a new thread there
            ref = None
        if d.action == "update":
            if ref is not None:
                old = ref
                _call(
                    "chat.update",
                    lambda: self.client.chat_update(
                        channel=old.channel, ts=old.ts, text=body["text"], blocks=body["blocks"]
                    ),
                )
            return
        if ref is None:  # this run's first message: the summary, which later events keep current
            response = _call("chat.postMessage", lambda: self._post(body["summary_text"], body["summary"]))
            channel, ts = response.get("channel"), response.get("ts")
            if isinstance(channel, str) and isinstance(ts, str):
                self.threads.put(d.key, d.run, ThreadRef(channel, ts, self.channel))
            return
        thread = ref.ts
        _call("chat.postMessage", lambda: self._post(body["text"], body["blocks"], thread_ts=thread))

    def _moved(self, ref: ThreadRef) -> None:
        """Say in the old thread where the run's messages go now, and turn its first message (kept current
        until now, with the run's buttons) into that note (best effort: the bot may have left the channel)."""
        text = f"The Experiment's Slack channel was changed: this run's messages go to {self.channel} from now on."
        note = [{"type": "section", "text": {"type": "mrkdwn", "text": f":arrow_right: {text}"}}]
        try:
            self.client.chat_postMessage(channel=ref.channel, thread_ts=ref.ts, text=text, unfurl_links=False)
            self.client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=note)
        except (SlackClientError, urllib.error.URLError, OSError) as exc:
            log.info("cannot say in the old Slack thread %s that the run moved (%s)", ref.ts, type(exc).__name__)

    def _post(self, text: str, blocks: list[Block], thread_ts: str | None = None) -> Any:
        return self.client.chat_postMessage(
            channel=self.channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
        )


class SlackWebhookSender:
    """Sends queued deliveries to an incoming webhook (no threads: every event is a message)."""

    def __init__(self, client: WebhookClient) -> None:
        self.client = client

    def __call__(self, d: Delivery) -> None:
        if d.action == "update":
            return
        try:
            response = self.client.send(text=d.body["text"], blocks=d.body["blocks"], unfurl_links=False)
        except (SlackClientError, urllib.error.URLError, OSError) as exc:
            raise TemporaryFailure(f"cannot reach the Slack webhook ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TemporaryFailure(f"the Slack webhook answered HTTP {status}")
        if status >= 300:
            raise PermanentFailure(f"the Slack webhook refused the message: HTTP {status} {response.body[:80]}")


class SlackNotifier:
    """Queues Slack messages for an experiment's events (and GitOps notices); never blocks the caller.

    With ``actions`` (the controller serves Slack's clicks), the message that stands for a run in
    progress carries its buttons: the thread's first message, kept current (or, without threads,
    each event's message)."""

    def __init__(
        self,
        queue: DeliveryQueue,
        threads: ThreadStore | None = None,
        *,
        threaded: bool = True,
        actions: bool = False,
    ) -> None:
        self.queue = queue
        self.threads = threads or MemoryThreadStore()
        self.threaded = threaded
        self.actions = actions
        self._roots: set[tuple[str, str]] = set()  # runs whose first message is already queued
        self._lock = threading.Lock()

    def notify(self, experiment: Experiment, status: Status, note: Notify) -> None:
        f = facts(experiment, status, note)
        summary = with_actions(summary_blocks(f), f) if self.actions else summary_blocks(f)
        events = with_actions(event_blocks(f), f) if self.actions and not self.threaded else event_blocks(f)
        body = {
            "text": headline(f) if self.threaded else plain_text(f),
            "blocks": events,
            "summary_text": headline(f),
            "summary": summary,
        }
        self.queue.put(Delivery(f.experiment, f.run, "post", f.terminal, body, kind=f.kind))
        if not self.threaded:
            return
        with self._lock:
            first = (f.experiment, f.run) not in self._roots and self.threads.get(f.experiment, f.run) is None
            self._roots.add((f.experiment, f.run))
        if not first:
            update = {"text": headline(f), "blocks": summary}
            self.queue.put(Delivery(f.experiment, f.run, "update", f.terminal, update, kind=f.kind))

    def notice(self, emoji: str, title: str, lines: list[str]) -> None:
        body = {"text": f"{emoji} {title}\n" + "\n".join(lines), "blocks": notice_blocks(emoji, title, lines)}
        self.queue.put(Delivery("gitops", "", "notice", True, body, kind="notice"))

    def close(self, timeout: float = 10.0) -> bool:
        return self.queue.close(timeout)


def slack_bot_notifier(
    token: Secret,
    channel: str,
    *,
    queue_file: Path | None = None,
    threads: ThreadStore | None = None,
    base_url: str | None = None,
    actions: bool = False,
    **queue_options: Any,
) -> SlackNotifier:
    sender = SlackBotSender(web_client(token, base_url=base_url), channel, threads or MemoryThreadStore())
    queue = DeliveryQueue(sender, name="slack", path=queue_file, replaces=frozenset({"update"}), **queue_options)
    return SlackNotifier(queue, sender.threads, actions=actions)


def slack_webhook_notifier(
    url: Secret, *, queue_file: Path | None = None, actions: bool = False, **queue_options: Any
) -> SlackNotifier:
    sender = SlackWebhookSender(webhook_client(url))
    queue = DeliveryQueue(sender, name="slack-webhook", path=queue_file, **queue_options)
    return SlackNotifier(queue, threaded=False, actions=actions)
