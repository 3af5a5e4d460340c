"""Helpers for the controller's tests against the real API server: objects, waits, a synthetic metric source.

``SyntheticSource`` is an in-process metric source for the tests that need no data plane (store,
revisions, leases): it makes up per-arm request and error counts from the step's length, the
canary's share of traffic read from the VirtualService, and each arm's error rate. It is not a
model of anything; the end-to-end tests use the embedded mesh and a real Prometheus instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from analysis.observations import ArmSample, MetricKind, MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.crd import GROUP, PLURAL, VERSION

Obj = dict[str, Any]
T = TypeVar("T")
SERVICE = "checkout"
ISTIO = ("networking.istio.io", "v1")


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # an API hiccup while polling is not the answer
            last = exc
            result = None
        if result:
            return result
        time.sleep(interval)
    suffix = f" (last error: {last})" if last else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")


class Api:
    """Plain calls a user (or a test) makes: Experiments, VirtualServices, DestinationRules."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.client = api
        self.custom = k8s.CustomObjectsApi(api)

    def create_experiment(self, body: Obj) -> Obj:
        ns = body["metadata"]["namespace"]
        return cast(Obj, self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body))

    def experiment(self, namespace: str, name: str) -> Obj:
        return cast(Obj, self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))

    def patch_experiment(self, namespace: str, name: str, patch: Obj) -> Obj:
        return cast(Obj, self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch))

    def delete_experiment(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def status(self, namespace: str, name: str) -> Obj:
        return cast(Obj, self.experiment(namespace, name).get("status") or {})

    def create_istio(self, namespace: str, *, subsets: Sequence[str] = ("v1", "v2", "v3")) -> None:
        self.custom.create_namespaced_custom_object(*ISTIO, namespace, "virtualservices", virtual_service(namespace))
        rule = {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": SERVICE, "namespace": namespace},
            "spec": {"host": SERVICE, "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]},
        }
        self.custom.create_namespaced_custom_object(*ISTIO, namespace, "destinationrules", rule)

    def virtual_service(self, namespace: str) -> Obj:
        return cast(Obj, self.custom.get_namespaced_custom_object(*ISTIO, namespace, "virtualservices", SERVICE))

    def events(self, namespace: str, name: str) -> list[Obj]:
        found = self.custom.list_namespaced_custom_object("events.k8s.io", "v1", namespace, "events")
        return [e for e in found["items"] if (e.get("regarding") or {}).get("name") == name]


def virtual_service(namespace: str) -> Obj:
    """The user's VirtualService: a route ``primary`` to subset v1, and a route of the user's own."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": SERVICE, "namespace": namespace},
        "spec": {
            "hosts": [SERVICE],
            "http": [
                {
                    "name": "admin",
                    "match": [{"uri": {"prefix": "/admin"}}],
                    "route": [{"destination": {"host": "admin", "subset": "v1"}}],
                },
                {
                    "name": "primary",
                    "timeout": "5s",
                    "route": [{"destination": {"host": SERVICE, "subset": "v1"}, "weight": 100}],
                },
            ],
        },
    }


def route_weights(vs: Mapping[str, Any], stable: str = "v1", canary: str = "v2") -> tuple[int, int]:
    """(stable, canary) weights of the route ``primary``; a missing destination or weight counts as 0/100."""
    route = next(r for r in vs["spec"]["http"] if r.get("name") == "primary")
    default = 100 if len(route["route"]) == 1 else 0
    weights = {d["destination"].get("subset"): int(d.get("weight", default)) for d in route["route"]}
    return weights.get(stable, 0), weights.get(canary, 0)


def experiment(
    namespace: str,
    name: str,
    *,
    canary: str = "v2",
    stable: str = "v1",
    steps: Sequence[int] = (20, 50),
    interval: str = "2s",
    max_duration: str = "10m",
    min_requests: int = 200,
    on_no_data: str = "hold",
    failure_budget: int = 100,
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    metadata: Obj = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "meshroll.io/v1alpha1",
        "kind": "Experiment",
        "metadata": metadata,
        "spec": {
            "target": {"service": SERVICE, "stable": {"version": stable}, "canary": {"version": canary}},
            "mesh": {"provider": "istio", "virtualService": SERVICE, "route": "primary", "destinationRule": SERVICE},
            "strategy": {"canary": {"steps": list(steps), "stepInterval": interval}},
            "analysis": {
                "engine": "sequential",
                "alpha": 0.05,
                "minRequests": min_requests,
                "maxDuration": max_duration,
                "onNoData": on_no_data,
                "failureBudget": failure_budget,
                "metrics": [
                    {
                        "name": "error-rate",
                        "template": "istio-error-rate",
                        "margin": 0.5,
                        "absoluteMargin": 0.02,
                        "critical": True,
                    }
                ],
            },
        },
    }


@dataclass
class SyntheticSource:
    """Made-up counts (see the module's docstring): ``rate`` requests/s in all, split as the VirtualService says."""

    api: Api
    stable_error_rate: float = 0.02
    canary_error_rate: float = 0.02
    rate: float = 2000.0
    calls: int = 0

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        self.calls += 1
        vs = self.api.virtual_service(span.namespace)
        _, canary_weight = route_weights(vs, span.stable_version, span.canary_version)
        total = max(0.0, span.end - span.start) * self.rate
        canary_requests = round(total * canary_weight / 100.0)
        stable_requests = round(total) - canary_requests
        if canary_requests + stable_requests <= 0:
            return {}
        stable = ArmSample(stable_requests, round(stable_requests * self.stable_error_rate))
        canary = ArmSample(canary_requests, round(canary_requests * self.canary_error_rate))
        return {m.name: MetricPair(stable, canary) for m in metrics if m.kind is MetricKind.ERRORS}


def gone(kube: Api, namespace: str, name: str) -> bool:
    """Whether the Experiment is gone from the API server (its deletion finished)."""
    try:
        kube.experiment(namespace, name)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False
