"""Button clicks as Slack sends them (a stand-in: no real Slack can be reached from the tests).

``click_body`` builds the ``application/x-www-form-urlencoded`` body of a ``block_actions``
request, ``signed`` the headers Slack adds: the signature is computed here from Slack's documented
recipe, independently of meshroll's own code, so that a mistake there cannot cancel out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # a test app's signing secret


def click_body(
    value: str,
    *,
    action_id: str,
    user_id: str = "U0ALICE01",
    user_name: str = "alice",
    response_url: str = "",
    action_ts: str = "1732288888.123456",
) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": "T0STUB"},
        "api_app_id": "A0STUB",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0STUB0001"},
        "trigger_id": "123.456.abc",
        "team": {"id": "T0STUB", "domain": "stub"},
        "channel": {"id": "C0STUB0001", "name": "deploys"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "meshroll-commands",
                "value": value,
                "text": {"type": "plain_text", "text": "Abort", "emoji": True},
                "action_ts": action_ts,
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST as Slack does; the status and body of the answer."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
