"""Push webhooks from GitHub and GitLab: check who sent it, then ask for an immediate poll.

``push_app(...)`` is an aiohttp application with one route, ``POST /push``; mount it as a sub-app
(``app.add_subapp("/gitops", push_app(...))``) or serve it alone. Checks, in order:

1. a body over ``max_body`` bytes: 413, refused from ``Content-Length`` or while streaming, never read whole;
2. GitHub: ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>``; GitLab: ``X-Gitlab-Token``;
   both compared in constant time with the shared secret. Missing or wrong: 401, nothing happens;
3. a delivery id seen before (``X-GitHub-Delivery`` / ``X-Gitlab-Event-UUID``): 202, ignored;
4. not a push (GitHub ``ping`` gets 200): 202, ignored. A push: ``on_push``, then 202 (saying whether it
   polls: ``on_push`` returns False for a push to a branch it does not watch).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from rollout.notify.secrets import Secret

log = logging.getLogger("meshroll.gitops")

MAX_BODY = 1 << 20
REMEMBERED_DELIVERIES = 1000
CHUNK = 64 * 1024


@dataclass(frozen=True)
class PushEvent:
    provider: Literal["github", "gitlab"]
    delivery: str | None
    ref: str | None  # refs/heads/<branch>, when the body says


class _Deliveries:
    """The last ``size`` delivery ids (a bounded set, oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, delivery: str) -> bool:
        """Whether ``delivery`` was seen before; remembers it either way."""
        if delivery in self.ids:
            self.ids.move_to_end(delivery)
            return True
        self.ids[delivery] = None
        while len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False


def github_signature(secret: Secret, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest()


def push_app(
    secret: Secret,
    on_push: Callable[[PushEvent], object],
    *,
    max_body: int = MAX_BODY,
    remember: int = REMEMBERED_DELIVERIES,
) -> web.Application:
    """The push endpoint. ``on_push`` runs on the server's event loop: it must return at once (False: ignored)."""
    deliveries = _Deliveries(remember)

    async def push(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_body:
            return _reply(413, f"body over {max_body} bytes")
        body = await _read_limited(request, max_body)
        if body is None:
            return _reply(413, f"body over {max_body} bytes")
        headers = request.headers
        provider: Literal["github", "gitlab"]
        if "X-GitHub-Event" in headers:
            provider, event = "github", headers["X-GitHub-Event"]
            valid = _matches(headers.get("X-Hub-Signature-256", ""), github_signature(secret, body))
            delivery = headers.get("X-GitHub-Delivery")
        elif "X-Gitlab-Event" in headers:
            provider, event = "gitlab", headers["X-Gitlab-Event"]
            valid = _matches(headers.get("X-Gitlab-Token", ""), secret.reveal())
            delivery = headers.get("X-Gitlab-Event-UUID")
        else:
            return _reply(401, "not a GitHub or GitLab webhook")
        if not valid:
            log.warning("refused a %s webhook with a missing or wrong signature from %s", provider, request.remote)
            return _reply(401, "missing or wrong signature")
        if delivery and deliveries.seen(delivery):
            return _reply(202, "duplicate delivery ignored")
        if provider == "github" and event == "ping":
            return _reply(200, "pong")
        if event not in ("push", "Push Hook"):
            return _reply(202, f"{event} events are ignored")
        ref = _ref(body)
        if on_push(PushEvent(provider, delivery, ref)) is False:
            return _reply(202, f"push to {ref} ignored: not the watched branch")
        return _reply(202, "poll scheduled")

    app = web.Application()
    app.router.add_post("/push", push)
    return app


def standalone_app(secret: Secret, on_push: Callable[[PushEvent], object]) -> web.Application:
    """The push endpoint served alone, at the path the controller mounts it on: ``POST /gitops/push``."""
    app = web.Application()
    app.add_subapp("/gitops", push_app(secret, on_push))
    return app


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await request.content.read(CHUNK):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _matches(given: str, expected: str) -> bool:
    """A constant-time comparison; a header with bytes that are not UTF-8 (kept as surrogates) just differs."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def _ref(body: bytes) -> str | None:
    try:
        ref = json.loads(body).get("ref")
    except (ValueError, AttributeError):
        return None
    return ref if isinstance(ref, str) else None


def _reply(status: int, message: str) -> web.Response:
    return web.json_response({"status": message}, status=status)
