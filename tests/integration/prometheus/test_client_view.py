"""Steady-state checks read the client's view: an injected abort never reaches the destination
reporter, so through Prometheus the same template counts it only with ``reporter="source"``."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from analysis.prometheus import PrometheusConfig, PrometheusSource
from chaos.faults import Abort, Arm, Fault
from rollout.localmesh import BackendProfile, VersionSpec
from rollout.mesh.plan import TrafficPlan
from tests.integration.prometheus.helpers import ERRORS, mesh_config, scraped_mesh, span
from tests.prometheus.fixture import PrometheusServer

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]


def test_injected_aborts_show_in_the_source_view_and_not_in_the_destination_view(prometheus: PrometheusServer) -> None:
    healthy = VersionSpec("v1", BackendProfile(median_ms=2.0, p99_ms=10.0, error_rate=0.0))
    # its own service name: the session's shared mesh is scraped by the same Prometheus as checkout/shop
    config = replace(mesh_config(seed=5), service="drill", stable=healthy, canary=replace(healthy, name="v2"))
    with scraped_mesh(prometheus, config) as mesh:
        start = time.time()
        abort = Fault("shop/drill#0", "shop/drill", Arm.STABLE, abort=Abort(30.0, http_status=503))
        mesh.apply(TrafficPlan(50, 50, faults=(abort,)))
        time.sleep(8)
        end = time.time()
        time.sleep(2)  # the last scrape of the window is in
        source = PrometheusSource(PrometheusConfig(prometheus.url, timeout=5.0))
        window = span(start, end, service="drill")
        client = source.collect(replace(window, reporter="source"), [ERRORS])["error-rate"].stable
        backend = source.collect(window, [ERRORS])["error-rate"].stable
    assert client.requests > 200 and 0.2 < client.errors / client.requests < 0.4, client
    assert backend.errors == 0 and backend.requests < client.requests, backend
