"""``web``: an example meshroll metric-source plugin (docs/plugins.md).

It reads each version's counts over a step from an HTTP endpoint of your own, as JSON: a bridge to a
backend meshroll has no source for (a Datadog or New Relic query behind a small service, a team's own
stats API). The endpoint is ``$MESHROLL_WEB_SOURCE_URL``; for each metric and version of a step it is
asked

    GET $MESHROLL_WEB_SOURCE_URL?metric=NAME&template=TEMPLATE&service=S&namespace=N&version=V&start=T0&end=T1

(``start`` and ``end`` in seconds since the epoch) and answers what that version served in the span:

    {"requests": 1200, "errors": 3}                                    # an error metric
    {"requests": 1200, "buckets": [[100, 900], [250, 1150], ["+Inf", 1200]]}   # a latency histogram
    {"gauges": [0.41, 0.43]}                                           # a gauge

Each field shown is required for its kind; a field left out, or a value that is not a JSON number, is
an error (never read as 0). ``buckets`` are cumulative counts per upper edge, as Prometheus histograms
give them, the edges in the template's unit (milliseconds for ``istio-latency-histogram``). A metric whose
two versions served no requests (and have no gauge samples) is left out of the step, which a run
counts as no data. A refused connection, a timeout, a status other than 200 or an answer that is not
such JSON raises ``MetricsUnavailableError``: the run holds its weights and says the source failed.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from analysis.observations import ArmSample, MetricPair
from analysis.sources import MetricQuery, MetricsUnavailableError, StepSpan

URL_ENV = "MESHROLL_WEB_SOURCE_URL"
TIMEOUT_ENV = "MESHROLL_WEB_SOURCE_TIMEOUT"  # seconds per request; 10 by default


class WebSource:
    def __init__(self) -> None:
        self.url = os.environ.get(URL_ENV, "")
        self.timeout = float(os.environ.get(TIMEOUT_ENV) or 10)

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        if not self.url:
            raise MetricsUnavailableError(f"${URL_ENV} is not set; set it to the base URL of your counts endpoint")
        pairs: dict[str, MetricPair] = {}
        for metric in metrics:
            stable = self._sample(metric, span, span.stable_version)
            canary = self._sample(metric, span, span.canary_version)
            if stable.requests or canary.requests or stable.gauges or canary.gauges:
                pairs[metric.name] = MetricPair(stable, canary)
        return pairs

    def _sample(self, metric: MetricQuery, span: StepSpan, version: str) -> ArmSample:
        query = urllib.parse.urlencode(
            {
                "metric": metric.name,
                "template": metric.template,
                "service": span.service,
                "namespace": span.namespace,
                "version": version,
                "start": f"{span.start:.3f}",
                "end": f"{span.end:.3f}",
            }
        )
        url = f"{self.url}{'&' if '?' in self.url else '?'}{query}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise MetricsUnavailableError(f"{self.url} answered {exc.code} for {metric.name} of {version}") from None
        except (OSError, ValueError) as exc:  # refused, timed out, not JSON
            why = f"{self.url} could not be read for {metric.name} of {version}: {getattr(exc, 'reason', exc)}"
            raise MetricsUnavailableError(why) from None
        return _arm(body, f"{metric.name} of {version}", metric.kind.value)


NEEDED = {"errors": ("requests", "errors"), "latency": ("requests", "buckets"), "gauge": ("gauges",)}


def _arm(body: Any, what: str, kind: str) -> ArmSample:
    """The answer as an ArmSample; MetricsUnavailableError naming what is missing or not a number (a field
    left out is never read as 0: a misnamed "errors" would pass a failing canary)."""
    if not isinstance(body, dict):
        raise MetricsUnavailableError(f"the answer for {what} is not a JSON object")
    missing = [field for field in NEEDED[kind] if field not in body]
    if missing:
        raise MetricsUnavailableError(f"the answer for {what} has no {' or '.join(map(repr, missing))}")
    try:
        buckets = body.get("buckets", [])
        if not isinstance(buckets, list) or not all(isinstance(b, list) and len(b) == 2 for b in buckets):
            raise ValueError("buckets")
        return ArmSample(
            requests=_number(body.get("requests", 0)),
            errors=_number(body.get("errors", 0)),
            buckets=tuple((_edge(le), _number(count)) for le, count in buckets),
            gauges=tuple(_number(v) for v in _listed(body.get("gauges", []))),
        )
    except (TypeError, ValueError, OverflowError):
        raise MetricsUnavailableError(
            f"the answer for {what} is not in the expected shape: numbers for requests and errors, "
            '[[le, count], ...] for buckets (le in the template\'s unit, "+Inf" last), a list for gauges'
        ) from None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    return float(value)  # OverflowError for a number no float holds


def _listed(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(value)
    return value


def _edge(le: Any) -> float:
    return math.inf if le in ("+Inf", "Inf", "inf") else _number(le)
