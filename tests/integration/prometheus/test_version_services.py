"""On Gateway API each version has a Service of its own, and Istio labels a request with the Service it was sent
to: the built-in templates must find each arm there, not under spec.target.service, which carries neither.

A real Prometheus scrapes an exporter that serves Istio's request counter as a client's proxy would for a
payments HTTPRoute splitting between payments-v1 and payments-v2 (the embedded mesh labels every request with
the one Service it serves, so it cannot show this), and the Prometheus source reads the step the way a run
does, its names from ``step_span`` of the shipped Gateway API example.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from analysis.prometheus import PrometheusConfig, PrometheusSource
from rollout.judging import step_span
from rollout.spec.loader import load_experiment
from tests.integration.prometheus.helpers import ERRORS
from tests.prometheus.fixture import PrometheusServer

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]
EXAMPLE = Path(__file__).resolve().parents[3] / "experiments" / "mirror-gateway-api.yaml"
RATES = {"v1": (40.0, 0.0), "v2": (10.0, 2.0)}  # requests/s and 5xx/s per version


class VersionServices(BaseHTTPRequestHandler):
    began = time.time()

    def do_GET(self) -> None:  # http.server calls it by this name
        elapsed = time.time() - self.began
        lines = ["# TYPE istio_requests_total counter"]
        for version, (rate, errors) in RATES.items():
            labels = (
                f'reporter="source",destination_service_name="payments-{version}",'
                f'destination_workload_namespace="payments",destination_version="{version}"'
            )
            lines.append(f'istio_requests_total{{{labels},response_code="200"}} {(rate - errors) * elapsed:.0f}')
            lines.append(f'istio_requests_total{{{labels},response_code="503"}} {errors * elapsed:.0f}')
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def exporter(prometheus: PrometheusServer) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), VersionServices)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    prometheus.add_target(address)
    try:
        prometheus.wait_for_target(address, timeout=30)
        yield address
    finally:
        prometheus.remove_target(address)
        server.shutdown()


def test_each_arm_is_read_from_the_service_its_version_is_sent_to(prometheus: PrometheusServer, exporter: str) -> None:
    experiment = load_experiment(EXAMPLE)
    assert experiment.spec.target.service == "payments"  # the HTTPRoute's parent, which no request is sent to
    start = time.time()
    time.sleep(6.0)
    span = step_span(experiment, start, time.time(), reporter="source")
    prometheus.wait_until(lambda: bool(prometheus.query(f"istio_requests_total @ {span.end:.3f}")), "the step scraped")

    source = PrometheusSource(PrometheusConfig(prometheus.url, timeout=5.0))
    try:
        pair = source.collect(span, [ERRORS])["error-rate"]
    finally:
        source.close()

    # v1 serves 40 req/s without errors, v2 10 req/s with 20% errors, each under its own Service's name
    assert pair.stable.requests > 3 * pair.canary.requests > 0
    assert pair.stable.errors == 0 and pair.canary.errors == pytest.approx(0.2 * pair.canary.requests, rel=0.3)
