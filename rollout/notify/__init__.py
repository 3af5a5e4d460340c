"""Telling people what an experiment did: Slack (bot token or incoming webhook) and generic JSON webhooks.

``notifiers_for(experiment, state_dir)`` builds what ``spec.notify`` asks for. Each notifier queues
its messages (persisted in ``state_dir`` beside the status) and sends them from a background
thread, so a rollout never waits for, or fails because of, a chat service. Call ``close_all`` when
the run ends to give the final outcome a few seconds to go out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from rollout.machine import Notify
from rollout.notify.secrets import KubernetesSecretReader, Secret, SecretError, SecretReader, from_env
from rollout.notify.slack import slack_bot_notifier, slack_webhook_notifier
from rollout.notify.threads import FileThreadStore, MemoryThreadStore, ThreadStore
from rollout.notify.webhook import webhook_notifier
from rollout.spec.models import Experiment, SlackSpec
from rollout.status import Status

log = logging.getLogger("meshroll.notify")

SLACK_API_URL_ENV = "MESHROLL_SLACK_API_URL"  # another Slack Web API base URL (a proxy, or a test stand-in)


class Notifier(Protocol):
    def notify(self, experiment: Experiment, status: Status, note: Notify) -> None: ...

    def close(self, timeout: float = 10.0) -> bool: ...


class Announcer(Protocol):
    """Something that can post a message not tied to an experiment's run (GitOps notices)."""

    def notice(self, emoji: str, title: str, lines: list[str]) -> None: ...

    def close(self, timeout: float = 10.0) -> bool: ...


def notifiers_for(
    experiment: Experiment,
    state_dir: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    secret_reader: SecretReader | None = None,
    slack_actions: bool = False,
    threads: ThreadStore | None = None,
) -> list[Notifier]:
    """The notifiers ``experiment.spec.notify`` asks for; queues and threads are kept in ``state_dir``.

    A notifier that cannot be built (no token, unreadable Secret) is left out with a warning in the
    log: notifications are never a reason not to run. ``slack_actions``: Slack messages of a run in
    progress carry Promote, Pause/Resume and Abort buttons (the controller serves their clicks).
    ``threads``: where the Slack threads of its runs are kept instead (the controller keeps them on
    the Experiment, so that a replica taking over keeps replying in them).
    """
    env = os.environ if env is None else env
    spec = experiment.spec.notify
    prefix = f"{experiment.metadata.namespace}.{experiment.metadata.name}"

    def file(suffix: str) -> Path | None:
        return state_dir / f"{prefix}.{suffix}" if state_dir is not None else None

    notifiers: list[Notifier] = []
    if spec.slack is not None:
        slack = _slack(spec.slack, experiment, env, secret_reader, file, slack_actions, threads)
        if slack is not None:
            notifiers.append(slack)
    for hook in spec.webhooks:
        key = from_env(hook.secret_env, env) if hook.secret_env else None
        if hook.secret_env and key is None:  # unsigned events would be refused, or worse, trusted
            log.warning(
                "no webhook notifications to %s for %s: its signing key $%s is not set; set it, or drop secretEnv",
                hook.url,
                experiment.key,
                hook.secret_env,
            )
            continue
        digest = hashlib.sha256(hook.url.encode()).hexdigest()[:10]
        notifiers.append(webhook_notifier(hook.url, key, queue_file=file(f"webhook-{digest}-queue.json")))
    return notifiers


def _slack(
    spec: SlackSpec,
    experiment: Experiment,
    env: Mapping[str, str],
    reader: SecretReader | None,
    file: _FileNamer,
    actions: bool,
    threads: ThreadStore | None,
) -> Notifier | None:
    namespace = experiment.metadata.namespace
    if spec.channel:
        token = _secret(spec.token_secret, "token", namespace, reader) or from_env(spec.token_env, env)
        if token is not None:
            if threads is None:
                threads_file = file("slack-thread.json")
                threads = FileThreadStore(threads_file) if threads_file is not None else MemoryThreadStore()
            return slack_bot_notifier(
                token,
                spec.channel,
                queue_file=file("slack-queue.json"),
                threads=threads,
                base_url=env.get(SLACK_API_URL_ENV) or None,
                actions=actions,
            )
    url = _secret(spec.webhook_secret, "url", namespace, reader)
    if url is None and spec.webhook_url_env:
        url = from_env(spec.webhook_url_env, env)
    if url is not None:
        return slack_webhook_notifier(url, queue_file=file("slack-webhook-queue.json"), actions=actions)
    where = f"${spec.token_env}" + (f" or Secret {namespace}/{spec.token_secret}" if spec.token_secret else "")
    if spec.webhook_url_env:
        where += f", or ${spec.webhook_url_env}"
    log.warning("no Slack notifications for %s: set %s", experiment.key, where)
    return None


class _FileNamer(Protocol):
    def __call__(self, suffix: str) -> Path | None: ...


def _secret(name: str | None, key: str, namespace: str, reader: SecretReader | None) -> Secret | None:
    if not name:
        return None
    try:
        return (reader or KubernetesSecretReader()).read(namespace, name, key)
    except SecretError as exc:
        log.warning("%s", exc)
        return None


def close_all(notifiers: Sequence[object], timeout: float = 10.0) -> bool:
    """Give every notifier's queue up to ``timeout`` seconds in all to deliver; whether all emptied."""
    deadline = time.monotonic() + timeout
    emptied = True
    for notifier in notifiers:
        close = getattr(notifier, "close", None)
        if callable(close):
            emptied = bool(close(max(0.0, deadline - time.monotonic()))) and emptied
    return emptied


__all__ = ["Announcer", "Notifier", "close_all", "notifiers_for"]
