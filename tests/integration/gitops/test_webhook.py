"""The push endpoint over real HTTP: signatures, replays, size limits, and the poll it triggers."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from rollout.gitops import Poller, PollResult, PushEvent
from rollout.gitops.serving import ServerThread
from rollout.gitops.webhook import MAX_BODY, standalone_app
from rollout.notify.secrets import Secret

SECRET = "shared-webhook-secret"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()

pytestmark = pytest.mark.timeout(60)


@dataclass
class Server:
    thread: ServerThread
    pushes: list[PushEvent]

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.thread.port, timeout=10)
        try:
            connection.request("POST", "/gitops/push", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()


@pytest.fixture
def server() -> Iterator[Server]:
    pushes: list[PushEvent] = []
    with ServerThread(standalone_app(Secret(SECRET), pushes.append)) as thread:
        yield Server(thread, pushes)


def github(body: bytes, *, secret: str = SECRET, delivery: str | None = None, event: str = "push") -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


def test_a_signed_github_push_triggers_a_poll(server: Server) -> None:
    status, reply = server.post(PUSH, github(PUSH, delivery="d-1"))
    assert (status, reply) == (202, {"status": "poll scheduled"})
    assert server.pushes == [PushEvent("github", "d-1", "refs/heads/main")]


@pytest.mark.parametrize(
    "headers",
    [
        github(PUSH, secret="wrong-secret"),
        {**github(PUSH), "X-Hub-Signature-256": ""},
        {k: v for k, v in github(PUSH).items() if k != "X-Hub-Signature-256"},
        {**github(PUSH), "X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"Content-Type": "application/json"},
    ],
    ids=["wrong secret", "empty signature", "no signature", "sha1 signature", "no provider headers"],
)
def test_a_bad_or_missing_signature_is_refused_and_does_nothing(server: Server, headers: dict[str, str]) -> None:
    status, _ = server.post(PUSH, headers)
    assert status == 401
    assert server.pushes == []


def test_a_signature_or_token_that_is_not_utf8_is_refused_like_any_wrong_one(server: Server) -> None:
    not_utf8 = {**github(PUSH), "X-Hub-Signature-256": b"sha256=\xff\xfe"}
    gitlab = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": b"shared-\xff"}

    assert server.post(PUSH, not_utf8) == (401, {"status": "missing or wrong signature"})  # type: ignore[arg-type]
    assert server.post(PUSH, gitlab) == (401, {"status": "missing or wrong signature"})  # type: ignore[arg-type]
    assert server.pushes == []


def test_a_body_changed_after_signing_is_refused(server: Server) -> None:
    status, _ = server.post(PUSH.replace(b"main", b"evil"), github(PUSH))
    assert status == 401 and server.pushes == []


def test_a_replayed_delivery_is_ignored(server: Server) -> None:
    headers = github(PUSH, delivery="same-id")
    assert server.post(PUSH, headers)[0] == 202
    assert server.post(PUSH, headers) == (202, {"status": "duplicate delivery ignored"})
    assert len(server.pushes) == 1


def test_an_unsigned_request_cannot_use_up_a_delivery_id(server: Server) -> None:
    assert server.post(PUSH, github(PUSH, secret="forged", delivery="victim"))[0] == 401
    assert server.post(PUSH, github(PUSH, delivery="victim")) == (202, {"status": "poll scheduled"})
    assert len(server.pushes) == 1


def test_an_oversized_body_is_refused_from_its_length_without_reading_it(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.thread.port, timeout=10)
    try:
        connection.putrequest("POST", "/gitops/push")
        for name, value in github(b"{}").items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(MAX_BODY + 1))
        connection.endheaders(b"{")  # the rest is never sent: the server must not wait for it
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()
    assert server.pushes == []


def test_an_oversized_chunked_body_is_refused_while_streaming(server: Server) -> None:
    big = b"x" * (MAX_BODY + 10)
    connection = http.client.HTTPConnection("127.0.0.1", server.thread.port, timeout=10)
    try:
        connection.request(
            "POST", "/gitops/push", body=iter([big[:65536]] * 17), headers=github(big), encode_chunked=True
        )
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert server.pushes == []


def test_gitlab_pushes_are_checked_by_token(server: Server) -> None:
    good = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET, "X-Gitlab-Event-UUID": "g-1"}
    assert server.post(PUSH, good)[0] == 202
    assert server.post(PUSH, good) == (202, {"status": "duplicate delivery ignored"})
    assert server.post(PUSH, {**good, "X-Gitlab-Token": "nope", "X-Gitlab-Event-UUID": "g-2"})[0] == 401
    assert server.post(PUSH, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "g-3"})[0] == 401
    assert server.pushes == [PushEvent("gitlab", "g-1", "refs/heads/main")]


def test_pings_and_other_events_do_not_poll(server: Server) -> None:
    assert server.post(b"{}", github(b"{}", event="ping")) == (200, {"status": "pong"})
    assert server.post(b"{}", github(b"{}", event="issues")) == (202, {"status": "issues events are ignored"})
    assert server.pushes == []


class CountingSync:
    """Stands in for GitOpsSync: counts polls; the poller needs only ``poll`` and ``branch``."""

    branch = "main"

    def __init__(self) -> None:
        self.polled = threading.Semaphore(0)

    def poll(self) -> PollResult:
        self.polled.release()
        return PollResult("0" * 40)


def test_a_push_wakes_the_poller_at_once_and_pushes_to_other_branches_do_not() -> None:
    sync = CountingSync()
    poller = Poller(sync, interval=3600)  # type: ignore[arg-type]
    loop = threading.Thread(target=poller.run, daemon=True)
    with ServerThread(standalone_app(Secret(SECRET), poller.on_push)) as thread:
        loop.start()
        assert sync.polled.acquire(timeout=10), "the first poll runs at start"
        other = json.dumps({"ref": "refs/heads/feature"}).encode()
        assert Server(thread, []).post(other, github(other)) == (
            202,
            {"status": "push to refs/heads/feature ignored: not the watched branch"},
        )
        assert not poller.wake.is_set(), "a push to another branch does not poll"
        Server(thread, []).post(PUSH, github(PUSH))
        assert sync.polled.acquire(timeout=10), "a push to the watched branch polls long before the interval"
        poller.stop()
        loop.join(10)
    assert not loop.is_alive()
