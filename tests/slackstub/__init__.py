"""A local HTTP server that speaks the shape of Slack's Web API, for tests (no real Slack can run here).

It serves ``/api/chat.postMessage`` and ``/api/chat.update`` (JSON or form bodies, a bearer token,
Slack's ``{"ok": ...}`` envelope, message timestamps and threads), an incoming-webhook path
``/services/...``, and a generic ``/hooks/...`` receiver. It records every request, and can be
scripted to answer the next calls with 429 + ``Retry-After`` or 5xx, to be down (503 for
everything), or to hold requests until released.

    with SlackStub() as slack:
        client = WebClient(token=slack.token, base_url=slack.base_url)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from rollout.gitops.serving import ServerThread

CHANNEL_ID = "C0STUB0001"
HOLD_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Recorded:
    path: str  # "chat.postMessage", "chat.update", "webhook" or "hooks/<name>"
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    status: int  # what the stub answered


@dataclass(frozen=True)
class Scripted:
    status: int
    retry_after: int | None = None


@dataclass
class Message:
    ts: str
    channel: str
    text: str
    blocks: list[Any]
    thread_ts: str | None
    updates: int = 0


@dataclass
class _State:
    requests: list[Recorded] = field(default_factory=list)
    scripts: dict[str, deque[Scripted]] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # name (or id) -> id; the first named is CHANNEL_ID
    down: bool = False


class SlackStub:
    def __init__(self, token: str = "xoxb-stub-0123456789-secret") -> None:
        self.token = token
        self.webhook_path = "/services/T0STUB/B0STUB/hookSecretPart"
        self._state = _State()
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._ts = itertools.count(1)
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/services/{rest:.*}", self._webhook)
        app.router.add_post("/hooks/{name}", self._hook)
        self._server = ServerThread(app, "127.0.0.1", 0, flag="(stub)")

    # --- lifecycle and addresses -----------------------------------------------------------

    def start(self) -> SlackStub:
        self._server.start()
        return self

    def stop(self) -> None:
        self._open.set()
        self._server.stop()

    def __enter__(self) -> SlackStub:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"{self._server.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self._server.url}{self.webhook_path}"

    def hook_url(self, name: str = "generic") -> str:
        return f"{self._server.url}/hooks/{name}"

    # --- scripting ---------------------------------------------------------------------------

    def fail(self, path: str, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` calls to ``path`` (e.g. "chat.postMessage", "webhook") with ``status``."""
        with self._lock:
            queue = self._state.scripts.setdefault(path, deque())
            queue.extend(Scripted(status, retry_after) for _ in range(times))

    def set_down(self, down: bool) -> None:
        """While down, every call gets 503 (as when Slack has an outage)."""
        with self._lock:
            self._state.down = down

    def hold(self) -> None:
        """Keep every request waiting (up to 30 s) until ``release``."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    # --- what happened -------------------------------------------------------------------------

    def requests(self, path: str | None = None, *, ok_only: bool = False) -> list[Recorded]:
        with self._lock:
            found = [r for r in self._state.requests if path is None or r.path == path]
        return [r for r in found if r.status == 200] if ok_only else found

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._state.messages.values())

    def wait_for(self, path: str, count: int, timeout: float = 20.0, *, ok_only: bool = True) -> list[Recorded]:
        """The recorded requests to ``path`` once there are ``count`` (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests(path, ok_only=ok_only)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {path} requests within {timeout}s, got {len(self.requests(path))}")

    # --- handlers ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw, body = await self._read(request)
        if (scripted := await self._scripted(method, request, raw, body)) is not None:
            return scripted
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(method, request, raw, body, 200, {"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            return self._answer(method, request, raw, body, 200, self._post(body))
        if method == "chat.update":
            return self._answer(method, request, raw, body, 200, self._update(body))
        return self._answer(method, request, raw, body, 200, {"ok": False, "error": "unknown_method"})

    async def _webhook(self, request: web.Request) -> web.Response:
        raw, body = await self._read(request)
        if (scripted := await self._scripted("webhook", request, raw, body)) is not None:
            return scripted
        if request.path != self.webhook_path:
            return self._answer("webhook", request, raw, body, 404, "no_service", text=True)
        if not body.get("text") and not body.get("blocks"):
            return self._answer("webhook", request, raw, body, 400, "no_text", text=True)
        return self._answer("webhook", request, raw, body, 200, "ok", text=True)

    async def _hook(self, request: web.Request) -> web.Response:
        path = f"hooks/{request.match_info['name']}"
        raw, body = await self._read(request)
        if (scripted := await self._scripted(path, request, raw, body)) is not None:
            return scripted
        return self._answer(path, request, raw, body, 200, "ok", text=True)

    async def _read(self, request: web.Request) -> tuple[bytes, dict[str, Any]]:
        raw = await request.read()
        limit = time.monotonic() + HOLD_LIMIT_SECONDS
        while not self._open.is_set() and time.monotonic() < limit:
            await asyncio.sleep(0.02)
        if request.content_type == "application/json":
            parsed = json.loads(raw or b"{}")
            return raw, parsed if isinstance(parsed, dict) else {}
        return raw, dict(parse_qsl(raw.decode()))

    async def _scripted(self, path: str, request: web.Request, raw: bytes, body: dict[str, Any]) -> web.Response | None:
        with self._lock:
            queue = self._state.scripts.get(path)
            step = queue.popleft() if queue else None
            if step is None and self._state.down:
                step = Scripted(503)
        if step is None:
            return None
        headers = {"Retry-After": str(step.retry_after)} if step.retry_after is not None else {}
        error = "ratelimited" if step.status == 429 else "internal_error"
        return self._answer(path, request, raw, body, step.status, {"ok": False, "error": error}, headers=headers)

    def _answer(
        self,
        path: str,
        request: web.Request,
        raw: bytes,
        body: dict[str, Any],
        status: int,
        payload: Any,
        *,
        text: bool = False,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        with self._lock:
            self._state.requests.append(Recorded(path, dict(request.headers), body, raw, status))
        if text:
            return web.Response(status=status, text=str(payload), headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = body.get("thread_ts") or None
        with self._lock:
            if thread_ts is not None and thread_ts not in self._state.messages:
                return {"ok": False, "error": "thread_not_found"}
            channel_id = self._channel_id(channel)
            if thread_ts is not None and self._state.messages[thread_ts].channel != channel_id:
                return {"ok": False, "error": "thread_not_found"}  # a thread belongs to one channel
            ts = f"1700000000.{next(self._ts):06d}"
            message = Message(ts, channel_id, str(body.get("text", "")), _blocks(body), thread_ts)
            self._state.messages[ts] = message
        return {"ok": True, "channel": channel_id, "ts": ts, "message": {"text": message.text, "ts": ts}}

    def _channel_id(self, name: str) -> str:
        """Like Slack: a message is posted by the channel's name or id, and answered with its id."""
        channels = self._state.channels
        if name not in channels:
            known = set(channels.values())
            channels[name] = name if name in known else CHANNEL_ID if not known else f"C0STUB{len(known) + 1:04d}"
        return channels[name]

    def channel_id(self, name: str) -> str | None:
        """The id this stub gave the channel ``name`` (None: nothing was posted to it)."""
        with self._lock:
            return self._state.channels.get(name)

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if body.get("channel") not in set(self._state.channels.values()):  # chat.update wants the id, not the name
                return {"ok": False, "error": "channel_not_found"}
            message = self._state.messages.get(str(body.get("ts", "")))
            if message is None or message.channel != body.get("channel"):
                return {"ok": False, "error": "message_not_found"}
            message.text = str(body.get("text", ""))
            message.blocks = _blocks(body)
            message.updates += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts}


def _blocks(body: dict[str, Any]) -> list[Any]:
    blocks = body.get("blocks", [])
    if isinstance(blocks, str):  # form-encoded bodies carry blocks as a JSON string
        blocks = json.loads(blocks)
    return list(blocks) if isinstance(blocks, list) else []
