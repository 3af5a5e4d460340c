"""/metrics, /healthz and /readyz; the controller's metrics in a registry of the test's own."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from rollout.errors import RolloutError
from rollout.events import Judged, NoData, Start
from rollout.kube.server import HealthServer, parse_listen
from rollout.kube.telemetry import Telemetry
from rollout.status import HistoryEntry, Phase, Traffic


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def entry(event: object) -> HistoryEntry:
    return HistoryEntry(
        time=1.0,
        event=event,
        from_phase=Phase.PROGRESSING,
        to_phase=Phase.PROGRESSING,
        step=0,
        traffic=Traffic(),
        reason="",
    )  # type: ignore[arg-type]


def test_metrics_health_and_readiness() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry(registry)
    telemetry.set_experiment("shop", "checkout-v2", "Progressing", 25)
    telemetry.set_experiment("shop", "old", "Succeeded", 100)
    telemetry.decision(entry(Judged(outcome="advance", engine="s", reason="")))
    telemetry.decision(entry(NoData(reason="")))
    telemetry.decision(entry(Start()))
    telemetry.reconcile.observe(0.02)
    telemetry.set_leader(True)
    failing: list[str] = []
    server = HealthServer(("127.0.0.1", 0), registry, healthy=lambda: [], ready=lambda: list(failing)).start()
    try:
        code, text = get(server.port, "/metrics")
        assert code == 200
        assert 'meshroll_experiments{phase="Progressing"} 1.0' in text
        assert 'meshroll_experiments{phase="Succeeded"} 1.0' in text
        assert 'meshroll_experiments{phase="RolledBack"} 0.0' in text
        assert 'meshroll_experiment_canary_weight{name="checkout-v2",namespace="shop"} 25.0' in text
        assert 'meshroll_decisions_total{outcome="advance"} 1.0' in text
        assert 'meshroll_decisions_total{outcome="no-data"} 1.0' in text
        assert "meshroll_reconcile_duration_seconds_count 1.0" in text
        assert "meshroll_leader 1.0" in text
        assert get(server.port, "/healthz") == (200, "ok\n")
        assert get(server.port, "/readyz") == (200, "ok\n")
        failing.append("watch-all")
        assert get(server.port, "/readyz") == (503, "failing: watch-all\n")
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen(":9090") == ("0.0.0.0", 9090)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("8080", "host:port", "h:70000"):
        with pytest.raises(RolloutError, match="HOST:PORT"):
            parse_listen(bad)


def test_a_port_in_use_is_one_clear_error() -> None:
    first = HealthServer(("127.0.0.1", 0), CollectorRegistry(), healthy=list, ready=list)
    try:
        with pytest.raises(RolloutError, match="pick another --listen port"):
            HealthServer(("127.0.0.1", first.port), CollectorRegistry(), healthy=list, ready=list)
    finally:
        first.stop()
