"""/metrics speaks Istio's names, labels and buckets, and the in-process snapshot says the same."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import pytest
from prometheus_client.samples import Sample

from chaos.faults import Abort, Arm, Delay, Fault
from rollout.localmesh import ISTIO_DURATION_BUCKETS_MS, BackendProfile, Reporter, VersionCounters, VersionSpec
from rollout.mesh.plan import TrafficPlan
from tests.integration.localmesh.helpers import fast_config, running_mesh, scrape, send, settle

pytestmark = pytest.mark.timeout(30)

ISTIO_LABELS = {
    "reporter",
    "destination_service",
    "destination_service_name",
    "destination_workload",
    "destination_version",
    "destination_canonical_revision",
    "response_code",
    "response_flags",
    "source_workload",
}
ISTIO_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
                 300000, 600000, 1800000, 3600000)  # fmt: skip


def test_metrics_expose_istio_requests_and_the_duration_histogram_with_istio_labels() -> None:
    async def scenario() -> list[Sample]:
        async with running_mesh(fast_config(service="checkout", namespace="shop")) as mesh:
            mesh.apply(TrafficPlan(50, 50))
            await send(mesh, 100)
            return await scrape(mesh)

    samples = asyncio.run(scenario())
    names = {s.name for s in samples}
    assert {
        "istio_requests_total",
        "istio_request_duration_milliseconds_bucket",
        "istio_request_duration_milliseconds_sum",
        "istio_request_duration_milliseconds_count",
    } <= names
    for sample in samples:
        assert ISTIO_LABELS.issubset(sample.labels)
    v2 = next(s for s in samples if s.name == "istio_requests_total" and s.labels["destination_version"] == "v2")
    assert v2.labels["destination_service"] == "checkout.shop.svc.cluster.local"
    assert v2.labels["destination_service_name"] == "checkout"
    assert v2.labels["destination_workload"] == "checkout-v2"
    assert v2.labels["destination_canonical_revision"] == "v2"
    assert v2.labels["response_flags"] == "-"
    les = sorted({float(s.labels["le"]) for s in samples if s.name.endswith("_bucket")})
    assert les == [*map(float, ISTIO_BUCKETS), math.inf]
    assert ISTIO_DURATION_BUCKETS_MS == ISTIO_BUCKETS
    reporters = {s.labels["reporter"] for s in samples}
    assert reporters == {"source", "destination"}


def _from_samples(samples: list[Sample], reporter: Reporter, version: str) -> VersionCounters:
    """What a query over the exposition gives: the same shape as the snapshot."""
    mine = [s for s in samples if s.labels["reporter"] == reporter and s.labels["destination_version"] == version]
    requests = [s for s in mine if s.name == "istio_requests_total"]
    by_flags: dict[str, float] = {}
    for s in requests:
        by_flags[s.labels["response_flags"]] = by_flags.get(s.labels["response_flags"], 0.0) + s.value
    buckets: dict[float, float] = {}
    for s in mine:
        if s.name == "istio_request_duration_milliseconds_bucket":
            le = float(s.labels["le"])
            buckets[le] = buckets.get(le, 0.0) + s.value
    return VersionCounters(
        requests=sum(s.value for s in requests),
        errors=sum(s.value for s in requests if s.labels["response_code"].startswith("5")),
        buckets=tuple(sorted(buckets.items())),
        by_flags=by_flags,
        sum_ms=sum(s.value for s in mine if s.name == "istio_request_duration_milliseconds_sum"),
    )


def test_the_snapshot_agrees_with_the_metrics_endpoint_for_both_reporters() -> None:
    flaky_canary = VersionSpec("v2", BackendProfile(median_ms=2.0, p99_ms=30.0, error_rate=0.2))
    faults = (
        Fault("f-abort", "shop/x", Arm.CANARY, abort=Abort(percent=10.0, http_status=503)),
        Fault("f-delay", "shop/x", Arm.STABLE, delay=Delay(fixed_ms=5.0, percent=20.0)),
    )

    async def scenario() -> None:
        async with running_mesh(fast_config(canary=flaky_canary)) as mesh:
            mesh.apply(TrafficPlan(50, 50, mirror_percent=20.0, faults=faults))
            await send(mesh, 600)
            await settle(mesh, "v2")
            samples = await scrape(mesh)
            for reporter in ("source", "destination"):
                snapshot = mesh.snapshot(reporter)
                assert set(snapshot) == {"v1", "v2"}
                for version in ("v1", "v2"):
                    expected = _from_samples(samples, reporter, version)
                    assert snapshot[version].sum_ms == pytest.approx(expected.sum_ms)
                    assert replace(snapshot[version], sum_ms=0.0) == replace(expected, sum_ms=0.0), (reporter, version)
            source, destination = mesh.snapshot("source"), mesh.snapshot("destination")
        assert source["v1"].requests + source["v2"].requests == 600
        assert source["v2"].by_flags["FI"] > 0 and source["v1"].by_flags["DI"] > 0
        assert set(destination["v1"].by_flags) == set(destination["v2"].by_flags) == {"-"}
        assert destination["v2"].errors > 0
        assert destination["v2"].buckets[-1] == (math.inf, destination["v2"].requests)

    asyncio.run(scenario())


def test_an_idle_version_is_in_the_snapshot_with_zero_counts() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            await send(mesh, 20)
            idle = mesh.snapshot()["v2"]
        assert idle.requests == idle.errors == 0
        assert idle.by_flags == {}
        assert len(idle.buckets) == len(ISTIO_BUCKETS) + 1
        assert all(count == 0 for _, count in idle.buckets)

    asyncio.run(scenario())
