"""``meshroll analyze``: past data from a real Prometheus judged step by step; bad input in one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollout.cli import app
from rollout.cli.prometheus_commands import TimeError, parse_time
from rollout.localmesh import LocalMeshThread
from tests.integration.prometheus.helpers import NAMESPACE, SERVICE
from tests.prometheus.fixture import PrometheusServer, free_port

pytestmark = pytest.mark.timeout(120)

EXPERIMENT = f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: past-canary, namespace: {NAMESPACE}}}
spec:
  target: {{service: {SERVICE}, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {{provider: istio, virtualService: {SERVICE}}}
  strategy:
    canary: {{steps: [10, 50], stepInterval: 5s}}
  analysis:
    engine: sequential
    minRequests: 100
    metrics:
      - {{name: error-rate, template: istio-error-rate, margin: 0.2, critical: true}}
      - {{name: latency, template: istio-latency-histogram, margin: 0.2, latencyEdges: [25, 50]}}
"""


@pytest.fixture
def experiment_file(tmp_path: Path) -> Path:
    path = tmp_path / "past-canary.yaml"
    path.write_text(EXPERIMENT)
    return path


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyze", *args])
    return result.exit_code, result.stdout, result.stderr


def test_times_in_every_accepted_form() -> None:
    now = 1_800_000_000.0
    assert parse_time("now", now) == now
    assert parse_time("-30m", now) == now - 1800
    assert parse_time("now-1h30m", now) == now - 5400
    assert parse_time("1793700000", now) == 1793700000.0
    assert parse_time("1793700000.5", now) == 1793700000.5
    assert parse_time("2026-11-03T10:00:00Z", now) == parse_time("2026-11-03T11:00:00+01:00", now)
    for bad in ("yesterday", "2026-11-03T10:00:00", "-3 parsecs", ""):
        with pytest.raises(TimeError):
            parse_time(bad, now)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus", "localhost:9090", "--from", "-5m"], "is not a Prometheus URL; write it like http://"),
        (["--prometheus", "http://127.0.0.1:9", "--from", "tuesday"], "--from/--to: 'tuesday' is not a time"),
        (["--prometheus", "http://127.0.0.1:9", "--from", "-5m", "--to", "-10m"], "must come after --from"),
        (["--prometheus", "http://127.0.0.1:9", "--from", "-2s"], "shorter than one step (5s)"),
        (["--prometheus", "http://127.0.0.1:9", "--from", "-5m", "--step", "soon"], "--step: 'soon' is not a duration"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(experiment_file: Path, args: list[str], message: str) -> None:
    code, _, err = _invoke(str(experiment_file), *args)
    assert code == 1
    assert err.startswith("meshroll: ") and message in err and err.count("\n") == 1, err


def test_an_unreachable_prometheus_is_one_line_and_exit_1(experiment_file: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = _invoke(str(experiment_file), "--prometheus", url, "--from", "-5m")
    assert code == 1
    assert (
        err
        == f"meshroll: Prometheus at {url} refused the connection (3 attempt(s)): is it running and listening there?\n"
    )


@pytest.mark.prometheus
def test_past_data_of_an_erroring_canary_would_have_been_rolled_back(
    mesh: LocalMeshThread, prometheus: PrometheusServer, experiment_file: Path
) -> None:
    time.sleep(10.0)  # at least two steps of 5 s with data behind us
    code, out, err = _invoke(str(experiment_file), "--prometheus", prometheus.url, "--from", "-12s", "--to", "now")
    assert code == 2, out + err
    assert "analyze shop/past-canary: checkout v1 vs v2 in shop, engine sequential, 2 steps of 5s" in out
    assert "step 1/2" in out and "canary share" in out and "- error-rate: " in out
    assert "verdict: would have been ROLLED BACK at step" in out


@pytest.mark.prometheus
def test_a_span_with_no_data_says_what_to_check(prometheus: PrometheusServer, experiment_file: Path) -> None:
    code, out, err = _invoke(str(experiment_file), "--prometheus", prometheus.url, "--from", "-3h", "--to", "-2h59m")
    assert code == 1
    assert "step 1/12" in out and "no data" in out
    assert err.startswith("meshroll: Prometheus has no data for checkout (v1, v2) in shop between ")
