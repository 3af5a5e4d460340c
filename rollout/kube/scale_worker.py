"""The controller side of ``meshroll bench controller``: the real controller, in a process of its own
(as ``meshroll controller`` runs), with a stand-in data plane and metric source, and counters.

Run as ``python -m rollout.kube.scale_worker --kubeconfig K --namespace NS --out FILE``. It holds
a Lease in NS (default timings, as ``meshroll controller`` uses), watches only NS, prints ``ready``
once it may act, and on SIGTERM stops and writes what it measured to FILE (JSON).

- The data plane is synthetic: ``SyntheticTraffic`` follows the weights the Istio provider has just
  written (the real provider writes the real VirtualService), at ``RATE`` requests/s per service
  with the same error rate on both versions. No Prometheus, no extra API requests: the metric
  source answers at once, so what is measured is the controller.
- Every HTTP request of the controller's two API clients (the Lease's and the runs') is counted,
  by verb and resource (``request_kind``), watches included (one per watch opened).
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client as k8s
from prometheus_client import CollectorRegistry

from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.kube.client import api_client
from rollout.kube.controller import Controller, ControllerConfig
from rollout.kube.telemetry import Telemetry
from rollout.mesh.factory import provider_for
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.provider import TrafficProvider
from rollout.spec.models import Experiment

RATE = 2000.0  # requests per second per service, split as the applied weights say
ERROR_RATE = 0.01  # on both versions: every canary is healthy and is promoted
LEASE_NAME = "meshroll-bench"
SOURCE = f"synthetic traffic following the applied weights ({RATE:g} req/s per service, {ERROR_RATE:.0%} errors)"


class SyntheticTraffic:
    """Canary weights per service over time, as applied; the source integrates them over a span."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._weights: dict[str, list[tuple[float, float]]] = {}
        self.first_applied: dict[str, float] = {}  # service -> when weights with a canary share were first applied

    def applied(self, service: str, canary_weight: float) -> None:
        now = self.clock()
        with self._lock:
            self._weights.setdefault(service, []).append((now, canary_weight))
            if canary_weight > 0:
                self.first_applied.setdefault(service, now)

    def canary_share(self, service: str, start: float, end: float) -> float:
        """The time-weighted mean canary weight (0..1) of ``service`` over [start, end]."""
        with self._lock:
            changes = list(self._weights.get(service, ()))
        if end <= start or not changes:
            return 0.0
        total = 0.0
        for index, (at, weight) in enumerate(changes):
            until = changes[index + 1][0] if index + 1 < len(changes) else end
            overlap = min(until, end) - max(at, start)
            if overlap > 0:
                total += overlap * weight
        return total / (end - start) / 100.0


class SyntheticSource:
    """Step samples from ``SyntheticTraffic``: error-rate metrics only (the bench's experiments use one)."""

    def __init__(self, traffic: SyntheticTraffic) -> None:
        self.traffic = traffic

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        total = max(0.0, span.end - span.start) * RATE
        canary = round(total * self.traffic.canary_share(span.service, span.start, span.end))
        stable = round(total) - canary
        if total <= 0:
            return {}
        pair = MetricPair(ArmSample(stable, round(stable * ERROR_RATE)), ArmSample(canary, round(canary * ERROR_RATE)))
        return {m.name: pair for m in metrics if m.kind is MetricKind.ERRORS}


class FollowingProvider:
    """The real provider; the synthetic traffic follows every plan it has applied."""

    def __init__(self, inner: TrafficProvider, traffic: SyntheticTraffic, service: str) -> None:
        self.inner = inner
        self.traffic = traffic
        self.service = service

    def apply(self, plan: TrafficPlan) -> None:
        self.inner.apply(plan)
        self.traffic.applied(self.service, plan.canary_weight)

    def sweep(self, owner: str) -> list[str]:
        return self.inner.sweep(owner)

    def holds(self, plan: TrafficPlan) -> bool | None:
        holds: Callable[[TrafficPlan], bool] | None = getattr(self.inner, "holds", None)
        return holds(plan) if holds is not None else None


def request_kind(method: str, url: str) -> str:
    """``GET experiments``, ``LIST experiments``, ``WATCH experiments``, ``PUT experiments/status``..."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        return f"{method} {parts.path}"
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    resource_name = rest[0] if rest else "?"
    named = len(rest) >= 2
    sub = f"/{rest[2]}" if len(rest) >= 3 else ""
    verb = method
    if method == "GET" and not named:
        verb = "WATCH" if parse_qs(parts.query).get("watch") == ["True"] or "watch=true" in parts.query else "LIST"
    return f"{verb} {resource_name}{sub}"


def count_requests(client: k8s.ApiClient, counts: Counter[str], lock: threading.Lock) -> None:
    """Count every HTTP request ``client`` sends, by ``request_kind``."""
    rest: Any = client.rest_client  # untyped
    send: Callable[..., Any] = rest.request

    def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            counts[request_kind(method, url)] += 1
        return send(method, url, *args, **kwargs)

    setattr(rest, "request", counted)  # noqa: B010 - an instance attribute over the method


class RecordingTelemetry(Telemetry):
    """The controller's telemetry, keeping every reconcile's duration as well."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.durations: list[float] = []
        histogram = self.reconcile
        durations = self.durations

        class Recorder:
            def observe(self, seconds: float) -> None:
                durations.append(seconds)
                histogram.observe(seconds)

        self.reconcile = Recorder()  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rollout.kube.scale_worker")
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-concurrent-runs", type=int, default=0)
    args = parser.parse_args(argv)
    api = api_client(args.kubeconfig)
    traffic = SyntheticTraffic()

    def provider(experiment: Experiment, client: k8s.ApiClient) -> FollowingProvider:
        return FollowingProvider(provider_for(experiment, client), traffic, experiment.spec.target.service)

    telemetry = RecordingTelemetry(CollectorRegistry())
    config = ControllerConfig(
        identity="meshroll-bench",
        namespaces=(args.namespace,),
        lease_namespace=args.namespace,
        lease_name=LEASE_NAME,
        max_concurrent_runs=args.max_concurrent_runs,
    )
    controller = Controller(
        api, config, telemetry, source_factory=lambda: SyntheticSource(traffic), provider_factory=provider
    )
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    for client in (controller.api, controller.experiments_api):
        count_requests(client, counts, lock)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    began = time.time()
    controller.start()
    while not controller.may_act() and not stop.wait(0.05):
        pass
    print("ready", flush=True)
    stop.wait()
    ended = time.time()
    with lock:
        requests = dict(counts)
    controller.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "began": began,
        "ended": ended,
        "requests": requests,
        "firstApplied": dict(traffic.first_applied),
        "reconciles": list(telemetry.durations),
        "cpuSeconds": usage.ru_utime + usage.ru_stime,
        "peakRssBytes": usage.ru_maxrss * 1024,  # Linux reports KiB
        "source": SOURCE,
    }
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
