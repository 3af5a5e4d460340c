"""The example metric-source plugin (examples/source-plugin, source ``web``) over real HTTP: a run reads
each version's counts from a counts endpoint served here, promotes a healthy canary, rolls back an
erroring one, holds while the endpoint is down, and ``meshroll analyze`` replays past data through it
with no Prometheus at all."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from analysis.metric_sources import plugin_source
from analysis.sequential import SequentialJudge
from rollout.sources import MetricSource
from rollout.spec import load_experiment_text
from rollout.status import Phase
from tests.unit.orchestrator.doubles import RecordingProvider, drive
from tests.unit.plugins.helpers import experiment, install_web
from tests.unit.plugins.test_cli import meshroll


class Counts:
    """A counts endpoint: 2,000 requests a second split by ``weight()`` (percent to the canary); 1% of
    stable's fail and ``canary_errors`` of the canary's. ``down`` answers 503."""

    def __init__(self) -> None:
        self.weight: Callable[[], float] = lambda: 10.0
        self.canary_errors = 0.01
        self.down = False
        self.errors_field = "errors"
        self.rate = 2000.0
        self.asked: list[dict[str, str]] = []
        counts = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                counts.asked.append(query)
                if counts.down:
                    self.send_error(503)
                    return
                body = json.dumps(counts.answer(query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/counts"

    def answer(self, query: dict[str, str]) -> dict[str, float]:
        seconds = float(query["end"]) - float(query["start"])
        share = self.weight() / 100 if query["version"] == "v2" else 1 - self.weight() / 100
        requests = self.rate * seconds * share
        rate = self.canary_errors if query["version"] == "v2" else 0.01
        return {"requests": requests, self.errors_field: round(requests * rate)}


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    monkeypatch.syspath_prepend(str(install_web(tmp_path / "site")))
    served = Counts()
    monkeypatch.setenv("MESHROLL_WEB_SOURCE_URL", served.url)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def following(counts: Counts) -> Callable[[RecordingProvider], MetricSource]:
    """The web source, its endpoint splitting traffic by the weight the run gave the mesh."""

    def make(provider: RecordingProvider) -> MetricSource:
        counts.weight = lambda: float(provider.plans[-1].canary_weight if provider.plans else 0)
        return plugin_source("web")

    return make


def test_a_healthy_canary_read_over_http_is_promoted(counts: Counts) -> None:
    run, provider = drive(
        load_experiment_text(experiment("sequential", "web")), following(counts), SequentialJudge(), 12
    )
    assert run.status.phase is Phase.SUCCEEDED, run.status.reason
    assert [plan.canary_weight for plan in provider.plans][:2] == [10, 50]
    first = counts.asked[0]
    assert {k: first[k] for k in ("metric", "template", "service", "namespace", "version")} == {
        "metric": "errors",
        "template": "istio-error-rate",
        "service": "checkout",
        "namespace": "demo",
        "version": "v1",
    }


def test_an_erroring_canary_read_over_http_is_rolled_back_with_its_numbers(counts: Counts) -> None:
    counts.canary_errors = 0.03
    run, _ = drive(load_experiment_text(experiment("sequential", "web")), following(counts), SequentialJudge(), 12)
    assert run.status.phase is Phase.ROLLED_BACK, run.status.reason
    assert "errors" in run.status.reason


def test_an_endpoint_that_is_down_holds_the_weights_and_says_the_source_failed(counts: Counts) -> None:
    counts.down = True
    run, provider = drive(
        load_experiment_text(experiment("sequential", "web")), following(counts), SequentialJudge(), 3
    )
    assert [plan.canary_weight for plan in provider.plans] == [10]
    assert run.status.phase is Phase.PROGRESSING
    assert run.status.reason.startswith(
        f"holding weights: metrics unavailable (metric source plugin 'web' cannot read: {counts.url} answered 503 "
        "for errors of v1; fix its backend or the plugin); this says nothing about the canary"
    )


def test_a_misnamed_field_is_a_source_failure_not_zero_errors(counts: Counts) -> None:
    """A field read as 0 when it is missing would promote a canary failing 30% of its requests."""
    counts.canary_errors, counts.errors_field = 0.3, "error_count"
    run, provider = drive(
        load_experiment_text(experiment("sequential", "web")), following(counts), SequentialJudge(), 3
    )
    assert [plan.canary_weight for plan in provider.plans] == [10] and run.status.phase is Phase.PROGRESSING
    assert "metric source plugin 'web' cannot read: the answer for errors of v1 has no 'errors'" in run.status.reason


def test_analyze_replays_past_data_through_the_plugin_without_prometheus(counts: Counts, tmp_path: Path) -> None:
    counts.canary_errors = 0.03
    path = tmp_path / "shop.yaml"
    path.write_text(experiment("sequential", "web"))
    site = tmp_path / "site"
    start = time.time() - 900
    result = meshroll(site, "analyze", str(path), "--from", f"{start:.0f}", "--to", f"{start + 600:.0f}")
    assert result.returncode == 2, result.stdout + result.stderr  # 2: it would have been rolled back
    assert "ROLLBACK" in result.stdout and "Traceback" not in result.stderr
    assert {q["version"] for q in counts.asked} == {"v1", "v2"}


def test_analyze_says_the_plugin_has_no_data_not_prometheus(counts: Counts, tmp_path: Path) -> None:
    counts.rate = 0.0
    path = tmp_path / "shop.yaml"
    path.write_text(experiment("sequential", "web"))
    result = meshroll(tmp_path / "site", "analyze", str(path), "--from", "-10m")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("meshroll: the metric source 'web' has no data for checkout (v1, v2) in demo")
    assert result.stderr.rstrip().endswith("check the span, the names and that its backend holds them")
