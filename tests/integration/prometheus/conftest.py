"""One embedded mesh under load for the Prometheus integration tests, scraped by the session Prometheus
(a new scrape target costs about 5 s of service discovery, so the modules share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rollout.localmesh import LocalMeshThread
from tests.integration.prometheus.helpers import scraped_mesh
from tests.prometheus.fixture import PrometheusServer


@pytest.fixture(scope="session")
def mesh(prometheus: PrometheusServer) -> Iterator[LocalMeshThread]:
    """checkout in shop: v1 (5% errors) and v2 (20% errors), split 50/50, about 120 requests/s."""
    with scraped_mesh(prometheus) as running:
        yield running
