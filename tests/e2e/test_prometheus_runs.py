"""Whole runs on the embedded mesh judged from a real Prometheus (one server per test, scraping the
mesh every second): the erroring canary rolls back; Prometheus going away holds the weights and,
once the failure budget is spent, the outage policy decides; Prometheus coming back lets the run
go on to a decision."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.observations import MetricPair
from analysis.prometheus import PrometheusConfig, PrometheusSource
from analysis.sources import MetricQuery, StepSpan
from rollout.cli import app
from rollout.runner import RunResult, run_local
from rollout.spec.loader import load_experiment
from rollout.spec.models import Experiment
from rollout.status import HistoryEntry, Phase, Status
from tests.prometheus.fixture import PrometheusFactory, PrometheusServer, free_port

pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(120)]

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

RUN = """\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: prometheus-outage, namespace: demo}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh:
    provider: local
    loadRate: 200
    stable: {{medianLatency: 5ms, p99Latency: 20ms, errorRate: 0.002}}
    canary: {{medianLatency: 5ms, p99Latency: 20ms, errorRate: {canary_errors}}}
  strategy:
    canary: {{steps: [10, 20, 30, 40, 50], stepInterval: 3s}}
  analysis:
    engine: sequential
    minRequests: 500
    maxDuration: {max_duration}
    failureBudget: {budget}
    onNoData: rollback
    onInconclusive: rollback
    metrics:
      - {{name: error-rate, template: istio-error-rate, margin: 0.5, absoluteMargin: 0.01, critical: true}}
"""


def _prometheus_for_a_run(prometheus_factory: PrometheusFactory) -> tuple[PrometheusServer, int]:
    """A fresh Prometheus that already knows the (not yet listening) mesh metrics port."""
    port = free_port()
    server = prometheus_factory(targets=(f"127.0.0.1:{port}",))
    server.wait_for_target(f"127.0.0.1:{port}", up=False)  # discovery takes ~5 s: before the run, not in it
    return server, port


def _config(server: PrometheusServer) -> PrometheusConfig:
    return PrometheusConfig(server.url, timeout=2.0, retries=1, backoff=0.05)


def _experiment(tmp_path: Path, *, budget: int, max_duration: str, canary_errors: float) -> Experiment:
    path = tmp_path / "experiment.yaml"
    path.write_text(RUN.format(budget=budget, max_duration=max_duration, canary_errors=canary_errors))
    return load_experiment(path)


def _types(status: Status) -> list[str]:
    return [entry.event.type for entry in status.history]


def _unavailable(status: Status) -> list[HistoryEntry]:
    return [e for e in status.history if e.event.type == "metrics-unavailable"]


def _timed(run: Callable[[], RunResult]) -> tuple[RunResult, float]:
    began = time.monotonic()
    result = run()
    return result, time.monotonic() - began


def test_the_erroring_canary_demo_rolls_back_when_judged_from_prometheus(
    prometheus_factory: PrometheusFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server, port = _prometheus_for_a_run(prometheus_factory)
    sources: list[PrometheusSource] = []
    collects: list[float] = []

    class CountingSource(PrometheusSource):
        def __init__(self, config: PrometheusConfig) -> None:
            super().__init__(config)
            sources.append(self)

        def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
            collects.append(span.end - span.start)
            return super().collect(span, metrics)

    monkeypatch.setattr("rollout.runner.PrometheusSource", CountingSource)
    status_file = tmp_path / "status.json"
    args = ["run", str(EXPERIMENTS / "demo-erroring-canary.yaml"), "--seed", "1", "--no-report"]
    args += ["--prometheus", server.url, "--metrics-port", str(port), "--status-out", str(status_file)]
    began = time.monotonic()
    result = CliRunner().invoke(app, args)
    took = time.monotonic() - began

    assert result.exit_code == 2, result.output
    assert f"mesh metrics: http://127.0.0.1:{port}/metrics; judging from Prometheus at {server.url}" in result.stdout
    status = Status.model_validate_json(status_file.read_text())
    assert status.phase is Phase.ROLLED_BACK and status.traffic.canary_weight == 0
    decisive = [e.event for e in status.history if e.event.type == "judged"][-1]
    assert decisive.type == "judged" and decisive.outcome == "rollback"
    assert any(m.metric == "error-rate" and m.outcome == "rollback" for m in decisive.metrics)
    per_step = sources[0].queries_issued / len(collects)
    print(f"\nerroring canary via Prometheus: {took:.1f} s, {len(collects)} steps, {per_step:g} queries/step")
    assert per_step <= 6  # errors: requests + errors per arm; latency: buckets per arm (fewer when an arm is empty)


def test_prometheus_going_away_holds_the_weights_then_the_outage_policy_decides(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    server, port = _prometheus_for_a_run(prometheus_factory)
    experiment = _experiment(tmp_path, budget=2, max_duration="60s", canary_errors=0.002)  # a healthy canary

    def stop_after_first_judgement(status: Status) -> None:
        if server.running and "judged" in _types(status):
            server.stop()

    result, took = _timed(
        lambda: run_local(
            experiment, seed=2, prometheus=_config(server), metrics_port=port, on_change=stop_after_first_judgement
        )
    )

    status = result.status
    print(f"\noutage run: {took:.1f} s, events {_types(status)}")
    assert status.phase is Phase.ROLLED_BACK and result.exit_code == 2
    assert "failure budget of 2 is spent" in status.reason
    holds = _unavailable(status)
    assert len(holds) == 3  # two within the budget, the third spends it
    for entry in holds[:2]:
        assert "metrics unavailable" in entry.reason and "this says nothing about the canary" in entry.reason
        assert f"Prometheus at {server.url} refused the connection" in entry.reason
    # holding keeps the weights where the last judgement left them
    before = status.history[status.history.index(holds[0]) - 1].traffic.canary_weight
    assert [e.traffic.canary_weight for e in holds[:2]] == [before, before]


def test_prometheus_coming_back_lets_the_run_go_on_to_a_decision(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    server, port = _prometheus_for_a_run(prometheus_factory)
    # an erroring canary: once Prometheus is back, the data decide quickly (a rollback)
    experiment = _experiment(tmp_path, budget=8, max_duration="60s", canary_errors=0.06)
    restarted: list[float] = []

    def stop_then_restart(status: Status) -> None:
        if not restarted and server.running and status.history:  # right after the start: before any judgement
            server.stop()
        elif not restarted and len(_unavailable(status)) >= 2:
            restarted.append(time.monotonic())
            server.start()  # same port and TSDB; the target comes back after discovery (~5 s)

    result, took = _timed(
        lambda: run_local(
            experiment, seed=3, prometheus=_config(server), metrics_port=port, on_change=stop_then_restart
        )
    )

    status = result.status
    types = _types(status)
    print(f"\nrestart run: {took:.1f} s, events {types}")
    assert restarted, "Prometheus was never stopped and restarted"
    assert status.phase is Phase.ROLLED_BACK and "failure budget" not in status.reason
    assert "metrics-unavailable" in types and "judged" not in types[: types.index("metrics-unavailable")]
    last_outage = max(i for i, t in enumerate(types) if t == "metrics-unavailable")
    assert "judged" in types[last_outage + 1 :], "no judgement after Prometheus came back"
    assert status.history[-1].event.type in ("judged", "applied")  # the decision, then its traffic applied
