"""How PrometheusSource talks HTTP: credentials and headers sent, bounded retries, timeouts, one-line
errors. A stub HTTP server records the headers it receives (the stub is not Prometheus: it answers
canned JSON); the auth-proxy test puts the same kind of server in front of a real Prometheus."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from analysis.prometheus import PrometheusConfig, PrometheusConfigError, PrometheusSource
from analysis.sources import MetricsUnavailableError
from tests.integration.prometheus.helpers import ERRORS, span
from tests.integration.prometheus.stub import (
    Answer,
    Recorded,
    error,
    forward_to,
    self_signed_tls,
    stub_server,
    vector,
)
from tests.prometheus.fixture import PrometheusServer

pytestmark = pytest.mark.timeout(60)
END = 1_700_000_000.0
SPAN = span(END - 30.0, END)


def test_a_bearer_token_and_custom_headers_are_sent_with_every_query() -> None:
    with stub_server(lambda _: vector("5")) as stub:
        config = PrometheusConfig(stub.url, token="s3cret", headers=(("X-Scope-OrgID", "shop"),))
        pairs = PrometheusSource(config).collect(SPAN, [ERRORS])
    assert pairs["error-rate"].stable.requests == 5.0
    assert len(stub.requests) == 4
    for request in stub.requests:
        assert request.headers["Authorization"] == "Bearer s3cret"
        assert request.headers["X-Scope-OrgID"] == "shop"
        assert request.path.startswith("/api/v1/query?")
        assert f"time={END:.3f}" in request.path  # evaluated at the step's end


def test_basic_auth_is_sent() -> None:
    with stub_server(lambda _: vector()) as stub:
        PrometheusSource(PrometheusConfig(stub.url, username="ops", password="pw")).check()
    expected = "Basic " + base64.b64encode(b"ops:pw").decode()
    assert stub.requests[0].headers["Authorization"] == expected


def test_secrets_stay_out_of_repr_and_messages() -> None:
    config = PrometheusConfig("http://user:hunter2@127.0.0.1:1/", token="tok-123", headers=(("X-Key", "k-456"),))
    assert "hunter2" not in repr(config) and "tok-123" not in repr(config) and "k-456" not in repr(config)
    assert config.display_url == "http://127.0.0.1:1"
    assert repr(config) == (
        "PrometheusConfig(url='http://127.0.0.1:1', auth=bearer, headers=['X-Key'], tls=default, timeout=10, retries=2)"
    )
    with pytest.raises(MetricsUnavailableError) as caught:
        PrometheusSource(PrometheusConfig(config.url, retries=0)).check()
    assert "hunter2" not in str(caught.value) and str(caught.value).startswith("Prometheus at http://127.0.0.1:1 ")


@pytest.mark.prometheus
def test_an_auth_proxy_in_front_of_prometheus_lets_the_token_through(prometheus: PrometheusServer) -> None:
    with stub_server(forward_to(prometheus.url, token="t0k")) as proxy:
        PrometheusSource(PrometheusConfig(proxy.url, token="t0k")).check()
        end = time.time() - 2.0  # a settled past span: through the proxy, the same numbers as directly
        through_proxy = PrometheusSource(PrometheusConfig(proxy.url, token="t0k")).collect(span(end - 5, end), [ERRORS])
        assert through_proxy == PrometheusSource(PrometheusConfig(prometheus.url)).collect(span(end - 5, end), [ERRORS])
        with pytest.raises(MetricsUnavailableError) as caught:
            PrometheusSource(PrometheusConfig(proxy.url, token="wrong")).check()
    assert str(caught.value) == (
        f"Prometheus at {proxy.url} rejected the credentials (HTTP 401): check the bearer token or user and password"
    )
    assert len([r for r in proxy.requests if r.headers.get("Authorization") == "Bearer wrong"]) == 1  # no retry


def test_5xx_is_retried_a_bounded_number_of_times_then_reported() -> None:
    with stub_server(lambda _: error(503, "unavailable", "too many queries")) as stub:
        source = PrometheusSource(PrometheusConfig(stub.url, retries=2, backoff=0.01))
        with pytest.raises(MetricsUnavailableError) as caught:
            source.collect(SPAN, [ERRORS])
    assert len(stub.requests) == 3
    assert str(caught.value) == (
        f"Prometheus at {stub.url} failed the metric 'error-rate', requests query for version 'v1' with HTTP 503 "
        "(unavailable: too many queries) on 3 attempt(s); is it overloaded?"
    )


def test_one_5xx_then_success_is_recovered_by_a_retry() -> None:
    def flaky(request: Recorded) -> Answer:
        return error(502, "bad_gateway", "upstream") if len(stub.requests) == 1 else vector("2")

    with stub_server(flaky) as stub:
        pairs = PrometheusSource(PrometheusConfig(stub.url, retries=2, backoff=0.01)).collect(SPAN, [ERRORS])
    assert pairs["error-rate"].stable.requests == 2.0
    assert len(stub.requests) == 5  # 1 failed + 4 queries


def test_a_query_error_is_not_retried() -> None:
    with (
        stub_server(lambda _: error(422, "execution", "many-to-many matching not allowed")) as stub,
        pytest.raises(MetricsUnavailableError, match=r"rejected .* \(HTTP 422: execution: many-to-many"),
    ):
        PrometheusSource(PrometheusConfig(stub.url, retries=2)).collect(SPAN, [ERRORS])
    assert len(stub.requests) == 1


def test_a_slow_prometheus_times_out_after_bounded_retries() -> None:
    with stub_server(lambda _: Answer(body=vector().body, delay_s=1.0)) as stub:
        source = PrometheusSource(PrometheusConfig(stub.url, timeout=0.2, retries=1, backoff=0.01))
        with pytest.raises(MetricsUnavailableError) as caught:
            source.check()
    assert str(caught.value) == (
        f"Prometheus at {stub.url} did not answer the connection check within 0.2 s on each of 2 attempt(s); "
        "is it overloaded?"
    )
    # The message names the timeout, which only a timed-out attempt gives: the client gave up on each
    # 1 s answer, twice, and did not wait it out.
    assert len(stub.requests) == 2


def test_an_answer_that_is_not_the_query_api_says_so() -> None:
    with (
        stub_server(lambda _: Answer(body=b"<html>Grafana</html>", content_type="text/html")) as stub,
        pytest.raises(MetricsUnavailableError, match="not Prometheus's query API: is the URL right"),
    ):
        PrometheusSource(PrometheusConfig(stub.url)).check()


def test_unknown_host_and_bad_urls() -> None:
    with pytest.raises(MetricsUnavailableError, match=r"host name 'no-such-host\.invalid' does not resolve"):
        PrometheusSource(PrometheusConfig("http://no-such-host.invalid:9090", retries=0)).check()
    for bad in ("localhost:9090", "ftp://x", "http://", "http://x:99999", "http://x/?q=1"):
        with pytest.raises(PrometheusConfigError):
            PrometheusConfig(bad)
    with pytest.raises(PrometheusConfigError, match="not both"):
        PrometheusConfig("http://x", token="a", username="u", password="p")


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_https_with_a_ca_bundle_or_insecure_and_a_clear_error_without(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    tls, ca_file = self_signed_tls(tmp_path)
    with stub_server(lambda _: vector(), tls=tls) as stub:
        assert stub.url.startswith("https://")
        PrometheusSource(PrometheusConfig(stub.url, ca_file=str(ca_file))).check()
        PrometheusSource(PrometheusConfig(stub.url, insecure=True)).check()
        with pytest.raises(MetricsUnavailableError) as caught:
            PrometheusSource(PrometheusConfig(stub.url, retries=0)).check()
    assert str(caught.value).startswith(f"Prometheus at {stub.url} failed TLS verification (")
    assert str(caught.value).endswith(
        "give its CA bundle (--prometheus-ca-file) or, for a test server only, --prometheus-insecure"
    )
