"""Helpers for the Prometheus tests: the embedded mesh as a scrape target, spans, bounds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from analysis.observations import MetricKind
from analysis.sources import MetricQuery, StepSpan
from rollout.localmesh import BackendProfile, LocalMeshConfig, LocalMeshThread, VersionSpec
from rollout.mesh.plan import TrafficPlan
from tests.prometheus.fixture import PrometheusServer, free_port

SERVICE = "checkout"
NAMESPACE = "shop"
ERRORS = MetricQuery("error-rate", "istio-error-rate", MetricKind.ERRORS)
LATENCY = MetricQuery("latency", "istio-latency-histogram", MetricKind.LATENCY)
SCRAPE_S = 1.0


def mesh_config(*, load_rate: float = 120.0, seed: int = 11, metrics_port: int | None = None) -> LocalMeshConfig:
    return LocalMeshConfig(
        service=SERVICE,
        namespace=NAMESPACE,
        stable=VersionSpec("v1", BackendProfile(median_ms=2.0, p99_ms=30.0, error_rate=0.05)),
        canary=VersionSpec("v2", BackendProfile(median_ms=8.0, p99_ms=60.0, error_rate=0.2)),
        metrics_port=metrics_port if metrics_port is not None else free_port(),
        load_rate=load_rate,
        seed=seed,
    )


def metrics_address(mesh: LocalMeshThread) -> str:
    """``host:port`` of the mesh's /metrics endpoint, as a scrape target."""
    return urlsplit(mesh.metrics_url).netloc


@contextmanager
def scraped_mesh(
    prometheus: PrometheusServer, config: LocalMeshConfig | None = None, plan: TrafficPlan = TrafficPlan(50, 50)
) -> Iterator[LocalMeshThread]:
    """A running mesh under load (split 50/50 unless ``plan`` says otherwise), scraped by ``prometheus``
    (first sample already in)."""
    mesh = LocalMeshThread(config or mesh_config()).start()
    try:
        mesh.apply(plan)
        address = metrics_address(mesh)
        prometheus.add_target(address)
        mesh.start_load()
        prometheus.wait_for_target(address, timeout=30)
        yield mesh
    finally:
        prometheus.remove_target(metrics_address(mesh))
        mesh.stop()


def span(start: float, end: float, *, service: str = SERVICE, stable: str = "v1", canary: str = "v2") -> StepSpan:
    return StepSpan(start, end, stable, canary, service, NAMESPACE)


def extrapolation_bound(window_s: float) -> float:
    """The most ``increase()`` can inflate an exact count over ``window_s`` with a 1 s scrape:
    it extrapolates the sampled interval (at least window - 2 x 1.1 scrape intervals) to the window."""
    return window_s / (window_s - 2.2 * SCRAPE_S)


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.time()))
