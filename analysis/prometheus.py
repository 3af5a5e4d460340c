"""The Prometheus metric source: the only module that talks to Prometheus.

Per step and per arm it evaluates each metric's PromQL (a built-in template or the experiment's
own) as an instant query at the step's end, so ``increase(x[{{window}}])`` covers exactly the
step; gauges are read with a range query over the step. Counter resets inside a step are
handled the way Prometheus's ``increase()`` handles them (a drop is read as a reset and the
counting restarts from zero), because the templates ask Prometheus for ``increase()``; its
extrapolation to the window's edges is kept as is. Whatever comes back is passed on
unchanged, also negative or non-monotone numbers: the engines hold on those and say why.

No data (an empty vector, NaN) leaves the metric out of the result; Prometheus unreachable,
refusing, timing out, answering 5xx or rejecting a query, an answer of the wrong shape, and a
histogram without its ``+Inf`` bucket (slow requests would be in no count) raise
``MetricsUnavailableError`` with a one-line reason that names Prometheus's URL and the cause
(``prometheus_failures`` words it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from analysis import promql
from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.prometheus_failures import unavailable_reason
from analysis.sources import MetricQuery, MetricsUnavailableError, StepSpan, arms_of
from analysis.templates import BUILTIN_TEMPLATES

ROLES: dict[MetricKind, tuple[str, ...]] = {
    MetricKind.ERRORS: ("requests", "errors"),
    MetricKind.LATENCY: ("buckets",),
    MetricKind.GAUGE: ("value",),
}
RETRY_STATUSES = (500, 502, 503, 504)
MAX_TIMEOUT_S = 86400.0  # a day: longer is a typo, and a socket refuses inf

_Query = Callable[[str], tuple[str, str]]  # role -> (rendered PromQL, where it comes from, for messages)


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an HTTP token (RFC 9110)


class _NaNSample(Exception):
    """An arm's query answered NaN: no data for the whole metric in this step, not "no requests"."""


class PrometheusConfigError(ValueError):
    """A Prometheus connection setting is invalid (bad URL, conflicting auth)."""


@dataclass(frozen=True, repr=False)
class PrometheusConfig:
    """Where Prometheus is and how to talk to it. Secrets never appear in ``repr`` or messages."""

    url: str
    token: str | None = None  # sent as "Authorization: Bearer <token>"
    username: str | None = None  # basic auth, with password
    password: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("X-Scope-OrgID", "shop"),)
    ca_file: str | None = None  # a CA bundle for https
    insecure: bool = False  # skip TLS verification (test servers only)
    timeout: float = 10.0  # seconds per HTTP request
    retries: int = 2  # extra attempts on connection errors, timeouts and 5xx
    backoff: float = 0.25  # seconds; doubles per retry

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
        except ValueError as exc:  # an unclosed [IPv6] host
            raise PrometheusConfigError(
                f"{self.display_url!r} is not a Prometheus URL ({exc}); write it like http://prometheus.monitoring:9090"
            ) from None
        for name, value in self.headers:
            if not _HEADER_NAME.fullmatch(name) or any(c in value for c in "\r\n\0"):
                raise PrometheusConfigError(
                    f"the header {name!r} is not NAME:VALUE on one line (a name of letters, digits and '-')"
                )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PrometheusConfigError(
                f"{self.display_url!r} is not a Prometheus URL; write it like http://prometheus.monitoring:9090"
            )
        if parts.query or parts.fragment:
            raise PrometheusConfigError(f"the Prometheus URL {self.display_url!r} must not have a ?query or #fragment")
        try:
            parts.port  # noqa: B018  (raises on a port out of range)
        except ValueError:
            raise PrometheusConfigError(f"the Prometheus URL {self.display_url!r} has an invalid port") from None
        if not 0 < self.timeout <= MAX_TIMEOUT_S:  # also refuses NaN and inf (no socket takes those)
            raise PrometheusConfigError(
                f"the Prometheus timeout must be > 0 s and at most {MAX_TIMEOUT_S:g} s, got {self.timeout}"
            )
        if not 0 <= self.retries <= 10:
            raise PrometheusConfigError(f"Prometheus retries must be within 0..10, got {self.retries}")
        if (self.username is None) != (self.password is None):
            raise PrometheusConfigError("basic auth needs both a username and a password")
        if self.token is not None and self.username is not None:
            raise PrometheusConfigError("give a bearer token or basic auth for Prometheus, not both")
        if self.ca_file is not None and self.insecure:
            raise PrometheusConfigError("give a CA bundle or insecure for Prometheus, not both")

    def __repr__(self) -> str:
        auth = "bearer" if self.token is not None else "basic" if self.username is not None else "none"
        tls = "insecure" if self.insecure else f"ca_file={self.ca_file!r}" if self.ca_file else "default"
        return (
            f"PrometheusConfig(url={self.display_url!r}, auth={auth}, headers={[k for k, _ in self.headers]}, "
            f"tls={tls}, timeout={self.timeout:g}, retries={self.retries})"
        )

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def display_url(self) -> str:
        """The URL without any user:password part, for messages and logs."""
        try:
            parts = urlsplit(self.url.rstrip("/"))
        except ValueError:
            return re.sub(r"//[^/]*@", "//", self.url)
        if parts.hostname is None or "@" not in parts.netloc:
            return urlunsplit(parts)
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _session(config: PrometheusConfig) -> requests.Session:
    """A session carrying TLS verification, credentials and extra headers (sent with every query)."""
    session = requests.Session()
    session.verify = config.ca_file if config.ca_file is not None else not config.insecure
    session.headers.update(dict(config.headers))
    if config.token is not None:
        session.headers["Authorization"] = f"Bearer {config.token}"
    if config.username is not None:
        session.auth = (config.username, config.password or "")
    return session


def _retry(config: PrometheusConfig) -> Retry:
    """Bounded retries with exponential backoff, only on connection errors, read timeouts and 5xx."""
    return Retry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        other=0,
        backoff_factor=config.backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,  # the last 5xx answer comes back and is reported with its body
        respect_retry_after_header=False,
    )


class PrometheusSource:
    """A MetricSource reading step samples from Prometheus's HTTP API."""

    def __init__(self, config: PrometheusConfig, *, range_points: int = 60) -> None:
        self.config = config
        self.range_points = range_points
        self.queries_issued = 0  # every query sent (not counting retries), for measurements
        self._client = PrometheusConnect(
            url=config.base_url,
            session=_session(config),
            retry=_retry(config),
            timeout=config.timeout,  # type: ignore[arg-type]  # the library annotates int; requests takes float
        )

    def close(self) -> None:
        self._client.close()

    # --- MetricSource ------------------------------------------------------------------------

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        """Each metric's stable and canary samples over ``span``; a metric with no data is left out."""
        result: dict[str, MetricPair] = {}
        if span.end <= span.start:
            return result
        for metric in metrics:
            pair = self._metric(span, metric)
            if pair is not None:
                result[metric.name] = pair
        return result

    def no_data(self, span: StepSpan) -> str:
        return (
            f"Prometheus at {self.config.display_url} has no data for {arms_of(span)} during the step; "
            "check that it scrapes them, their labels and the metric templates"
        )

    def check(self) -> None:
        """Raise MetricsUnavailableError unless Prometheus answers a trivial query."""
        self._instant("vector(1)", datetime.now(tz=UTC).timestamp(), "connection check")

    # --- per metric --------------------------------------------------------------------------

    def _templates(self, metric: MetricQuery) -> dict[str, str]:
        queries = dict(metric.queries)
        if not queries:
            builtin = BUILTIN_TEMPLATES.get(metric.template)
            if builtin is None:
                raise MetricsUnavailableError(
                    f"metric {metric.name!r}: template {metric.template!r} is neither built in nor defined "
                    "in spec.analysis.templates"
                )
            queries = dict(builtin.queries)
        missing = [role for role in ROLES[metric.kind] if role not in queries]
        if missing:
            raise MetricsUnavailableError(
                f"metric {metric.name!r}: its {metric.kind.value} template lacks the {' and '.join(missing)} query"
            )
        return {role: queries[role] for role in ROLES[metric.kind]}

    def _values(self, span: StepSpan, version: str) -> dict[str, str]:
        return promql.arm_values(
            service=span.service,
            namespace=span.namespace,
            version=version,
            backend=span.backend(version),
            stable=span.stable_version,
            canary=span.canary_version,
            start=span.start,
            end=span.end,
            resolution=promql.range_resolution(span.end - span.start, points=self.range_points),
            reporter=span.reporter,
        )

    def _metric(self, span: StepSpan, metric: MetricQuery) -> MetricPair | None:
        templates = self._templates(metric)
        try:
            stable, canary = (self._arm(span, metric, templates, v) for v in (span.stable_version, span.canary_version))
        except _NaNSample:
            return None
        if stable is None and canary is None:
            return None
        return MetricPair(stable or ArmSample(), canary or ArmSample())

    def _arm(self, span: StepSpan, metric: MetricQuery, templates: Mapping[str, str], version: str) -> ArmSample | None:
        values = self._values(span, version)

        def query(role: str) -> tuple[str, str]:
            where = f"metric {metric.name!r}, {role} query for version {version!r}"
            try:
                return promql.render(templates[role], values), where
            except promql.QueryTemplateError as exc:
                raise MetricsUnavailableError(f"{where}: {exc}") from None

        if metric.kind is MetricKind.ERRORS:
            return self._errors_arm(query, span.end)
        if metric.kind is MetricKind.LATENCY:
            return self._latency_arm(query, span.end)
        return self._gauge_arm(query, span)

    def _errors_arm(self, query: _Query, end: float) -> ArmSample | None:
        requests_total = self._total(*query("requests"), end)
        if requests_total is None or requests_total == 0:
            return None
        errors_total = self._total(*query("errors"), end)
        # No error series at all while requests exist means no errors in the step, not missing data.
        return ArmSample(requests=requests_total, errors=errors_total or 0.0)

    def _latency_arm(self, query: _Query, end: float) -> ArmSample | None:
        text, where = query("buckets")
        buckets = self._shaped(promql.cumulative_buckets, self._instant(text, end, where), where)
        if promql.any_nan(c for _, c in buckets):
            raise _NaNSample
        if not buckets:
            return None
        if not math.isinf(buckets[-1][0]):
            # Requests slower than the largest bound would vanish from every count: a slow canary would
            # look fast. Prometheus's histogram_quantile refuses such a histogram too.
            raise MetricsUnavailableError(
                f'Prometheus at {self.config.display_url}: {where}: the histogram has no le="+Inf" bucket '
                f"(largest le={buckets[-1][0]:g}), so requests slower than that are not counted; "
                "keep the +Inf bucket in the query"
            )
        requests_total = promql.requests_from_buckets(buckets)
        if requests_total == 0:
            return None
        return ArmSample(requests=requests_total, buckets=buckets)

    def _gauge_arm(self, query: _Query, span: StepSpan) -> ArmSample | None:
        text, where = query("value")
        resolution = promql.range_resolution(span.end - span.start, points=self.range_points)
        raw = self._range(text, span.start, span.end, resolution, where)
        values = self._shaped(promql.matrix_values, raw, where)
        return ArmSample(gauges=values) if values else None

    def _total(self, query: str, where: str, at: float) -> float | None:
        result: float | None = self._shaped(promql.vector_total, self._instant(query, at, where), where)
        if result is not None and math.isnan(result):
            raise _NaNSample
        return result

    def _shaped(self, reader: Callable[[Any], Any], raw: Any, where: str) -> Any:
        try:
            return reader(raw)
        except promql.ResultShapeError as exc:
            raise MetricsUnavailableError(f"Prometheus at {self.config.display_url}: {where}: {exc}") from None

    # --- HTTP ----------------------------------------------------------------------------------

    def _instant(self, query: str, at: float, where: str) -> Any:
        params = {"time": promql.format_timestamp(at), "timeout": promql.format_duration(self.config.timeout)}
        return self._call(lambda: self._client.custom_query(query, params=params), query, where)

    def _range(self, query: str, start: float, end: float, resolution: float, where: str) -> Any:
        params = {
            "start": promql.format_timestamp(start),  # exact: the library would round to whole seconds
            "end": promql.format_timestamp(end),
            "timeout": promql.format_duration(self.config.timeout),
        }

        def send() -> Any:
            return self._client.custom_query_range(
                query,
                start_time=datetime.fromtimestamp(start, tz=UTC),
                end_time=datetime.fromtimestamp(end, tz=UTC),
                step=promql.format_duration(resolution),
                params=params,
            )

        return self._call(send, query, where)

    def _call(self, send: Callable[[], Any], query: str, where: str) -> Any:
        self.queries_issued += 1
        try:
            return send()
        except (requests.RequestException, PrometheusApiClientException, ValueError, KeyError, TypeError) as exc:
            raise MetricsUnavailableError(unavailable_reason(exc, self.config, query=query, where=where)) from exc


__all__ = ["MetricsUnavailableError", "PrometheusConfig", "PrometheusConfigError", "PrometheusSource"]
