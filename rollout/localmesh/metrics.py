"""Istio-compatible request metrics for the embedded mesh, and an in-process snapshot of the same numbers.

Series (names and labels as Istio's standard metrics):

- ``istio_requests_total`` (counter)
- ``istio_request_duration_milliseconds`` (histogram: ``_bucket{le}``, ``_sum``, ``_count``; Istio's
  default buckets in ms)

with labels ``reporter, destination_service, destination_service_name, destination_workload,
destination_workload_namespace, destination_version, destination_canonical_revision, response_code,
response_flags, source_workload``.

Reporter scheme (the router plays the client's sidecar, the backends' side of it the server's sidecar):

- ``reporter="source"``: every request a client sent through the router, including injected aborts
  (``response_flags="FI"``) and injected delays (``"DI"``; both: ``"DI,FI"``), and upstream failures the
  router answered itself (``"UF"`` connection failure 503, ``"UT"`` timeout 504). The destination labels
  name the version the request was routed to, also for aborts (Envoy picks no upstream host for an
  aborted request, so real Istio's workload labels there may be less specific; attributing aborts to
  the routed arm is what per-arm chaos queries need). Duration: from arrival at the router to the
  answer, injected delay included.
- ``reporter="destination"``: every request that reached a backend, as that version's sidecar would
  see it: never FI/DI (faults are client side), duration of the upstream call only. Mirrored copies
  count here only (Istio reports shadow traffic at the destination, not at the source), marked by
  ``source_workload="<source workload>-shadow"`` (after Envoy's ``-shadow`` authority suffix), so a
  query may keep or drop them; destination labels are the canary's.

Both the exposition and :meth:`MeshMetrics.snapshot` read the same counters under one lock, so a
query over either gives the same numbers. ``le`` values are rendered as Python floats ("1.0", as
client_python does), where Envoy writes "1": histogram_quantile reads both, but an exact
matcher must say le="1.0".
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

Reporter = Literal["source", "destination"]

ISTIO_DURATION_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)  # fmt: skip

LABEL_NAMES: tuple[str, ...] = (
    "reporter",
    "destination_service",
    "destination_service_name",
    "destination_workload",
    "destination_workload_namespace",
    "destination_version",
    "destination_canonical_revision",
    "response_code",
    "response_flags",
    "source_workload",
)

NO_FLAGS = "-"
SHADOW_SUFFIX = "-shadow"
_INF = float("inf")
_LE_STRINGS: tuple[str, ...] = (*(repr(float(b)) for b in ISTIO_DURATION_BUCKETS_MS), "+Inf")


@dataclass(frozen=True)
class Destination:
    """One version of the service, named as Istio names it."""

    service: str
    namespace: str
    version: str

    @property
    def workload(self) -> str:
        return f"{self.service}-{self.version}"

    @property
    def fqdn(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"

    def label_values(self) -> tuple[str, str, str, str, str, str]:
        """destination_service .. destination_canonical_revision, in LABEL_NAMES order."""
        return (self.fqdn, self.service, self.workload, self.namespace, self.version, self.version)


@dataclass(frozen=True)
class VersionCounters:
    """Cumulative counts for one version, from one reporter's view."""

    requests: float
    errors: float  # 5xx responses
    buckets: tuple[tuple[float, float], ...]  # cumulative (le, count) in ms, ending with (+Inf, requests)
    by_flags: dict[str, float] = field(default_factory=dict)
    sum_ms: float = 0.0  # total duration, for mean latency (and a fault's measured added delay)


@dataclass
class _Series:
    count: int = 0
    sum_ms: float = 0.0
    per_bucket: list[int] = field(default_factory=lambda: [0] * (len(ISTIO_DURATION_BUCKETS_MS) + 1))

    def observe(self, duration_ms: float) -> None:
        self.count += 1
        self.sum_ms += duration_ms
        self.per_bucket[bisect.bisect_left(ISTIO_DURATION_BUCKETS_MS, duration_ms)] += 1

    def cumulative(self) -> list[int]:
        total, out = 0, []
        for n in self.per_bucket:
            total += n
            out.append(total)
        return out


@dataclass(frozen=True)
class _Key:
    reporter: str
    version: str
    code: int
    flags: str
    source_workload: str


class MeshMetrics:
    """The mesh's request counters: recorded on the event loop, read from any thread."""

    def __init__(self, destinations: Iterable[Destination], registry: CollectorRegistry | None = None) -> None:
        self._destinations = {d.version: d for d in destinations}
        self._series: dict[_Key, _Series] = {}
        self._lock = threading.Lock()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(_IstioCollector(self))

    def record(
        self,
        reporter: Reporter,
        version: str,
        *,
        code: int,
        flags: str,
        source_workload: str,
        duration_ms: float,
    ) -> None:
        key = _Key(reporter, version, code, flags, source_workload)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.observe(duration_ms)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of this mesh's registry."""
        return generate_latest(self.registry)

    def snapshot(self, reporter: Reporter = "destination") -> dict[str, VersionCounters]:
        """Per version (every configured one, zeros if idle): the counts ``reporter`` has reported."""
        with self._lock:
            items = [(k, s.count, s.cumulative(), s.sum_ms) for k, s in self._series.items() if k.reporter == reporter]
        per_version: dict[str, list[tuple[_Key, int, list[int], float]]] = {v: [] for v in self._destinations}
        for item in items:
            per_version.setdefault(item[0].version, []).append(item)
        return {version: _counters(rows) for version, rows in per_version.items()}

    def families(self) -> list[Metric]:
        """The two metric families, built from a consistent copy of the counters."""
        with self._lock:
            rows = [(k, s.count, s.sum_ms, s.cumulative()) for k, s in self._series.items()]
        requests = CounterMetricFamily("istio_requests", "Requests handled by the embedded mesh.", labels=LABEL_NAMES)
        durations = HistogramMetricFamily(
            "istio_request_duration_milliseconds", "Request duration in ms.", labels=LABEL_NAMES
        )
        for key, count, sum_ms, cumulative in rows:
            labels = self._label_values(key)
            requests.add_metric(labels, float(count))
            buckets = [(le, float(n)) for le, n in zip(_LE_STRINGS, cumulative, strict=True)]
            durations.add_metric(labels, buckets, sum_ms)
        return [requests, durations]

    def _label_values(self, key: _Key) -> list[str]:
        destination = self._destinations[key.version]
        return [key.reporter, *destination.label_values(), str(key.code), key.flags, key.source_workload]


def _counters(rows: Iterable[tuple[_Key, int, list[int], float]]) -> VersionCounters:
    requests = errors = 0
    sum_ms = 0.0
    cumulative = [0] * (len(ISTIO_DURATION_BUCKETS_MS) + 1)
    by_flags: dict[str, float] = {}
    for key, count, series_cumulative, series_sum in rows:
        requests += count
        sum_ms += series_sum
        if 500 <= key.code <= 599:
            errors += count
        by_flags[key.flags] = by_flags.get(key.flags, 0.0) + count
        cumulative = [a + b for a, b in zip(cumulative, series_cumulative, strict=True)]
    bounds = (*ISTIO_DURATION_BUCKETS_MS, _INF)
    buckets = tuple((float(le), float(n)) for le, n in zip(bounds, cumulative, strict=True))
    return VersionCounters(float(requests), float(errors), buckets, by_flags, sum_ms)


class _IstioCollector:
    """Adapts MeshMetrics to prometheus_client's collector protocol."""

    def __init__(self, metrics: MeshMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics.families()

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily("istio_requests", "", labels=LABEL_NAMES)
        yield HistogramMetricFamily("istio_request_duration_milliseconds", "", labels=LABEL_NAMES)
