"""Demo backends: one aiohttp server per version, answering after a lognormal latency, failing at a rate."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from aiohttp import web

from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.serving import Listener, start_listener

VERSION_HEADER = "x-meshroll-version"
"""Response header naming the version that answered (the backends set it; the router passes it on)."""

_Z99 = 2.3263478740408408  # standard normal quantile at 0.99


@dataclass(frozen=True)
class BackendProfile:
    """How a version behaves: latency median and p99 (ms, lognormal) and the share of 500 answers."""

    median_ms: float = 5.0
    p99_ms: float = 20.0
    error_rate: float = 0.0

    def __post_init__(self) -> None:
        if not self.median_ms > 0:
            raise LocalMeshError(f"backend profile: median_ms must be > 0, got {self.median_ms}")
        if self.p99_ms < self.median_ms:
            raise LocalMeshError(f"backend profile: p99_ms ({self.p99_ms}) must be >= median_ms ({self.median_ms})")
        if not 0.0 <= self.error_rate <= 1.0:
            raise LocalMeshError(f"backend profile: error_rate must be within 0..1, got {self.error_rate}")

    @property
    def sigma(self) -> float:
        """The lognormal shape: ln(p99 / median) / z(0.99)."""
        return math.log(self.p99_ms / self.median_ms) / _Z99

    def draw_latency_ms(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_ms), self.sigma)

    def draw_failure(self, rng: random.Random) -> bool:
        return rng.random() < self.error_rate


class DemoBackend:
    """One version's server. ``profile`` may be replaced while it runs (a single attribute assignment)."""

    def __init__(self, version: str, profile: BackendProfile, *, seed: int | str) -> None:
        self.version = version
        self.profile = profile
        self._rng = random.Random(seed)
        self._listener: Listener | None = None

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError(f"backend {self.version} is not started")
        return self._listener.url

    async def start(self, host: str) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._listener = await start_listener(app, host, 0, flag="--port")

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        profile = self.profile  # read once: a profile swapped mid-request does not mix
        await asyncio.sleep(profile.draw_latency_ms(self._rng) / 1000.0)
        headers = {VERSION_HEADER: self.version}
        if profile.draw_failure(self._rng):
            return web.Response(status=500, text=f"{self.version} failed\n", headers=headers)
        return web.Response(status=200, text=f"{self.version} ok\n", headers=headers)
