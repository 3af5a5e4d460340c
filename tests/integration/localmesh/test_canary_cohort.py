"""A canary's cohort on the embedded mesh, with real HTTP: cohort requests always reach the canary, the
others are split by the step weight; with session affinity a cohort answer sets no sticky cookie; after
a rollback or promotion the cohort routes nothing special."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from chaos.matching import MatchKind, RequestMatch, StringMatch, cookie_match
from rollout.localmesh import VERSION_HEADER, LocalMesh
from rollout.mesh.plan import StickySession, TrafficPlan
from tests.integration.localmesh.helpers import binomial_bounds, running_mesh

pytestmark = pytest.mark.timeout(60)

BETA_HEADER = RequestMatch(headers=(("x-beta", StringMatch(MatchKind.EXACT, "1")),))
BETA_COOKIE = RequestMatch(headers=(cookie_match("beta", "yes"),))
STICKY = StickySession("meshroll-canary", "demo.checkout-v2.1700000000000", 600)


def at(canary_weight: int, **more: object) -> TrafficPlan:
    return TrafficPlan(100 - canary_weight, canary_weight, ab_matches=(BETA_HEADER, BETA_COOKIE), **more)  # type: ignore[arg-type]


async def visit(session: aiohttp.ClientSession, mesh: LocalMesh, headers: dict[str, str]) -> tuple[str, list[str]]:
    async with session.get(mesh.router_url + "/cart", headers=headers) as response:
        await response.read()
        assert response.status == 200
        return str(response.headers.get(VERSION_HEADER)), response.headers.getall("Set-Cookie", [])


def cookieless() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def versions(mesh: LocalMesh, n: int, headers: dict[str, str]) -> list[str]:
    async with cookieless() as session:
        replies = await asyncio.gather(*(visit(session, mesh, headers) for _ in range(n)))
        return [version for version, _ in replies]


@pytest.mark.parametrize("canary_weight", [5, 25])
def test_cohort_requests_all_reach_the_canary_and_the_others_follow_the_weight(canary_weight: int) -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(at(canary_weight))
            assert set(await versions(mesh, 300, {"x-beta": "1"})) == {"v2"}
            assert set(await versions(mesh, 300, {"Cookie": "theme=dark; beta=yes"})) == {"v2"}
            others = await versions(mesh, 1000, {"x-beta": "0"})
            low, high = binomial_bounds(1000, canary_weight / 100)
            assert low <= others.count("v2") <= high, others.count("v2")

    asyncio.run(scenario())


def test_with_session_affinity_only_the_weights_canary_answers_set_the_cookie() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, cookieless() as session:
            mesh.apply(at(10, affinity=STICKY))
            cohort = [await visit(session, mesh, {"x-beta": "1"}) for _ in range(100)]
            assert cohort == [("v2", [])] * 100  # routed by their match: nothing to keep sticky
            others = await asyncio.gather(*(visit(session, mesh, {}) for _ in range(600)))
            canary = [cookies for version, cookies in others if version == "v2"]
            low, high = binomial_bounds(600, 0.10)
            assert low <= len(canary) <= high
            assert all(cookies == [STICKY.set_cookie] for cookies in canary)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("end", "version"), [(TrafficPlan.all_stable(), "v1"), (TrafficPlan(0, 100), "v2")], ids=["rollback", "promotion"]
)
def test_when_the_run_ends_the_cohort_goes_with_the_weights(end: TrafficPlan, version: str) -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(at(10))
            mesh.apply(end)
            assert set(await versions(mesh, 200, {"x-beta": "1"})) == {version}
            assert set(await versions(mesh, 200, {})) == {version}

    asyncio.run(scenario())
