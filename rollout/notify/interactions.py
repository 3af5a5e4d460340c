"""Requests Slack sends when someone clicks a button: their signature, and what was clicked. Pure.

Slack signs each request with the app's signing secret: ``X-Slack-Signature`` is
``v0=`` + the hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request is
genuine when that matches (compared in constant time) and its timestamp is within five minutes of
now, so a captured request cannot be replayed later. The body of a click is
``application/x-www-form-urlencoded`` with one field, ``payload``: a JSON ``block_actions`` document.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from rollout.notify.buttons import ACTION_PREFIX, ActionValue, ActionValueError
from rollout.notify.secrets import Secret

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"
MAX_AGE_S = 300  # Slack's advice: refuse requests more than five minutes from now (either way)
TIMESTAMP = re.compile(r"[0-9]{1,12}")
USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")  # a Slack user (U...) or Enterprise Grid user (W...) ID


class Unverified(Exception):
    """The request is not provably from Slack (no, a wrong or a stale signature)."""


class NotAClick(Exception):
    """A genuine request that is not a click on one of meshroll's buttons."""


def signature(secret: Secret, timestamp: str, body: bytes) -> str:
    """What Slack puts in ``X-Slack-Signature`` for ``body`` sent at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.reveal().encode(), base, hashlib.sha256).hexdigest()


def verify(secret: Secret, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise ``Unverified`` unless ``body`` carries Slack's signature made with ``secret`` within five minutes."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
    given = lowered.get(SIGNATURE_HEADER.lower(), "").strip()
    if not timestamp or not given:
        raise Unverified(f"no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    if not TIMESTAMP.fullmatch(timestamp):
        raise Unverified(f"{TIMESTAMP_HEADER} is not a Unix time")
    if abs(now - int(timestamp)) > MAX_AGE_S:
        raise Unverified(f"{TIMESTAMP_HEADER} is more than {MAX_AGE_S}s from now (a replay, or a skewed clock)")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Unverified(f"{SIGNATURE_HEADER} does not match the signing secret")


@dataclass(frozen=True)
class Click:
    """One click on a meshroll button, as Slack reported it."""

    user_id: str
    user_name: str
    value: ActionValue
    action_ts: str
    response_url: str

    @property
    def who(self) -> str:
        """The clicking user as recorded on the Experiment: ``slack:U123 (alice)``."""
        return f"slack:{self.user_id} ({self.user_name})" if self.user_name else f"slack:{self.user_id}"


def parse_click(body: bytes) -> Click:
    """The click in a ``block_actions`` request body; ``NotAClick`` for anything else."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise NotAClick("the body is not a form with a JSON payload") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        kind = payload.get("type") if isinstance(payload, dict) else None
        raise NotAClick(f"a {kind or 'typeless'} payload, not block_actions")
    user = payload.get("user")
    actions = payload.get("actions")
    if not isinstance(user, dict) or not isinstance(actions, list):
        raise NotAClick("the payload has no user or no actions")
    user_id = str(user.get("id") or "")
    if not USER_ID.fullmatch(user_id):
        raise NotAClick("the payload's user has no Slack user ID")
    action = next(
        (a for a in actions if isinstance(a, dict) and str(a.get("action_id", "")).startswith(ACTION_PREFIX)), None
    )
    if action is None:
        raise NotAClick("no meshroll button among the payload's actions")
    try:
        value = ActionValue.decode(str(action.get("value") or ""))
    except ActionValueError as exc:
        raise NotAClick(str(exc)) from None
    if action.get("action_id") != ACTION_PREFIX + value.command:
        raise NotAClick("the button's action_id and value disagree")
    response_url = payload.get("response_url")
    return Click(
        user_id=user_id,
        user_name=_printable(user.get("username") or user.get("name") or "", 80),
        value=value,
        action_ts=_printable(action.get("action_ts") or "", 40),
        response_url=response_url if isinstance(response_url, str) and response_url.startswith("http") else "",
    )


def _printable(value: object, limit: int) -> str:
    """``value`` as one line of printable text, at most ``limit`` characters (it ends up in annotations and logs)."""
    text = "".join(c for c in str(value) if c.isprintable())
    return text[:limit]
