"""A pinned stable (sessionAffinity.primaryCookieName) on the embedded mesh, with real HTTP clients: a
user first served by stable gets stable's cookie and keeps getting stable as the canary's weight grows;
users without a cookie follow the weights; when the run ends the cookie routes nothing."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from rollout.localmesh import LocalMesh
from rollout.mesh.plan import StickySession, TrafficPlan
from tests.integration.localmesh.helpers import binomial_bounds, running_mesh
from tests.integration.localmesh.test_session_affinity import browser, cookieless, visit

pytestmark = pytest.mark.timeout(60)

RUN = "demo.checkout-v2.1700000000000"
PINNED = StickySession("meshroll-canary", RUN, 600, "meshroll-stable")
STABLE_COOKIE = f"meshroll-stable={RUN}; Max-Age=600; Path=/"
CANARY_COOKIE = f"meshroll-canary={RUN}; Max-Age=600; Path=/"


def at(canary_weight: int, session: StickySession = PINNED) -> TrafficPlan:
    return TrafficPlan(100 - canary_weight, canary_weight, affinity=session)


async def until_stable(session: aiohttp.ClientSession, mesh: LocalMesh) -> list[str]:
    """Visit until the weights send this client to stable; the Set-Cookie headers of that answer."""
    for _ in range(50):  # at a 10% canary, 50 canary answers in a row happen with probability 1e-50
        version, cookies = await visit(session, mesh)
        if version == "v1":
            return cookies
    raise AssertionError("50 visits at a 10% canary weight never reached stable")


def test_a_client_first_served_by_stable_keeps_stable_as_the_canarys_weight_grows() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, browser() as session:
            mesh.apply(at(10))
            assert await until_stable(session, mesh) == [STABLE_COOKIE]
            for weight in (50, 90):  # the run's next steps: the same run, so the same cookie
                mesh.apply(at(weight))
                later = [await visit(session, mesh) for _ in range(200)]
                assert later == [("v1", [])] * 200  # pinned, and the pinned route does not renew the cookie

    asyncio.run(scenario())


def test_clients_without_a_cookie_follow_the_weights_and_each_arm_sets_its_own_cookie() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, cookieless() as session:
            mesh.apply(at(50))
            replies = await asyncio.gather(*(visit(session, mesh) for _ in range(1000)))
            low, high = binomial_bounds(1000, 0.50)
            assert low <= sum(version == "v2" for version, _ in replies) <= high
            assert all(cookies == [STABLE_COOKIE] for version, cookies in replies if version == "v1")
            assert all(cookies == [CANARY_COOKIE] for version, cookies in replies if version == "v2")

    asyncio.run(scenario())


@pytest.mark.parametrize(("end", "version"), [(TrafficPlan(0, 100), "v2"), (TrafficPlan.all_stable(), "v1")])
def test_when_the_run_ends_the_stable_cookie_routes_nothing_and_no_cookie_is_set(
    end: TrafficPlan, version: str
) -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh, browser() as session:
            mesh.apply(at(10))
            assert await until_stable(session, mesh) == [STABLE_COOKIE]
            mesh.apply(end)  # promoted: the pinned user reaches the canary too; rolled back: stable, as everyone
            after = [await visit(session, mesh) for _ in range(50)]
            assert after == [(version, [])] * 50

    asyncio.run(scenario())


def test_the_load_generators_users_pinned_to_stable_stay_there_when_the_weight_grows() -> None:
    """100 simulated users meet the run at a 10% canary, then the weight goes to 50%: with stable pinned the
    canary keeps about the users it had (10-20% of requests: a user's first requests may be in flight
    together and meet both arms, and the canary's cookie route comes first); with only the canary pinned,
    stable's users are drawn again at each request and nearly all end on the canary."""
    from rollout.localmesh.loadgen import LoadGenerator, LoadSpec

    async def share_after_the_step(session: StickySession) -> float:
        async with running_mesh() as mesh:
            mesh.apply(at(10, session))
            spec = LoadSpec(rate=600.0, max_duration_s=30.0, max_requests=1500, concurrency=8, users=100)
            load = asyncio.create_task(LoadGenerator(mesh.router_url, spec, seed=5).run(asyncio.Event()))
            while sum(c.requests for c in mesh.snapshot("source").values()) < 600:
                await asyncio.sleep(0.005)
            mesh.apply(at(50, session))
            before = mesh.snapshot("source")
            await load
            after = mesh.snapshot("source")
            served = {v: after[v].requests - before[v].requests for v in ("v1", "v2")}
            assert sum(served.values()) > 700
            return served["v2"] / sum(served.values())

    pinned = asyncio.run(share_after_the_step(PINNED))
    canary_only = asyncio.run(share_after_the_step(StickySession("meshroll-canary", RUN, 600)))
    assert pinned < 0.35 < 0.75 < canary_only
