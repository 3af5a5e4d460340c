"""A load generator: Poisson arrivals at a rate, an optional cohort header, bounded in time and count.

With ``users`` > 0 the arrivals come from that many simulated users, each picked at random and each
keeping its own cookies (``Set-Cookie`` with ``Max-Age``, sent back as ``Cookie``), so a sticky
canary sees returning visitors; with 0 every request is a new visitor and no cookie is kept.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

import aiohttp

from rollout.localmesh.errors import LocalMeshError

_DRAIN_TIMEOUT_S = 5.0
_SHORT_WAIT_S = 0.05  # gaps shorter than this are slept without watching the stop event


@dataclass(frozen=True)
class LoadSpec:
    """What to send: ``rate`` requests/s on average, for at most ``max_duration_s`` (and ``max_requests``)."""

    rate: float
    max_duration_s: float
    concurrency: int = 64
    cohort_header: tuple[str, str] = ("x-cohort", "beta")
    cohort_fraction: float = 0.0
    max_requests: int | None = None
    path: str = "/"
    request_timeout_s: float = 30.0
    users: int = 0  # simulated users who keep their cookies (0: every request a new visitor)

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise LocalMeshError(f"load rate must be >= 0 requests/s, got {self.rate}")
        if self.max_duration_s <= 0:
            raise LocalMeshError(f"load max_duration_s must be > 0, got {self.max_duration_s}")
        if self.concurrency < 1:
            raise LocalMeshError(f"load concurrency must be >= 1, got {self.concurrency}")
        if not 0.0 <= self.cohort_fraction <= 1.0:
            raise LocalMeshError(f"cohort fraction must be within 0..1, got {self.cohort_fraction}")
        if self.users < 0:
            raise LocalMeshError(f"load users must be >= 0 (0: no returning users), got {self.users}")


@dataclass
class LoadStats:
    """What the generator did: ``sent`` requests (``with_cohort`` of them carrying the cohort header),
    their answers by status, ``failed`` ones with no answer, and ``skipped`` arrivals that found the
    concurrency cap full."""

    sent: int = 0
    with_cohort: int = 0
    skipped: int = 0
    failed: int = 0
    with_cookie: int = 0  # requests that sent a cookie back (returning users)
    by_status: dict[int, int] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return sum(self.by_status.values())


class CookieJar:
    """One user's cookies: name -> (value, when it expires on the loop's clock; None: at the end)."""

    def __init__(self) -> None:
        self._cookies: dict[str, tuple[str, float | None]] = {}

    def header(self, now: float) -> str | None:
        """The ``Cookie`` header to send at ``now`` (expired cookies are dropped), or None."""
        live = {k: v for k, v in self._cookies.items() if v[1] is None or v[1] > now}
        self._cookies = live
        return "; ".join(f"{name}={value}" for name, (value, _) in live.items()) or None

    def take(self, set_cookies: Iterable[str], now: float) -> None:
        """Keep what ``Set-Cookie`` headers set (``Max-Age`` <= 0 deletes); a malformed one is ignored."""
        for text in set_cookies:
            try:
                parsed = SimpleCookie(text)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                max_age = morsel["max-age"]
                try:
                    expires = now + int(max_age) if max_age else None
                except ValueError:
                    expires = None
                if expires is not None and expires <= now:
                    self._cookies.pop(name, None)
                else:
                    self._cookies[name] = (morsel.value, expires)


class LoadGenerator:
    def __init__(self, url: str, spec: LoadSpec, *, seed: int | str) -> None:
        self._url = url.rstrip("/") + spec.path
        self._spec = spec
        self._rng = random.Random(seed)
        self._jars = [CookieJar() for _ in range(spec.users)]
        self.stats = LoadStats()

    async def run(self, stop: asyncio.Event) -> LoadStats:
        """Send until ``stop`` is set, the time is up or the count reached; then let in-flight ones end."""
        spec = self._spec
        connector = aiohttp.TCPConnector(limit=spec.concurrency)
        timeout = aiohttp.ClientTimeout(total=spec.request_timeout_s)
        in_flight: set[asyncio.Task[None]] = set()
        jar = aiohttp.DummyCookieJar()  # cookies are each user's own (``CookieJar``), never the session's
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as session:
            try:
                await self._arrivals(session, stop, in_flight)
            finally:
                await _drain(in_flight)
        return self.stats

    async def _arrivals(
        self, session: aiohttp.ClientSession, stop: asyncio.Event, in_flight: set[asyncio.Task[None]]
    ) -> None:
        spec, loop = self._spec, asyncio.get_running_loop()
        deadline = loop.time() + spec.max_duration_s
        if spec.rate == 0:
            await _wait(stop, spec.max_duration_s)
            return
        next_at = loop.time()
        while not stop.is_set() and not self._count_reached():
            next_at += self._rng.expovariate(spec.rate)
            if next_at >= deadline or await _wait(stop, next_at - loop.time()):
                return
            if len(in_flight) >= spec.concurrency:
                self.stats.skipped += 1
                continue
            with_cohort = self._rng.random() < spec.cohort_fraction
            self.stats.sent += 1
            self.stats.with_cohort += int(with_cohort)
            user = self._jars[self._rng.randrange(len(self._jars))] if self._jars else None
            task = asyncio.create_task(self._send(session, with_cohort, user))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    def _count_reached(self) -> bool:
        limit = self._spec.max_requests
        return limit is not None and self.stats.sent + self.stats.skipped >= limit

    async def _send(self, session: aiohttp.ClientSession, with_cohort: bool, user: CookieJar | None) -> None:
        headers = dict([self._spec.cohort_header]) if with_cohort else {}
        loop = asyncio.get_running_loop()
        cookie = user.header(loop.time()) if user is not None else None
        if cookie is not None:
            headers["Cookie"] = cookie
            self.stats.with_cookie += 1
        try:
            async with session.get(self._url, headers=headers or None) as response:
                await response.read()
                status = response.status
                if user is not None:
                    user.take(response.headers.getall("Set-Cookie", ()), loop.time())
        except (aiohttp.ClientError, TimeoutError):
            self.stats.failed += 1
            return
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set; True when stopped."""
    if seconds <= 0:
        return stop.is_set()
    if seconds < _SHORT_WAIT_S:
        await asyncio.sleep(seconds)
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _drain(in_flight: set[asyncio.Task[None]]) -> None:
    if not in_flight:
        return
    _, pending = await asyncio.wait(set(in_flight), timeout=_DRAIN_TIMEOUT_S)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
