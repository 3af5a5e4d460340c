"""The built-in templates' PromQL, rendered as PrometheusSource renders it, checked by ``promtool test
rules`` on synthetic series (no server): what each query selects, that ``increase()`` over
``{{window}}`` evaluated at the step's end counts exactly the step, that a counter reset inside the
step is handled as Prometheus handles it, and that a hostile service name selects nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from analysis import promql
from analysis.templates import BUILTIN_TEMPLATES
from tests.prometheus.fixture import promtool_for

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(60)]

# Samples every 15 s from t=0; the step is [60 s, 120 s], so the window is 60 s, evaluated at 120 s.
START, END = 60.0, 120.0
ISTIO = (
    'reporter="{r}",destination_service_name="checkout",destination_workload_namespace="{ns}",destination_version="{v}"'
)
LINKERD = 'direction="inbound",namespace="shop",deployment="checkout-{v}"'


def _istio(v: str, *, r: str = "destination", ns: str = "shop") -> str:
    return ISTIO.format(r=r, ns=ns, v=v)


def _series() -> list[dict[str, str]]:
    series = [
        # stable: 10 requests and 1 error per 15 s
        (f'istio_requests_total{{{_istio("v1")},response_code="200"}}', "0+9x8"),
        (f'istio_requests_total{{{_istio("v1")},response_code="503"}}', "0+1x8"),
        # canary: its 500 counter resets inside the step (12, 15, reset, 3, 6: 9 more errors)
        (f'istio_requests_total{{{_istio("v2")},response_code="200"}}', "0+7x8"),
        (f'istio_requests_total{{{_istio("v2")},response_code="500"}}', "0+3x5 0+3x2"),
        # what the templates must not count: the source reporter, another namespace
        (f'istio_requests_total{{{_istio("v1", r="source")},response_code="200"}}', "0+100x8"),
        (f'istio_requests_total{{{_istio("v1", ns="other")},response_code="200"}}', "0+100x8"),
        # stable's latency histogram, le written as the embedded mesh writes it
        (f'istio_request_duration_milliseconds_bucket{{{_istio("v1")},response_code="200",le="25.0"}}', "0+6x8"),
        (f'istio_request_duration_milliseconds_bucket{{{_istio("v1")},response_code="200",le="50.0"}}', "0+9x8"),
        (f'istio_request_duration_milliseconds_bucket{{{_istio("v1")},response_code="200",le="+Inf"}}', "0+10x8"),
        # Linkerd
        (f'response_total{{{LINKERD.format(v="v1")},classification="success"}}', "0+19x8"),
        (f'response_total{{{LINKERD.format(v="v1")},classification="failure"}}', "0+1x8"),
        (f'response_latency_ms_bucket{{{LINKERD.format(v="v1")},le="10"}}', "0+4x8"),
        (f'response_latency_ms_bucket{{{LINKERD.format(v="v1")},le="+Inf"}}', "0+5x8"),
    ]
    return [{"series": name, "values": values} for name, values in series]


def _query(template: str, role: str, version: str, service: str = "checkout") -> str:
    values = promql.arm_values(
        service=service, namespace="shop", version=version, stable="v1", canary="v2", start=START, end=END, resolution=1
    )
    return promql.render(BUILTIN_TEMPLATES[template].queries[role], values)


def _expect(expr: str, samples: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "expr": f"round({expr}, 0.001)",
        "eval_time": f"{END:g}s",
        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
    }


def _cases() -> list[dict[str, Any]]:
    return [
        _expect(_query("istio-error-rate", "requests", "v1"), [("{}", 40)]),
        _expect(_query("istio-error-rate", "errors", "v1"), [("{}", 4)]),
        _expect(_query("istio-error-rate", "requests", "v2"), [("{}", 37)]),
        _expect(_query("istio-error-rate", "errors", "v2"), [("{}", 9)]),
        _expect(
            _query("istio-latency-histogram", "buckets", "v1"),
            [('{le="25.0"}', 24), ('{le="50.0"}', 36), ('{le="+Inf"}', 40)],
        ),
        _expect(_query("istio-error-rate", "requests", "v3"), []),  # an unknown version: no data, not 0
        _expect(_query("istio-error-rate", "requests", "v1", service='checkout"} or vector(1) #'), []),
        _expect(_query("linkerd-error-rate", "requests", "v1"), [("{}", 80)]),
        _expect(_query("linkerd-error-rate", "errors", "v1"), [("{}", 4)]),
        _expect(_query("linkerd-latency-histogram", "buckets", "v1"), [('{le="10"}', 16), ('{le="+Inf"}', 20)]),
    ]


@pytest.fixture(scope="module")
def promtool(prometheus_binary: Path) -> Path:
    found = promtool_for(prometheus_binary)
    if found is None:
        pytest.skip("promtool not found next to prometheus: run `bash tests/prometheus/install.sh`")
    return found


def test_builtin_templates_select_and_count_what_they_should(promtool: Path, tmp_path: Path) -> None:
    suite = {
        "rule_files": [],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": _series(), "promql_expr_test": _cases()}],
    }
    path = tmp_path / "templates_test.yml"
    path.write_text(json.dumps(suite, indent=2))  # YAML is a superset of JSON
    run = subprocess.run([str(promtool), "test", "rules", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr
