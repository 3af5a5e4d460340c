"""Requests really go where the traffic plan says: by weight, by A/B match, and mirrored."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from chaos.matching import MatchKind, RequestMatch, StringMatch, cookie_match
from rollout.localmesh import BackendProfile, VersionSpec
from rollout.mesh.plan import TrafficPlan
from tests.integration.localmesh.helpers import (
    COHORT,
    FAST,
    binomial_bounds,
    fast_config,
    running_mesh,
    scrape,
    send,
    settle,
    total,
)

pytestmark = pytest.mark.timeout(30)

BETA_HEADER = RequestMatch(headers=(("X-Cohort", StringMatch(MatchKind.EXACT, "beta")),))


def test_a_30_percent_canary_weight_sends_a_binomial_share_to_the_canary() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(TrafficPlan(stable_weight=70, canary_weight=30))
            replies = await send(mesh, 1000)
            canary = sum(r.version == "v2" for r in replies)
            low, high = binomial_bounds(1000, 0.30)
            assert low <= canary <= high
            assert all(r.status == 200 for r in replies)
            assert mesh.snapshot()["v2"].requests == canary
            assert mesh.snapshot()["v1"].requests == 1000 - canary

    asyncio.run(scenario())


def test_all_stable_routes_every_request_to_stable() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(TrafficPlan(stable_weight=50, canary_weight=50))
            await send(mesh, 100)
            before = mesh.snapshot()["v2"].requests
            mesh.apply(TrafficPlan.all_stable())
            assert mesh.current_plan == TrafficPlan.all_stable()
            replies = await send(mesh, 400)
            assert {r.version for r in replies} == {"v1"}
            assert mesh.snapshot()["v2"].requests == before

    asyncio.run(scenario())


def test_an_ab_header_match_sends_all_matching_requests_and_no_others_to_the_canary() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(TrafficPlan(ab_matches=(BETA_HEADER,)))
            cohort = await send(mesh, 200, headers=COHORT)
            others = await send(mesh, 200, headers={"x-cohort": "gamma"})
            bare = await send(mesh, 100)
            assert {r.version for r in cohort} == {"v2"}
            assert {r.version for r in others + bare} == {"v1"}

    asyncio.run(scenario())


def test_an_ab_cookie_match_routes_by_cookie() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(TrafficPlan(ab_matches=(RequestMatch(headers=(cookie_match("user", "ann"),)),)))
            ann = await send(mesh, 50, headers={"cookie": "theme=dark; user=ann"})
            bob = await send(mesh, 50, headers={"cookie": "theme=dark; user=bob"})
            assert {r.version for r in ann} == {"v2"}
            assert {r.version for r in bob} == {"v1"}

    asyncio.run(scenario())


def test_mirroring_copies_to_the_canary_while_clients_always_get_the_stable_answer() -> None:
    failing_canary = VersionSpec("v2", BackendProfile(median_ms=1.0, p99_ms=4.0, error_rate=1.0))

    async def scenario() -> None:
        async with running_mesh(fast_config(canary=failing_canary)) as mesh:
            mesh.apply(TrafficPlan(mirror_percent=100.0))
            replies = await send(mesh, 300)
            assert {(r.status, r.version) for r in replies} == {(200, "v1")}
            assert await settle(mesh, "v2") == 300
            samples = await scrape(mesh)

        shadow = {"destination_version": "v2", "source_workload": "meshroll-client-shadow"}
        assert total(samples, "istio_requests_total", reporter="destination", **shadow) == 300
        assert total(samples, "istio_requests_total", response_code="500", **shadow) == 300
        # as in Istio, the source reports no shadow traffic: the client never saw it
        assert total(samples, "istio_requests_total", reporter="source", destination_version="v2") == 0
        assert total(samples, "istio_requests_total", reporter="source", destination_version="v1") == 300

    asyncio.run(scenario())


def test_a_mirror_percent_copies_a_binomial_share() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(TrafficPlan(mirror_percent=40.0))
            await send(mesh, 800)
            mirrored = await settle(mesh, "v2")
        low, high = binomial_bounds(800, 0.40)
        assert low <= mirrored <= high

    asyncio.run(scenario())


def test_a_profile_change_mid_run_takes_effect_on_the_next_requests() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(TrafficPlan(stable_weight=0, canary_weight=100))
            assert {r.status for r in await send(mesh, 50)} == {200}
            mesh.set_profile("v2", replace(FAST, error_rate=1.0))
            assert {r.status for r in await send(mesh, 50)} == {500}
            assert mesh.snapshot()["v2"].errors == 50

    asyncio.run(scenario())
