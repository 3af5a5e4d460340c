"""Shared helpers for the embedded-mesh tests: a running mesh, bounded bursts of real requests, a
parsed /metrics scrape, and binomial bounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from scipy.stats import binom

from rollout.localmesh import VERSION_HEADER, BackendProfile, LocalMesh, LocalMeshConfig, VersionSpec

FAST = BackendProfile(median_ms=1.0, p99_ms=4.0)
COHORT = {"x-cohort": "beta"}


def fast_config(**overrides: object) -> LocalMeshConfig:
    config = LocalMeshConfig(stable=VersionSpec("v1", FAST), canary=VersionSpec("v2", FAST), seed=7)
    return replace(config, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running_mesh(config: LocalMeshConfig | None = None) -> AsyncIterator[LocalMesh]:
    mesh = LocalMesh(config or fast_config())
    await mesh.start()
    try:
        yield mesh
    finally:
        await mesh.stop()


@dataclass(frozen=True)
class Reply:
    status: int
    version: str | None
    latency_s: float
    headers: Mapping[str, str]


async def send(
    mesh: LocalMesh, n: int, *, headers: Mapping[str, str] | None = None, concurrency: int = 32
) -> list[Reply]:
    """Send ``n`` GET requests through the router, at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:

        async def one() -> Reply:
            async with gate:
                started = time.perf_counter()
                async with session.get(mesh.router_url + "/items?id=1", headers=headers) as response:
                    await response.read()
                    latency = time.perf_counter() - started
                    return Reply(response.status, response.headers.get(VERSION_HEADER), latency, dict(response.headers))

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def scrape(mesh: LocalMesh) -> list[Sample]:
    async with aiohttp.ClientSession() as session, session.get(mesh.metrics_url) as response:
        assert response.status == 200
        text = await response.text()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def binomial_bounds(n: int, p: float, level: float = 0.999) -> tuple[float, float]:
    low, high = binom.interval(level, n, p)
    return float(low), float(high)


async def settle(mesh: LocalMesh, version: str, *, quiet_s: float = 0.3, limit_s: float = 10.0) -> float:
    """Wait until ``version``'s destination count stops moving (mirrored copies are fire-and-forget)."""
    deadline = time.monotonic() + limit_s
    last = -1.0
    while time.monotonic() < deadline:
        current = mesh.snapshot()[version].requests
        if current == last:
            return current
        last = current
        await asyncio.sleep(quiet_s)
    return last
