"""The generic JSON webhook: the same facts as Slack, signed when a key is set, retried in the background.

The receiver is ``tests.slackstub``'s ``/hooks/...`` path (a local HTTP server that records requests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from aiohttp import web

from rollout.gitops.serving import ServerThread
from rollout.notify.secrets import Secret
from rollout.notify.webhook import SIGNATURE_HEADER, webhook_notifier
from rollout.status import Phase
from tests.slackstub import SlackStub
from tests.unit.notify import events

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def receiver() -> Iterator[SlackStub]:
    with SlackStub() as stub:
        yield stub


def test_each_event_is_posted_as_json_with_the_numbers_and_a_valid_signature(receiver: SlackStub) -> None:
    key = "webhook-signing-key"
    notifier = webhook_notifier(receiver.hook_url("incidents"), Secret(key), retry_initial=0.05)
    notifier.notify(events.experiment(), events.status(weight=25), events.advanced())
    notifier.notify(events.experiment(), events.status(phase=Phase.ROLLED_BACK, weight=0), events.rolled_back())
    assert notifier.close(20)

    first, second = receiver.requests("hooks/incidents", ok_only=True)
    expected = "sha256=" + hmac.new(key.encode(), first.raw, hashlib.sha256).hexdigest()
    assert first.headers[SIGNATURE_HEADER] == expected
    assert first.headers["Content-Type"] == "application/json"
    document = json.loads(second.raw)
    assert document["experiment"] == "demo/demo-healthy"
    assert (document["kind"], document["headline"], document["phase"]) == ("rolled-back", "Rolled back", "RolledBack")
    assert document["terminal"] is True
    assert document["reason"] == "latency regressed beyond the 20% margin"
    latency = document["metrics"][1]
    assert latency["metric"] == "latency" and latency["pValue"] == 0.00031 and latency["interval"] == [1.31, 2.05]
    assert document["commit"]["sha"] == events.SHA and document["commit"]["author"] == "Ann Example <ann@example.com>"


def test_without_a_key_nothing_is_signed_and_server_errors_are_retried(receiver: SlackStub) -> None:
    receiver.fail("hooks/generic", 500, times=2)
    notifier = webhook_notifier(receiver.hook_url(), retry_initial=0.05)
    notifier.notify(events.experiment(), events.status(), events.started())
    assert notifier.close(20)
    assert [r.status for r in receiver.requests("hooks/generic")] == [500, 500, 200]
    assert SIGNATURE_HEADER not in receiver.requests("hooks/generic")[2].headers


def test_retries_are_bounded(receiver: SlackStub) -> None:
    receiver.fail("hooks/generic", 503, times=100)
    notifier = webhook_notifier(receiver.hook_url(), retry_initial=0.01, retry_max=0.02, max_attempts=3)
    notifier.notify(events.experiment(), events.status(), events.started())
    assert notifier.close(20)
    assert len(receiver.requests("hooks/generic")) == 3 and notifier.queue.dropped == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_the_event_is_not_counted_as_delivered(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    arrived: list[tuple[str, bytes]] = []

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/new"})

    async def new(request: web.Request) -> web.Response:
        arrived.append((request.method, await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/old", moved)
    app.router.add_route("*", "/new", new)
    with ServerThread(app) as server:
        notifier = webhook_notifier(f"{server.url}/old", retry_initial=0.01)
        notifier.notify(events.experiment(), events.status(), events.started())
        assert notifier.close(20)

    assert arrived == [], "a redirected POST arrives as a GET without its body"
    assert (notifier.queue.delivered, notifier.queue.dropped) == (0, 1)
    assert f"the webhook answered HTTP {status}, a redirect, which is not followed" in caplog.text
