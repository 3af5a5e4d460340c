"""Faults are injected at the router, client side, as Envoy does: by arm, by cohort, by percent."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from chaos.faults import Abort, Arm, Delay, Fault
from chaos.matching import MatchKind, RequestMatch, StringMatch
from rollout.localmesh import LocalMeshError
from rollout.mesh.plan import TrafficPlan
from tests.integration.localmesh.helpers import (
    COHORT,
    binomial_bounds,
    running_mesh,
    scrape,
    send,
    total,
)

pytestmark = pytest.mark.timeout(30)

OWNER = "shop/checkout-v2"
ALL_CANARY = TrafficPlan(stable_weight=0, canary_weight=100)


def _plan(*faults: Fault, base: TrafficPlan = ALL_CANARY) -> TrafficPlan:
    return TrafficPlan(base.stable_weight, base.canary_weight, faults=faults)


def test_a_10_percent_abort_on_the_canary_aborts_a_binomial_share_flagged_fi() -> None:
    fault = Fault("f-abort", OWNER, Arm.CANARY, abort=Abort(percent=10.0, http_status=503))

    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(_plan(fault))
            replies = await send(mesh, 1000)
            samples = await scrape(mesh)
        aborted = sum(r.status == 503 for r in replies)
        low, high = binomial_bounds(1000, 0.10)
        assert low <= aborted <= high
        assert {r.status for r in replies} == {200, 503}
        fi = {"reporter": "source", "destination_version": "v2", "response_flags": "FI"}
        assert total(samples, "istio_requests_total", response_code="503", **fi) == aborted
        # an aborted request never reaches the canary: its own sidecar saw only the others
        assert total(samples, "istio_requests_total", reporter="destination") == 1000 - aborted
        assert total(samples, "istio_requests_total", reporter="destination", response_flags="FI") == 0

    asyncio.run(scenario())


def test_an_abort_fault_on_the_canary_leaves_stable_requests_alone() -> None:
    fault = Fault("f-abort", OWNER, Arm.CANARY, abort=Abort(percent=100.0, http_status=503))

    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(_plan(fault, base=TrafficPlan(50, 50)))
            replies = await send(mesh, 300)
        assert {r.status for r in replies if r.version == "v1"} == {200}
        assert {r.status for r in replies if r.version is None} == {503}

    asyncio.run(scenario())


def test_a_delay_fault_adds_the_configured_delay_flagged_di() -> None:
    delay_ms = 300.0
    fault = Fault("f-delay", OWNER, Arm.CANARY, delay=Delay(fixed_ms=delay_ms, percent=100.0))

    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(ALL_CANARY)
            plain = await send(mesh, 40, concurrency=20)
            mesh.apply(_plan(fault))
            delayed = await send(mesh, 40, concurrency=20)
            samples = await scrape(mesh)
        # every delayed request waited the delay; the median, not much more (a loaded machine slows both batches
        # unevenly, so a difference of medians is no measure: it once came to 203 ms of the 300 under load)
        assert min(r.latency_s for r in delayed) >= delay_ms / 1000
        assert (
            statistics.median(r.latency_s for r in delayed) <= delay_ms / 1000 + max(r.latency_s for r in plain) + 2.0
        )
        assert {r.status for r in delayed} == {200}
        di = {"reporter": "source", "destination_version": "v2", "response_flags": "DI"}
        assert total(samples, "istio_requests_total", **di) == 40
        # the source's durations include the delay, the destination's do not
        le250 = {"le": "250.0", "destination_version": "v2"}
        assert total(samples, "istio_request_duration_milliseconds_bucket", response_flags="DI", **le250) == 0
        # the backend's own time is milliseconds; on a loaded machine a few may still pass 250 ms, but had the
        # destination counted the delay, the 40 delayed requests (at least 300 ms) would all be above it
        fast = total(samples, "istio_request_duration_milliseconds_bucket", reporter="destination", **le250)
        assert fast >= 60, f"{fast:.0f} of the destination's 80 durations under 250 ms"

    asyncio.run(scenario())


def test_a_fault_with_a_cohort_affects_only_matching_requests() -> None:
    cohort = (RequestMatch(headers=(("x-cohort", StringMatch(MatchKind.EXACT, "beta")),)),)
    fault = Fault("f-cohort", OWNER, Arm.BOTH, abort=Abort(percent=100.0, http_status=503), cohort=cohort)

    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(_plan(fault, base=TrafficPlan(50, 50)))
            matching = await send(mesh, 150, headers=COHORT)
            others = await send(mesh, 150)
        assert {r.status for r in matching} == {503}
        assert {r.status for r in others} == {200}

    asyncio.run(scenario())


def test_delay_and_abort_on_one_request_are_both_flagged() -> None:
    fault = Fault(
        "f-both",
        OWNER,
        Arm.CANARY,
        delay=Delay(fixed_ms=20.0, percent=100.0),
        abort=Abort(percent=100.0, http_status=429),
    )

    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(_plan(fault))
            replies = await send(mesh, 30)
            snapshot = mesh.snapshot("source")["v2"]
        assert {r.status for r in replies} == {429}
        assert snapshot.by_flags == {"DI,FI": 30.0}
        assert snapshot.errors == 0  # a 429 is not a 5xx

    asyncio.run(scenario())


def test_a_grpc_abort_answers_200_with_the_grpc_status() -> None:
    fault = Fault("f-grpc", OWNER, Arm.CANARY, abort=Abort(percent=100.0, grpc_status="UNAVAILABLE"))

    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(_plan(fault))
            replies = await send(mesh, 10)
        assert {(r.status, r.headers.get("grpc-status")) for r in replies} == {(200, "14")}

    asyncio.run(scenario())


def test_a_plan_the_mesh_cannot_carry_out_is_refused_and_changes_nothing() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            mesh.apply(ALL_CANARY)
            bad = Fault("f-bad", OWNER, Arm.CANARY, abort=Abort(percent=5.0))
            with pytest.raises(LocalMeshError, match=r"f-bad.*exactly one of http_status or grpc_status"):
                mesh.apply(_plan(bad))
            assert mesh.current_plan == ALL_CANARY
            assert {r.version for r in await send(mesh, 20)} == {"v2"}

    asyncio.run(scenario())
