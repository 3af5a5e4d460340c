"""PrometheusSource against a real Prometheus scraping the embedded mesh every second."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from analysis.observations import MetricKind
from analysis.prometheus import PrometheusConfig, PrometheusSource
from analysis.sources import MetricQuery, MetricsUnavailableError, no_data_reason
from rollout.localmesh import BackendProfile, LocalMeshThread, VersionSpec
from rollout.mesh.plan import TrafficPlan
from tests.integration.prometheus.helpers import (
    ERRORS,
    LATENCY,
    extrapolation_bound,
    mesh_config,
    scraped_mesh,
    span,
)
from tests.prometheus.fixture import PrometheusFactory, PrometheusServer

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]


@pytest.fixture
def source(prometheus: PrometheusServer) -> Iterator[PrometheusSource]:
    made = PrometheusSource(PrometheusConfig(prometheus.url, timeout=5.0))
    yield made
    made.close()


def test_per_arm_counts_and_buckets_agree_with_the_mesh_in_process_counters(
    mesh: LocalMeshThread, source: PrometheusSource
) -> None:
    # The load runs only in the middle of the span, so the counters are flat for more than a scrape
    # interval at both ends: the exact difference is then what increase() sees, up to its extrapolation
    # of the sampled interval to the window (never below the exact count).
    mesh.stop_load()
    time.sleep(2.0)
    start = time.time()
    before = mesh.snapshot()
    time.sleep(1.5)
    mesh.start_load()
    time.sleep(8.0)
    mesh.stop_load()
    after = mesh.snapshot()
    time.sleep(1.6)
    end = time.time()
    time.sleep(0.5)  # the last scrape before ``end`` is in the TSDB
    mesh.start_load()

    pairs = source.collect(span(start, end), [ERRORS, LATENCY])

    bound = extrapolation_bound(end - start)
    for arm, version in (("stable", "v1"), ("canary", "v2")):
        exact_requests = after[version].requests - before[version].requests
        exact_errors = after[version].errors - before[version].errors
        assert exact_requests > 200, "the load did not reach this arm"
        errors_sample = getattr(pairs["error-rate"], arm)
        assert exact_requests - 1e-6 <= errors_sample.requests <= exact_requests * bound + 1e-6, arm
        assert exact_errors - 1e-6 <= errors_sample.errors <= exact_errors * bound + 1e-6, arm
        latency_sample = getattr(pairs["latency"], arm)
        earlier = dict(before[version].buckets)
        for le, count in latency_sample.buckets:
            exact = dict(after[version].buckets)[le] - earlier[le]
            assert exact - 1e-6 <= count <= exact * bound + 1e-6, (arm, le)
    # the canary fails 20% of requests, stable 5%: the numbers show it
    canary, stable = pairs["error-rate"].canary, pairs["error-rate"].stable
    assert canary.errors / canary.requests > stable.errors / stable.requests


def test_histogram_buckets_come_back_sorted_cumulative_and_closed_by_inf(
    mesh: LocalMeshThread, source: PrometheusSource
) -> None:
    end = time.time()
    pairs = source.collect(span(end - 10.0, end), [LATENCY])
    for sample in (pairs["latency"].stable, pairs["latency"].canary):
        edges = [le for le, _ in sample.buckets]
        counts = [count for _, count in sample.buckets]
        assert edges == sorted(edges) and math.isinf(edges[-1]) and len(edges) == 20
        assert all(a <= b + 1e-9 for a, b in itertools.pairwise(counts))
        assert sample.requests == counts[-1] > 0
        assert sample.problems() == []


def test_a_selector_that_matches_nothing_is_no_data_not_zero(mesh: LocalMeshThread, source: PrometheusSource) -> None:
    end = time.time()
    assert source.collect(span(end - 10.0, end, service="nobody"), [ERRORS, LATENCY]) == {}
    # only the canary missing: the metric is there, with an empty canary arm
    pairs = source.collect(span(end - 10.0, end, canary="v9"), [ERRORS])
    assert pairs["error-rate"].stable.requests > 0
    assert pairs["error-rate"].canary.requests == 0


@pytest.mark.parametrize(
    "service",
    ['checkout"} or vector(1) #', 'checkout"}) or vector(1) or sum(x{a="', "checkout\\", "check\nout", "checkout'"],
)
def test_a_hostile_service_name_cannot_change_the_query(
    mesh: LocalMeshThread, source: PrometheusSource, service: str
) -> None:
    end = time.time()
    assert source.collect(span(end - 10.0, end, service=service), [ERRORS, LATENCY]) == {}


def test_regex_matchers_take_versions_literally(mesh: LocalMeshThread, source: PrometheusSource) -> None:
    custom = MetricQuery(
        "by-regex",
        "custom",
        MetricKind.ERRORS,
        {
            "requests": 'sum(increase(istio_requests_total{reporter="destination",destination_version=~"{{version}}"}'
            "[{{window}}]))",
            "errors": 'sum(increase(istio_requests_total{destination_version=~"{{version}}",response_code=~"5.."}'
            "[{{window}}]))",
        },
    )
    end = time.time()
    assert source.collect(span(end - 10.0, end), [custom])["by-regex"].stable.requests > 0
    # ".*" and "v." would match both versions if they were not escaped
    assert source.collect(span(end - 10.0, end, stable=".*", canary="v."), [custom]) == {}


def test_gauges_are_read_with_a_range_query_over_the_step(mesh: LocalMeshThread, source: PrometheusSource) -> None:
    gauge = MetricQuery(
        "rps",
        "custom-rps",
        MetricKind.GAUGE,
        {"value": 'sum(rate(istio_requests_total{reporter="destination",destination_version="{{version}}"}[5s]))'},
    )
    end = time.time()
    pair = source.collect(span(end - 12.0, end), [gauge])["rps"]
    for sample in (pair.stable, pair.canary):
        assert 8 <= len(sample.gauges) <= 13  # one per second over the step (resolution 1 s)
        assert all(value >= 0 for value in sample.gauges)
        assert sum(sample.gauges) > 0


def test_a_query_prometheus_rejects_makes_metrics_unavailable_with_its_error(
    mesh: LocalMeshThread, source: PrometheusSource, prometheus: PrometheusServer
) -> None:
    broken = MetricQuery("broken", "custom", MetricKind.ERRORS, {"requests": "sum(rate(x[{{window}}])", "errors": "0"})
    end = time.time()
    with pytest.raises(MetricsUnavailableError) as caught:
        source.collect(span(end - 10.0, end), [broken])
    message = str(caught.value)
    assert message.startswith(f"Prometheus at {prometheus.url} rejected the metric 'broken', requests query")
    assert "HTTP 400" in message and "parse error" in message and "\n" not in message


def test_a_stopped_prometheus_makes_metrics_unavailable_naming_the_url(prometheus_factory: PrometheusFactory) -> None:
    server = prometheus_factory()
    source = PrometheusSource(PrometheusConfig(server.url, retries=1, backoff=0.05))
    end = time.time()
    empty = span(end - 10.0, end)
    assert source.collect(empty, [ERRORS]) == {}  # up, but nothing scraped: no data, which says where to look
    assert no_data_reason(source, empty) == (
        f"Prometheus at {server.url} has no data for {empty.service} ({empty.stable_version}, {empty.canary_version}) "
        f"in {empty.namespace} during the step; check that it scrapes them, their labels and the metric templates"
    )
    server.stop()
    with pytest.raises(MetricsUnavailableError) as caught:
        source.collect(span(end - 10.0, end), [ERRORS])
    assert str(caught.value) == (
        f"Prometheus at {server.url} refused the connection (2 attempt(s)): is it running and listening there?"
    )


def test_queries_per_step_for_the_demo_metrics(mesh: LocalMeshThread, source: PrometheusSource) -> None:
    end = time.time()
    source.collect(span(end - 8.0, end), [ERRORS, LATENCY])
    assert source.queries_issued == 6  # errors: requests + errors per arm; latency: buckets per arm


def test_series_born_inside_the_step_are_counted_from_their_first_request(prometheus: PrometheusServer) -> None:
    """A canary's counters come into being with its first request (and a 5xx series with its first error):
    increase() reads a series from its first sample on, so the count that sample already holds was lost,
    always against stable, whose series are older. Here the canary gets its first request mid-step, and
    its first few errors make its 5xx series."""
    sparse = BackendProfile(median_ms=8.0, p99_ms=60.0, error_rate=0.01)  # a few errors: a 5xx series is born
    config = replace(mesh_config(seed=23), service="newborn", canary=VersionSpec("v2", sparse))  # its own series
    with scraped_mesh(prometheus, config, TrafficPlan(100, 0)) as mesh:
        time.sleep(2.0)
        start = time.time()
        before = mesh.snapshot()
        assert before.get("v2") is None or before["v2"].requests == 0, "no canary series yet"
        time.sleep(1.5)
        mesh.apply(TrafficPlan(50, 50))
        time.sleep(8.0)
        mesh.stop_load()
        after = mesh.snapshot()
        time.sleep(1.6)
        end = time.time()
        time.sleep(0.5)  # the last scrape before ``end`` is in the TSDB
        source = PrometheusSource(PrometheusConfig(prometheus.url, timeout=5.0))
        pairs = source.collect(span(start, end, service="newborn"), [ERRORS, LATENCY])
        source.close()

    bound = extrapolation_bound(end - start)
    canary = pairs["error-rate"].canary
    exact = after["v2"]
    assert exact.requests > 300 and exact.errors >= 1
    assert exact.requests - 1e-6 <= canary.requests <= exact.requests * bound + 1e-6
    assert exact.errors - 1e-6 <= canary.errors <= exact.errors * bound + 1e-6
    for le, count in pairs["latency"].canary.buckets:
        assert dict(exact.buckets)[le] - 1e-6 <= count <= dict(exact.buckets)[le] * bound + 1e-6, le
