"""The weighted router: forwards each request to stable or canary by the current TrafficPlan.

It plays the client's Envoy sidecar: weights, A/B matches and the session cookie pick the arm (and
the canary's weighted answers set that cookie), faults are injected here
(client side), mirrored copies are sent fire-and-forget, and both reporters' metrics are recorded
(see ``metrics`` for the scheme). The plan is swapped by one attribute assignment, so ``apply`` is
safe from any thread and a request sees exactly one plan.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.metrics import SHADOW_SUFFIX, MeshMetrics
from rollout.localmesh.routing import (
    CANARY,
    abort_reply,
    choose_arm,
    decide_injection,
    flags_text,
    plan_problems,
    sets_cookie,
    should_mirror,
)
from rollout.localmesh.serving import Listener, start_listener
from rollout.mesh.plan import TrafficPlan

_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip
_MAX_SHADOWS_IN_FLIGHT = 512  # beyond this, mirroring is dropped (best effort, as Envoy's)
_MAX_UPSTREAM_CONNECTIONS = 512  # beyond this, requests queue for a pooled connection


@dataclass(frozen=True)
class _Outcome:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    flag: str | None = None  # Envoy's flag when the router answered itself (UF, UT, UC)


def _forwardable(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP)


def _local_reply(status: int, flag: str, text: str) -> _Outcome:
    return _Outcome(status, CIMultiDict({"content-type": "text/plain"}), text.encode(), flag)


class Router:
    """Routes to the versions named by arm (``{"stable": "v1", "canary": "v2"}``)."""

    def __init__(
        self,
        versions: Mapping[str, str],
        metrics: MeshMetrics,
        *,
        source_workload: str,
        seed: int | str,
        upstream_timeout_s: float,
    ) -> None:
        self._versions = dict(versions)
        self._metrics = metrics
        self._source = source_workload
        self._shadow_source = source_workload + SHADOW_SUFFIX
        self._draw = random.Random(seed).random
        self._timeout = aiohttp.ClientTimeout(total=upstream_timeout_s)
        self._plan = TrafficPlan.all_stable()
        self._urls: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._listener: Listener | None = None
        self._shadows: set[asyncio.Task[None]] = set()

    @property
    def current_plan(self) -> TrafficPlan:
        return self._plan

    def apply(self, plan: TrafficPlan) -> None:
        """Swap the plan atomically; a plan this mesh cannot carry out raises and changes nothing."""
        problems = plan_problems(plan)
        if problems:
            raise LocalMeshError("cannot apply the traffic plan: " + "; ".join(problems))
        self._plan = plan

    @property
    def url(self) -> str:
        if self._listener is None:
            raise LocalMeshError("the router is not running; start the mesh first")
        return self._listener.url

    async def start(self, host: str, port: int, upstream_urls: Mapping[str, str]) -> None:
        self._urls = dict(upstream_urls)
        connector = aiohttp.TCPConnector(limit=_MAX_UPSTREAM_CONNECTIONS, keepalive_timeout=30.0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        try:
            self._listener = await start_listener(app, host, port, flag="spec.mesh.port")
        except LocalMeshError:
            await self._close_session()
            raise

    async def stop(self) -> None:
        for task in list(self._shadows):
            task.cancel()
        if self._shadows:
            await asyncio.gather(*self._shadows, return_exceptions=True)
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        await self._close_session()

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        plan = self._plan
        headers, query = request.headers, request.query
        arm = choose_arm(plan, headers, query, self._draw)
        injection = decide_injection(plan.faults, arm, headers, query, self._draw)
        if injection.delay_ms > 0:
            await asyncio.sleep(injection.delay_ms / 1000.0)
        if injection.abort is not None:
            reply = abort_reply(injection.abort)
            self._record_source(arm, reply.status, flags_text(injection.flags), started)
            return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        body = await request.read()
        if should_mirror(plan, arm, self._draw):
            self._mirror(request.method, request.rel_url, headers, body)
        outcome = await self._forward(arm, request.method, request.rel_url, headers, body, self._source)
        cookie = sets_cookie(plan, arm, headers, query)
        if cookie is not None and outcome.flag is None:  # on the canary's own answers, as Envoy adds it
            outcome.headers.add("Set-Cookie", cookie)
        flags = (*injection.flags, outcome.flag) if outcome.flag else injection.flags
        self._record_source(arm, outcome.status, flags_text(flags), started)
        return web.Response(status=outcome.status, headers=outcome.headers, body=outcome.body)

    def _record_source(self, arm: str, status: int, flags: str, started: float) -> None:
        duration_ms = (time.perf_counter() - started) * 1000.0
        self._metrics.record(
            "source",
            self._versions[arm],
            code=status,
            flags=flags,
            source_workload=self._source,
            duration_ms=duration_ms,
        )

    def _mirror(self, method: str, rel_url: URL, headers: CIMultiDictProxy[str], body: bytes) -> None:
        if len(self._shadows) >= _MAX_SHADOWS_IN_FLIGHT:
            return
        task = asyncio.create_task(self._shadow(method, rel_url, headers, body))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow(self, method: str, rel_url: URL, headers: CIMultiDictProxy[str], body: bytes) -> None:
        await self._forward(CANARY, method, rel_url, headers, body, self._shadow_source)

    async def _forward(
        self,
        arm: str,
        method: str,
        rel_url: URL,
        headers: Mapping[str, str],
        body: bytes,
        source_workload: str,
    ) -> _Outcome:
        """Call the arm's backend; record what its sidecar would (reporter="destination")."""
        session = self._session
        if session is None:
            return _local_reply(503, "UH", "no healthy upstream")
        started = time.perf_counter()
        url = self._urls[arm] + str(rel_url)
        try:
            async with session.request(
                method, url, headers=_forwardable(headers), data=body or None, allow_redirects=False
            ) as response:
                payload = await response.read()
                status, reply_headers = response.status, _forwardable(response.headers)
        except TimeoutError:
            return _local_reply(504, "UT", "upstream request timeout")
        except aiohttp.ClientConnectorError:
            return _local_reply(503, "UF", "upstream connect error")
        except aiohttp.ClientError:
            return _local_reply(503, "UC", "upstream connection termination")
        duration_ms = (time.perf_counter() - started) * 1000.0
        self._metrics.record(
            "destination",
            self._versions[arm],
            code=status,
            flags="-",
            source_workload=source_workload,
            duration_ms=duration_ms,
        )
        return _Outcome(status, reply_headers, payload)
