"""``POST /slack/actions``: Slack's button clicks (Promote, Pause/Resume, Abort, Retry) become operator commands.

A request is acted on only when Slack's signature over it checks out (``notify/interactions.py``:
the signing secret, a timestamp within five minutes); anything else is answered 401 and changes
nothing. Slack wants an answer within three seconds, so a verified click is answered 200 at once
and handled on a thread of its own: the clicking user must be in the allow-list, and the button
must be of the Experiment's current run, still under way (Retry: ended without promotion). Then the
Experiment's annotation ``meshroll.io/command`` is set to a fresh value (``abort:slack-U123-<action ts>``) with
``meshroll.io/command-by: slack:U123 (alice)`` beside it, in one merge patch conditional on the
object's resourceVersion: the leader's reconcile carries it out once, like ``kubectl annotate``,
and its Event and Slack reply name the user. The result goes back to the user alone (an ephemeral
message through the click's ``response_url``). Any replica may take the click: it only patches.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rollout.errors import RolloutError
from rollout.kube.client import Conflict, KubeError, NotFound
from rollout.kube.command_by import COMMAND_ANNOTATION, COMMAND_BY_ANNOTATION
from rollout.kube.document import split
from rollout.kube.objects import Experiments, Key
from rollout.kube.server import Reply
from rollout.notify import SLACK_API_URL_ENV
from rollout.notify.facts import run_id
from rollout.notify.interactions import USER_ID, Click, NotAClick, Unverified, parse_click, verify
from rollout.notify.secrets import Secret, from_env
from rollout.status import Phase

log = logging.getLogger("meshroll.kube.slack")

PATH = "/slack/actions"
ALLOW_HINT = "--slack-allowed-users (Helm value slack.interactivity.allowedUsers)"
RESPONSE_TIMEOUT_S = 10
CONFLICT_ATTEMPTS = 3  # a click decided again on the new object when the controller wrote it in between
Obj = dict[str, Any]


SLACK_RESPONSE_HOST = "hooks.slack.com"  # where Slack's response_urls point


@dataclass(frozen=True)
class ActionSettings:
    secret: Secret
    allowed_users: frozenset[str]
    namespaces: tuple[str, ...] = ()  # () all: the namespaces this controller watches
    response_hosts: tuple[str, ...] = (SLACK_RESPONSE_HOST,)  # a click's response_url must point at one


def answerable(url: str, hosts: tuple[str, ...]) -> bool:
    """Whether the controller may POST its reply to ``url``: https to Slack's host, or a host configured
    beside it (``$MESHROLL_SLACK_API_URL``'s, a proxy or a stand-in). A signed request chose the URL, but
    the controller sends nothing anywhere else from inside the cluster."""
    parts = urlsplit(url)
    if parts.hostname == SLACK_RESPONSE_HOST:
        return parts.scheme == "https"
    return parts.scheme in ("http", "https") and parts.hostname in hosts


@dataclass(frozen=True)
class Outcome:
    """What a click comes to: the message for the user, and the annotations to set (None: nothing changes)."""

    message: str
    annotations: dict[str, str] | None = None
    resource_version: str = ""
    log_fields: dict[str, str] = field(default_factory=dict)


def command_value(click: Click) -> str:
    """A fresh ``meshroll.io/command`` value for ``click``: ``abort:slack-U123-1732288888.123456``."""
    stamp = re.sub(r"[^0-9.]", "", click.action_ts) or f"{time.time():.6f}"
    return f"{click.value.command}:slack-{click.user_id}-{stamp}"


def decide(click: Click, obj: Mapping[str, Any] | None, settings: ActionSettings) -> Outcome:
    """The outcome of ``click`` on the Experiment ``obj`` (None: it does not exist). Pure."""
    value = click.value
    what = f"{value.command} {value.experiment}"
    if not settings.allowed_users:
        return Outcome(
            f"meshroll takes no commands from Slack yet: no user is allowed. Ask whoever runs meshroll to add "
            f"your Slack user ID ({click.user_id}) to {ALLOW_HINT}."
        )
    if click.user_id not in settings.allowed_users:
        return Outcome(
            f"You ({click.user_id}) may not {what} from Slack: your user ID is not in {ALLOW_HINT}. Nothing changed."
        )
    if settings.namespaces and value.namespace not in settings.namespaces:
        return Outcome(f"{value.experiment} is not in a namespace this controller watches; nothing changed.")
    if obj is None:
        return Outcome(f"Experiment {value.experiment} no longer exists; nothing changed.")
    stored = split(obj.get("status"))
    status = stored.status
    if status is None or run_id(status) != value.run:
        current = f"run {stored.info.run} is the current one" if status is not None else "it has no run now"
        return Outcome(f"This message is about an older run of {value.experiment} ({current}); nothing changed.")
    phase = status.phase
    if value.command == "retry":
        if phase not in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.INCONCLUSIVE):
            why = "a promoted release is not run again" if phase is Phase.SUCCEEDED else "it has not ended"
            return Outcome(f"Run {stored.info.run} of {value.experiment} is {phase.value}: {why}; nothing changed.")
    elif phase not in (Phase.PROGRESSING, Phase.PAUSED):
        return Outcome(f"Run {stored.info.run} of {value.experiment} is {phase.value}: nothing to {value.command}.")
    if (value.command, phase) in (("pause", Phase.PAUSED), ("resume", Phase.PROGRESSING)):
        return Outcome(f"Run {stored.info.run} of {value.experiment} is {phase.value} already; nothing changed.")
    command = command_value(click)
    metadata = obj.get("metadata") or {}
    return Outcome(
        f"{value.command.capitalize()} of {value.experiment} (run {stored.info.run}) requested by <@{click.user_id}>; "
        "the controller carries it out and reports in the experiment's thread.",
        annotations={COMMAND_ANNOTATION: command, COMMAND_BY_ANNOTATION: click.who},
        resource_version=str(metadata.get("resourceVersion") or ""),
        log_fields={"command": command, "by": click.who},
    )


Responder = Callable[[str, str], None]  # (response_url, message)


def respond_ephemeral(url: str, message: str) -> None:
    """Post ``message`` to the click's ``response_url``, shown to the clicking user alone."""
    body = json.dumps({"response_type": "ephemeral", "replace_original": False, "text": message}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_S) as answer:
            answer.read(1024)
    except (urllib.error.URLError, OSError) as exc:
        log.warning("could not answer a Slack click through its response_url (%s)", type(exc).__name__)


class SlackActions:
    """The endpoint: ``handle`` answers the HTTP request; the click is acted on in a thread of its own."""

    def __init__(
        self,
        experiments: Experiments,
        settings: ActionSettings,
        *,
        clock: Callable[[], float] = time.time,
        respond: Responder = respond_ephemeral,
    ) -> None:
        self.experiments = experiments
        self.settings = settings
        self.clock = clock
        self.respond = respond

    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        try:
            verify(self.settings.secret, headers, body, self.clock())
        except Unverified as exc:
            log.warning("refused a request to %s: %s", PATH, exc)
            return Reply(401, b"unverified: not signed with this app's Slack signing secret\n")
        try:
            click = parse_click(body)
        except NotAClick as exc:
            log.info("ignored a Slack request to %s: %s", PATH, exc)
            return Reply(400, f"not a click on a meshroll button: {exc}\n".encode())
        threading.Thread(target=self.act, args=(click,), name="meshroll-slack-click", daemon=True).start()
        return Reply(200, b"")

    def act(self, click: Click) -> Outcome:
        """Carry out ``click`` and tell the user; the outcome (for tests)."""
        outcome = self._outcome(click)
        log.info(
            "Slack click by %s: %s %s: %s",
            click.who,
            click.value.command,
            click.value.experiment,
            outcome.message,
            extra=outcome.log_fields,
        )
        if click.response_url and answerable(click.response_url, self.settings.response_hosts):
            self.respond(click.response_url, outcome.message)
        elif click.response_url:
            log.warning("not answering a Slack click at %s: not Slack's host", urlsplit(click.response_url).hostname)
        return outcome

    def _outcome(self, click: Click) -> Outcome:
        """Decide on the object as it is now; a write that lost a race with the controller decides again."""
        key = Key(click.value.namespace, click.value.name)
        for _ in range(CONFLICT_ATTEMPTS):
            outcome = self._attempt(click, key)
            if outcome is not None:
                return outcome
        return Outcome(f"{key} kept changing while your click was handled; nothing changed. Click again.")

    def _attempt(self, click: Click, key: Key) -> Outcome | None:
        """The click's outcome, or None when the object changed between the read and the write."""
        try:
            obj: Obj | None = self.experiments.get(key) if self._may_read(click) else None
        except NotFound:
            obj = None
        except KubeError as exc:
            return Outcome(f"meshroll could not read {key}: {exc}. Nothing changed; try again.")
        outcome = decide(click, obj, self.settings)
        if outcome.annotations is None:
            return outcome
        try:
            self.experiments.patch_annotations(key, outcome.annotations, outcome.resource_version)
        except Conflict:
            return None
        except NotFound:
            return Outcome(f"Experiment {key} no longer exists; nothing changed.")
        except KubeError as exc:
            return Outcome(f"meshroll could not set the command on {key}: {exc}. Nothing changed; try again.")
        return outcome

    def _may_read(self, click: Click) -> bool:
        """Only an allowed user's click, in a watched namespace, reads the object (``decide`` says why not)."""
        ns = click.value.namespace
        allowed = click.user_id in self.settings.allowed_users
        return allowed and (not self.settings.namespaces or ns in self.settings.namespaces)


SECRET_ENV = "MESHROLL_SLACK_SIGNING_SECRET"  # the signing secret itself (instead of a file)


def parse_allowed_users(text: str) -> frozenset[str]:
    """``U1,U2`` (commas or spaces) as a set of Slack user IDs; RolloutError naming the first bad one."""
    users = [u for u in re.split(r"[,\s]+", text.strip()) if u]
    for user in users:
        if not USER_ID.fullmatch(user):
            raise RolloutError(
                f"--slack-allowed-users: {user!r} is not a Slack user ID (like U012AB3CD: in Slack, a user's "
                "profile > ⋮ > Copy member ID)"
            )
    return frozenset(users)


def read_signing_secret(path: Path | None, env: Mapping[str, str]) -> Secret | None:
    """The signing secret from ``path`` (or ``$MESHROLL_SLACK_SIGNING_SECRET``); None when neither is given."""
    if path is None:
        return from_env(SECRET_ENV, env)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise RolloutError(
            f"--slack-signing-secret-file {path}: cannot read it ({why}); give the file holding your Slack app's "
            "signing secret (Basic Information > App Credentials)"
        ) from None
    if not text:
        raise RolloutError(f"--slack-signing-secret-file {path} is empty; put the Slack app's signing secret in it")
    return Secret(text)


def action_settings(
    secret_file: Path | None, allowed_users: str, namespaces: tuple[str, ...], env: Mapping[str, str]
) -> ActionSettings | None:
    """The endpoint's settings from the controller's flags; None: Slack interactivity is off."""
    allowed = parse_allowed_users(allowed_users)
    secret = read_signing_secret(secret_file, env)
    if secret is None:
        if allowed:
            raise RolloutError(
                "--slack-allowed-users needs --slack-signing-secret-file (or $MESHROLL_SLACK_SIGNING_SECRET): "
                "without the signing secret no click can be verified"
            )
        return None
    if not allowed:
        log.warning(
            "Slack buttons are served on %s, but no user is allowed to use them: every click is refused until "
            "--slack-allowed-users (Helm: slack.interactivity.allowedUsers) names some",
            PATH,
        )
    stand_in = urlsplit(env.get(SLACK_API_URL_ENV) or "").hostname
    return ActionSettings(secret, allowed, namespaces, (SLACK_RESPONSE_HOST, *([stand_in] if stand_in else [])))
