"""Built-in metric templates: what each one measures and (for Prometheus) the queries behind it.

The embedded mesh speaks Istio's metric names, so the Istio templates serve both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis.observations import MetricKind
from analysis.promql import PROVIDED_VARIABLES

TEMPLATE_VARIABLES = PROVIDED_VARIABLES
"""Variables a query template may use, as ``{{name}}``: those the Prometheus source fills in."""

_VARIABLE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")


@dataclass(frozen=True)
class Template:
    """A metric template: its kind and, per query role, a PromQL template evaluated per arm.

    Roles: ``requests`` and ``errors`` (ERRORS), ``buckets`` (LATENCY, grouped by ``le``),
    ``value`` (GAUGE). ``{{version}}`` is the arm's version.
    """

    name: str
    kind: MetricKind
    queries: dict[str, str] = field(default_factory=dict)
    description: str = ""
    unit: str = ""  # of a latency histogram's le (or a gauge's values), shown after its numbers
    error_statuses: tuple[int, int] | None = None  # the HTTP statuses (first, last) its errors query counts


def template_variables(query: str) -> set[str]:
    """The ``{{variables}}`` a query uses."""
    return set(_VARIABLE.findall(query))


def strip_variables(query: str) -> str:
    """``query`` without its ``{{variables}}``: any ``{{`` left is a variable written wrong."""
    return _VARIABLE.sub("", query)


def unknown_variables(query: str) -> list[str]:
    """Variables in ``query`` that meshroll does not provide, sorted."""
    return sorted(template_variables(query) - TEMPLATE_VARIABLES)


# destination_workload_namespace, not destination_service_namespace: both are in Istio's standard
# labels, and the embedded mesh exposes only the workload one (Flagger's Istio queries use it too).
# The Service: the one the run routes, or the arm's own (Gateway API and SMI send each version to a Service
# of its own, and a client's proxy labels a request with the Service it sent it to; a server's proxy picks
# one of the Services selecting its pod, so either may stand there); the version label keeps the arms apart.
_ISTIO_SELECTOR = (
    'reporter="{{reporter}}",destination_service_name=~"{{service}}|{{backend}}",'
    'destination_workload_namespace="{{namespace}}",destination_version="{{version}}"'
)
_LINKERD_SELECTOR = 'direction="inbound",namespace="{{namespace}}",deployment="{{service}}-{{version}}"'

NEW_SERIES_HORIZON = "1h"  # a series with no sample this long before a step is taken as born in it


def counted(series: str) -> str:
    """PromQL for each series' count over ``{{window}}``, counting a series born inside the window from zero.

    ``increase()`` reads a series from its first sample, so what that sample already holds is lost: a
    canary's counters come into being with its first requests, and a 5xx series with its first error,
    so a step lost them, always in the canary's favour (its series are the new ones), and with sparse
    errors a whole error per series. A series with no sample in the ``NEW_SERIES_HORIZON`` before the
    window is born in it: its count is its value now. The others are ``increase()`` as before.
    """
    born = f"({series} unless last_over_time({series}[{NEW_SERIES_HORIZON}] offset {{{{window}}}}))"
    return f"(increase({series}[{{{{window}}}}]) unless {born}) or {born}"


_ISTIO_REQUESTS = f"istio_requests_total{{{_ISTIO_SELECTOR}}}"
_ISTIO_ERRORS = f'istio_requests_total{{{_ISTIO_SELECTOR},response_code=~"5.."}}'
_ISTIO_BUCKETS = f"istio_request_duration_milliseconds_bucket{{{_ISTIO_SELECTOR}}}"
_LINKERD_RESPONSES = f"response_total{{{_LINKERD_SELECTOR}}}"
_LINKERD_FAILURES = f'response_total{{{_LINKERD_SELECTOR},classification="failure"}}'
_LINKERD_BUCKETS = f"response_latency_ms_bucket{{{_LINKERD_SELECTOR}}}"

SERVER_ERRORS = (500, 599)  # response_code=~"5..": a 4xx answer is the client's error, not the service's

BUILTIN_TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "istio-error-rate",
            MetricKind.ERRORS,
            {"requests": f"sum({counted(_ISTIO_REQUESTS)})", "errors": f"sum({counted(_ISTIO_ERRORS)})"},
            "5xx responses among requests (Istio's istio_requests_total; also the embedded mesh)",
            error_statuses=SERVER_ERRORS,
        ),
        Template(
            "istio-latency-histogram",
            MetricKind.LATENCY,
            {"buckets": f"sum by (le) ({counted(_ISTIO_BUCKETS)})"},
            "request duration histogram in ms (Istio's istio_request_duration_milliseconds)",
            "ms",
        ),
        Template(
            "linkerd-error-rate",
            MetricKind.ERRORS,
            {"requests": f"sum({counted(_LINKERD_RESPONSES)})", "errors": f"sum({counted(_LINKERD_FAILURES)})"},
            "failed responses among responses (Linkerd's response_total)",
            error_statuses=SERVER_ERRORS,  # Linkerd's default response classes: an HTTP 5xx is a failure
        ),
        Template(
            "linkerd-latency-histogram",
            MetricKind.LATENCY,
            {"buckets": f"sum by (le) ({counted(_LINKERD_BUCKETS)})"},
            "response latency histogram in ms (Linkerd's response_latency_ms)",
            "ms",
        ),
    )
}
