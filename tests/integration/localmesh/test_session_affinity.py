"""A sticky canary on the embedded mesh, with real HTTP clients: a user the weights send to the canary
gets a cookie and stays there; users without it are split by weight; after a rollback it routes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import pytest

from rollout.localmesh import VERSION_HEADER, LocalMesh
from rollout.mesh.plan import StickySession, TrafficPlan
from tests.integration.localmesh.helpers import binomial_bounds, running_mesh

pytestmark = pytest.mark.timeout(60)

STICKY = StickySession("meshroll-canary", "demo.checkout-v2.1700000000000", 600)
EARLIER_RUN = StickySession("meshroll-canary", "demo.checkout-v2.1600000000000", 600)
STICKY_AT_10 = TrafficPlan(90, 10, affinity=STICKY)


async def visit(session: aiohttp.ClientSession, mesh: LocalMesh, cookie: str | None = None) -> tuple[str, list[str]]:
    """One request as a browser makes it: the version that answered and the Set-Cookie headers it got."""
    headers = {"Cookie": cookie} if cookie is not None else None
    async with session.get(mesh.router_url + "/cart", headers=headers) as response:
        await response.read()
        assert response.status == 200
        return str(response.headers.get(VERSION_HEADER)), response.headers.getall("Set-Cookie", [])


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies, also for 127.0.0.1 (aiohttp refuses cookies from IP hosts by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def cookieless() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def until_canary(session: aiohttp.ClientSession, mesh: LocalMesh) -> Mapping[str, list[str]]:
    """Visit until the weights send this client to the canary; what each version said meanwhile."""
    seen: dict[str, list[str]] = {"v1": [], "v2": []}
    for _ in range(300):  # at 10%, 300 misses in a row happen with probability 2e-14
        version, cookies = await visit(session, mesh)
        seen[version] += cookies
        if version == "v2":
            return seen
    raise AssertionError("300 visits at a 10% canary weight never reached the canary")


def test_a_client_with_the_canarys_cookie_stays_on_the_canary_at_a_10_percent_weight() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, browser() as session:
            mesh.apply(STICKY_AT_10)
            seen = await until_canary(session, mesh)
            assert seen["v1"] == []  # stable's answers set no cookie
            assert seen["v2"] == ["meshroll-canary=demo.checkout-v2.1700000000000; Max-Age=600; Path=/"]
            later = [await visit(session, mesh) for _ in range(300)]
            assert {version for version, _ in later} == {"v2"}
            assert all(cookies == [] for _, cookies in later)  # the sticky route does not renew the cookie

    asyncio.run(scenario())


def test_clients_without_the_cookie_are_split_by_weight() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, cookieless() as session:
            mesh.apply(STICKY_AT_10)
            replies = await asyncio.gather(*(visit(session, mesh) for _ in range(1000)))
            canary = [cookies for version, cookies in replies if version == "v2"]
            low, high = binomial_bounds(1000, 0.10)
            assert low <= len(canary) <= high
            assert all(cookies == [STICKY.set_cookie] for cookies in canary)
            assert all(cookies == [] for version, cookies in replies if version == "v1")

    asyncio.run(scenario())


def test_an_earlier_runs_cookie_routes_nothing() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, cookieless() as session:
            mesh.apply(STICKY_AT_10)
            stale = f"theme=dark; {EARLIER_RUN.cookie_name}={EARLIER_RUN.value}"
            replies = [await visit(session, mesh, stale) for _ in range(400)]
            low, high = binomial_bounds(400, 0.10)
            assert low <= sum(version == "v2" for version, _ in replies) <= high

    asyncio.run(scenario())


def test_after_a_rollback_the_cookie_holder_reaches_stable_and_gets_no_new_cookie() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, browser() as session:
            mesh.apply(STICKY_AT_10)
            await until_canary(session, mesh)
            assert len(session.cookie_jar) == 1
            mesh.apply(TrafficPlan.all_stable())  # rollback, abort or supersession
            after = [await visit(session, mesh) for _ in range(200)]
            assert {version for version, _ in after} == {"v1"}
            assert all(cookies == [] for _, cookies in after)
            assert len(session.cookie_jar) == 1  # the client still sends it: it is inert now

    asyncio.run(scenario())


def test_after_promotion_the_cookie_is_no_longer_set() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, cookieless() as session:
            mesh.apply(STICKY_AT_10)
            mesh.apply(TrafficPlan(0, 100))  # promoted: the run ends, the affinity goes with it
            replies = [await visit(session, mesh) for _ in range(50)]
            assert replies == [("v2", [])] * 50

    asyncio.run(scenario())


def test_the_load_generators_users_keep_their_cookie_and_return_to_the_canary() -> None:
    """20 simulated users, 600 requests at a 10% sticky weight: most users meet the canary once and stay,
    so the canary serves far more than 10% of the requests; new visitors alone stay near 10%."""
    from rollout.localmesh.loadgen import LoadGenerator, LoadSpec

    async def share(users: int) -> tuple[float, int]:
        async with running_mesh() as mesh:
            mesh.apply(STICKY_AT_10)
            spec = LoadSpec(rate=600.0, max_duration_s=30.0, max_requests=600, concurrency=8, users=users)
            stats = await LoadGenerator(mesh.router_url, spec, seed=3).run(asyncio.Event())
            counts = mesh.snapshot("source")
            return counts["v2"].requests / (counts["v1"].requests + counts["v2"].requests), stats.with_cookie

    returning, with_cookie = asyncio.run(share(20))
    visitors, none = asyncio.run(share(0))
    assert returning > 0.5 and with_cookie > 300
    low, high = binomial_bounds(600, 0.10)
    assert low / 600 <= visitors <= high / 600 and none == 0


def test_a_users_cookie_expires_with_its_max_age_and_a_zero_max_age_deletes_it() -> None:
    from rollout.localmesh.loadgen import CookieJar

    jar = CookieJar()
    jar.take(["meshroll-canary=run1; Max-Age=600; Path=/", "other=x"], now=100.0)
    assert jar.header(now=200.0) == "meshroll-canary=run1; other=x"
    assert jar.header(now=701.0) == "other=x"  # past its Max-Age
    jar.take(["other=gone; Max-Age=0", "broken cookie ===; ;"], now=702.0)
    assert jar.header(now=703.0) is None
