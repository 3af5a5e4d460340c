"""Answers no verdict may be read from: a histogram cut short, samples that are not samples, infinite
counts, a timeout no socket takes. Each is one line or a HOLD naming the problem, never a traceback.
A stub stands in for Prometheus (canned JSON per query), so no server is needed."""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analysis import promql
from analysis.observations import ArmSample, MetricPair
from analysis.prometheus import PrometheusConfig, PrometheusConfigError, PrometheusSource
from analysis.sources import MetricsUnavailableError
from rollout.cli import app
from rollout.cli.prometheus_commands import canary_share
from tests.integration.prometheus.helpers import ERRORS, LATENCY, span
from tests.integration.prometheus.stub import Answer, Recorded, stub_server
from tests.integration.prometheus.test_analyze_command import EXPERIMENT

pytestmark = pytest.mark.timeout(60)
END = 1_700_000_000.0
SPAN = span(END - 30.0, END)


def _answer(result: Any, result_type: str = "vector") -> Answer:
    return Answer(
        body=json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}}).encode()
    )


def _series(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [END, value]}


def _query(request: Recorded) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query).get("query", [""])[0]


def _by_role(
    *, requests: str = "1000", errors: str = "5", buckets: list[dict[str, Any]] | None = None
) -> Callable[[Recorded], Answer]:
    """Answers the connection check, then each built-in Istio query by its role."""
    histogram = buckets or [_series("900", le="25"), _series("950", le="50"), _series("1000", le="+Inf")]

    def respond(request: Recorded) -> Answer:
        query = _query(request)
        if query == "vector(1)":
            return _answer([_series("1")])
        if "_bucket" in query:
            return _answer(histogram)
        return _answer([_series(errors if "5.." in query else requests)])

    return respond


def _analyze(tmp_path: Path, respond: Callable[[Recorded], Answer], *extra: str) -> tuple[int, str, str]:
    experiment = tmp_path / "past.yaml"
    experiment.write_text(EXPERIMENT)
    with stub_server(respond) as stub:
        result = CliRunner().invoke(
            app, ["analyze", str(experiment), "--prometheus", stub.url, "--from", "-10s", "--timeout", "2", *extra]
        )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_a_histogram_without_an_inf_bucket_is_not_judged() -> None:
    # Without +Inf, requests slower than 50 ms are in no count: a slow canary would look fast.
    cut = [_series("900", le="25"), _series("950", le="50")]
    with stub_server(_by_role(buckets=cut)) as stub, pytest.raises(MetricsUnavailableError) as caught:
        PrometheusSource(PrometheusConfig(stub.url)).collect(SPAN, [LATENCY])
    message = str(caught.value)
    assert "metric 'latency', buckets query for version 'v1'" in message
    assert 'no le="+Inf" bucket (largest le=50)' in message and "keep the +Inf bucket" in message


def test_a_histogram_without_an_inf_bucket_stops_analyze_with_one_line(tmp_path: Path) -> None:
    cut = [_series("900", le="25"), _series("950", le="50")]
    code, out, err = _analyze(tmp_path, _by_role(buckets=cut))
    assert code == 1 and "verdict" not in out
    assert err.startswith("meshroll: step 1: Prometheus at ") and 'no le="+Inf" bucket' in err and err.count("\n") == 1


@pytest.mark.parametrize(("role", "arm"), [("requests", "v1"), ("errors", "v1"), ("errors", "v2"), ("buckets", "v2")])
def test_nan_from_one_arm_leaves_the_metric_out_of_the_step_instead_of_reading_no_requests(role: str, arm: str) -> None:
    # increase() over a window with a NaN sample is NaN: no data for the metric, not an arm without traffic.
    healthy = _by_role()

    def respond(request: Recorded) -> Answer:
        query = _query(request)
        role_of = "buckets" if "_bucket" in query else "errors" if "5.." in query else "requests"
        if role_of == role and f'destination_version="{arm}"' in query:
            if role == "buckets":
                return _answer([_series("NaN", le="25"), _series("950", le="50"), _series("1000", le="+Inf")])
            return _answer([_series("NaN")])
        return healthy(request)

    with stub_server(respond) as stub:
        source = PrometheusSource(PrometheusConfig(stub.url))
        assert source.collect(SPAN, [ERRORS, LATENCY]).keys() == ({"latency"} if role != "buckets" else {"error-rate"})


@pytest.mark.parametrize(
    "element",
    [
        {"metric": {}, "value": [END]},  # a value without its timestamp
        {"metric": {}, "value": "5"},  # a bare value
        {"metric": {}, "value": None},
        {"metric": ["le", "25"], "value": [END, "5"]},  # labels that are not a label set
    ],
)
def test_a_sample_that_is_not_a_time_value_pair_is_a_shape_error(element: dict[str, Any]) -> None:
    with pytest.raises(promql.ResultShapeError):
        promql.cumulative_buckets([element])


@pytest.mark.parametrize("values", [[[END]], [["x", "1", "2"]], "1,2", [None]])
def test_a_range_result_whose_samples_are_not_pairs_is_a_shape_error(values: Any) -> None:
    with pytest.raises(promql.ResultShapeError):
        promql.matrix_values([{"metric": {}, "values": values}])


@pytest.mark.parametrize("le", [None, "NaN", "nan", "fast"])
def test_a_bucket_bound_that_is_not_a_number_is_a_shape_error(le: str | None) -> None:
    with pytest.raises(promql.ResultShapeError, match=rf"le={le!r} is not a bucket bound \(a number or \+Inf\)"):
        promql.cumulative_buckets([{"metric": {"le": le}, "value": [END, "1"]}])


def test_a_malformed_answer_is_one_line_from_analyze_not_a_traceback(tmp_path: Path) -> None:
    def respond(request: Recorded) -> Answer:
        if _query(request) == "vector(1)":
            return _answer([_series("1")])
        return _answer([{"metric": {}, "value": [END]}])

    code, _, err = _analyze(tmp_path, respond)
    assert code == 1
    assert "requests query for version 'v1'" in err and "is not a [time, value] sample" in err, err
    assert err.count("\n") == 1


def test_an_infinite_request_count_is_bad_data_of_its_metric_not_a_nan_canary_share(tmp_path: Path) -> None:
    code, out, _ = _analyze(tmp_path, _by_role(requests="+Inf"))
    assert code == 3, out
    assert "nan" not in out.lower().replace("inconclusive", "")
    assert "canary share 50.0%" in out and "error-rate: bad data in step 0: stable requests is inf" in out
    assert "latency (> 50 ms): HOLD; stable 0.05 canary 0.05" in out  # the other metric is still judged


def test_the_canary_share_skips_counts_that_are_not_a_share() -> None:
    def pair(stable: float, canary: float) -> MetricPair:
        return MetricPair(ArmSample(requests=stable), ArmSample(requests=canary))

    assert canary_share({"a": pair(math.inf, math.inf), "b": pair(300.0, 100.0)}) == 25.0
    assert canary_share({"a": pair(-100.0, 300.0), "b": pair(math.nan, 1.0)}) == 0.0
    assert canary_share({"a": pair(1.7e308, 1.7e308), "b": pair(300.0, 100.0)}) == 25.0  # their sum is inf


@pytest.mark.parametrize("timeout", [math.inf, 1e300, math.nan, 0.0, 86_400.5])
def test_a_timeout_no_socket_takes_is_refused_up_front(timeout: float) -> None:
    with pytest.raises(PrometheusConfigError, match=r"timeout must be > 0 s and at most 86400 s"):
        PrometheusConfig("http://127.0.0.1:9090", timeout=timeout)


def test_analyze_with_an_infinite_timeout_is_one_line(tmp_path: Path) -> None:
    code, _, err = _analyze(tmp_path, _by_role(), "--timeout", "inf")
    assert (
        code == 1
        and err == "meshroll: --prometheus: the Prometheus timeout must be > 0 s and at most 86400 s, got inf\n"
    )
