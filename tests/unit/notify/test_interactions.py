"""Slack's request signature (v0 HMAC-SHA256 over "v0:timestamp:body", five minutes' grace) and click parsing.

The signed requests come from ``tests/slackstub/clicks.py``, which signs by Slack's documented
recipe on its own (a stand-in for Slack, which cannot be reached here).
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from rollout.notify.buttons import ActionValue
from rollout.notify.interactions import NotAClick, Unverified, parse_click, signature, verify
from rollout.notify.secrets import Secret
from tests.slackstub.clicks import SIGNING_SECRET, click_body, signed

SECRET = Secret(SIGNING_SECRET)
NOW = 1_732_288_888
VALUE = ActionValue("shop/checkout", "1000.000", "abort")


def body() -> bytes:
    return click_body(VALUE.encode(), action_id="meshroll-abort", response_url="https://hooks.slack.com/actions/T/1/x")


def test_slack_s_own_example_signature() -> None:
    """The worked example of Slack's documentation (its secret, timestamp and body), verified as Slack says."""
    example_body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    secret = Secret("8f742231b10e8888abcd99yyyzzz85a5")
    assert signature(secret, "1531420618", example_body) == expected
    headers = {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": expected}
    verify(secret, headers, example_body, now=1531420618 + 60)


def test_a_signed_request_within_five_minutes_is_verified() -> None:
    verify(SECRET, signed(body(), timestamp=NOW), body(), now=NOW + 299)
    verify(SECRET, signed(body(), timestamp=NOW), body(), now=NOW - 299)  # a clock a little behind Slack's


@pytest.mark.parametrize(
    ("headers", "now", "why"),
    [
        (signed(body(), timestamp=NOW), NOW + 301, "more than 300s"),  # a replay
        (signed(body(), timestamp=NOW), NOW - 301, "more than 300s"),
        (signed(body(), secret="another-app-s-secret", timestamp=NOW), NOW, "does not match"),
        ({**signed(body(), timestamp=NOW), "X-Slack-Request-Timestamp": str(NOW + 1)}, NOW, "does not match"),
        ({**signed(body(), timestamp=NOW), "X-Slack-Signature": "v1=" + "0" * 64}, NOW, "does not match"),
        ({"X-Slack-Request-Timestamp": str(NOW)}, NOW, "no X-Slack-Signature"),
        ({**signed(body(), timestamp=NOW), "X-Slack-Request-Timestamp": "soon"}, NOW, "not a Unix time"),
    ],
)
def test_anything_else_is_unverified(headers: dict[str, str], now: int, why: str) -> None:
    with pytest.raises(Unverified, match=why):
        verify(SECRET, headers, body(), now=now)


def test_a_changed_body_is_unverified() -> None:
    headers = signed(body(), timestamp=NOW)
    tampered = body().replace(b"abort", b"promote")
    with pytest.raises(Unverified, match="does not match"):
        verify(SECRET, headers, tampered, now=NOW)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in signed(body(), timestamp=NOW).items()}
    verify(SECRET, headers, body(), now=NOW)


def test_a_click_is_parsed() -> None:
    click = parse_click(body())
    assert (click.user_id, click.user_name, click.value) == ("U0ALICE01", "alice", VALUE)
    assert click.response_url == "https://hooks.slack.com/actions/T/1/x"
    assert click.action_ts == "1732288888.123456"
    assert click.who == "slack:U0ALICE01 (alice)"


def form(payload: object) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"payload=not-json",
        b"\xff\xfe",
        form({"type": "view_submission"}),
        form({"type": "block_actions", "user": {"id": "U1X"}, "actions": []}),
        form({"type": "block_actions", "user": {"id": "bob"}, "actions": []}),
        form({"type": "block_actions", "user": {"id": "U0ALICE01"}, "actions": [{"action_id": "other", "value": "x"}]}),
        form(
            {
                "type": "block_actions",
                "user": {"id": "U0ALICE01"},
                "actions": [{"action_id": "meshroll-promote", "value": VALUE.encode()}],  # says abort
            }
        ),
    ],
)
def test_anything_but_a_meshroll_click_is_not_a_click(raw: bytes) -> None:
    with pytest.raises(NotAClick):
        parse_click(raw)


def test_a_user_name_is_one_printable_line() -> None:
    raw = click_body(
        VALUE.encode(), action_id="meshroll-abort", user_name="eve\nmeshroll.io/command: promote" + "x" * 200
    )
    click = parse_click(raw)
    assert "\n" not in click.user_name and len(click.user_name) <= 80
