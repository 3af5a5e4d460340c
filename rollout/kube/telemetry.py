"""The controller's own metrics, in a registry passed in (each test builds its own).

- ``meshroll_experiments{phase}``: experiments this replica knows, by phase (standbys report none)
- ``meshroll_experiment_canary_weight{namespace,name}``: the canary weight the status records
- ``meshroll_decisions_total{outcome}``: advance, hold, rollback, inconclusive, no-data, metrics-unavailable
- ``meshroll_reconcile_duration_seconds``: one reconcile of one experiment
- ``meshroll_status_conflicts_total``: 409s met while writing a status (each re-read and retried)
- ``meshroll_errors_total{reason}``: runs stopped by an error and retried (MeshError, ApiError, ...)
- ``meshroll_leader``: 1 while this replica holds the Lease
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rollout.events import Judged
from rollout.status import HistoryEntry, Phase

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Telemetry:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.decisions = Counter(
            "meshroll_decisions", "Decisions after a step, by outcome.", ["outcome"], registry=registry
        )
        self.reconcile = Histogram(
            "meshroll_reconcile_duration_seconds",
            "Time to reconcile one experiment.",
            buckets=RECONCILE_BUCKETS,
            registry=registry,
        )
        self.conflicts = Counter(
            "meshroll_status_conflicts", "409 Conflicts met while writing a status.", registry=registry
        )
        self.errors = Counter("meshroll_errors", "Runs stopped by an error, by reason.", ["reason"], registry=registry)
        self._lock = threading.Lock()
        self._experiments: dict[tuple[str, str], tuple[str, int]] = {}
        self._leader = False
        registry.register(_StateCollector(self))

    def set_experiment(self, namespace: str, name: str, phase: str, canary_weight: int) -> None:
        with self._lock:
            self._experiments[(namespace, name)] = (phase, canary_weight)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._experiments.pop((namespace, name), None)

    def forget_all(self) -> None:
        with self._lock:
            self._experiments.clear()

    def set_leader(self, leader: bool) -> None:
        with self._lock:
            self._leader = leader

    def decision(self, entry: HistoryEntry) -> None:
        event = entry.event
        if isinstance(event, Judged):
            self.decisions.labels(event.outcome).inc()
        elif event.type in ("no-data", "metrics-unavailable"):
            self.decisions.labels(event.type).inc()

    def snapshot(self) -> tuple[dict[tuple[str, str], tuple[str, int]], bool]:
        with self._lock:
            return dict(self._experiments), self._leader


class _StateCollector(Collector):
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        experiments, leader = self.telemetry.snapshot()
        by_phase = GaugeMetricFamily("meshroll_experiments", "Experiments by phase.", labels=["phase"])
        counts = {phase.value: 0 for phase in Phase}
        for phase, _ in experiments.values():
            counts[phase] = counts.get(phase, 0) + 1
        for phase, count in sorted(counts.items()):
            by_phase.add_metric([phase], count)
        yield by_phase
        weights = GaugeMetricFamily(
            "meshroll_experiment_canary_weight",
            "The canary weight the experiment's status records (percent).",
            labels=["namespace", "name"],
        )
        for (namespace, name), (_, weight) in sorted(experiments.items()):
            weights.add_metric([namespace, name], weight)
        yield weights
        yield GaugeMetricFamily("meshroll_leader", "1 while this replica holds the Lease.", value=1 if leader else 0)
