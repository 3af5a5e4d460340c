"""The mesh providers an Experiment names in ``spec.mesh``: Istio, Gateway API, SMI, and the embedded mesh."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rollout.spec.base import Fraction, Name, SpecModel
from rollout.spec.durations import Duration


class BackendProfileSpec(SpecModel):
    """How a demo backend of the embedded mesh behaves (provider local only: meshroll run and meshroll demo)."""

    median_latency: Duration = 0.02
    """The backend's median response time, e.g. 20ms (the default); latencies are drawn from a lognormal."""
    p99_latency: Duration = 0.08
    """The backend's 99th-percentile response time, at least medianLatency, e.g. 80ms (the default)."""
    error_rate: Fraction = 0.002
    """The share of requests the backend answers with a 500, from 0 to 1; default 0.002 (0.2%)."""

    @model_validator(mode="after")
    def _p99_above_median(self) -> BackendProfileSpec:
        if self.median_latency <= 0:
            raise ValueError("medianLatency must be above 0 (a lognormal has no zero median), e.g. 20ms")
        if self.p99_latency < self.median_latency:
            raise ValueError("p99Latency is below medianLatency; p99 must be at least the median")
        return self


class LocalMeshSpec(SpecModel):
    """The embedded mesh of meshroll run and meshroll demo (a router, two demo backends, a load generator)."""

    provider: Literal["local"]
    """The mesh: istio (a VirtualService), gateway-api (an HTTPRoute), smi (a TrafficSplit), or local (the
    embedded mesh of meshroll run and meshroll demo, which the controller refuses)."""
    port: int = Field(default=0, ge=0, le=65535)
    """For provider local only (meshroll run and meshroll demo): the router's port on 127.0.0.1; 0 (the
    default) picks a free one."""
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """For provider local only (meshroll run and meshroll demo): the port of the mesh's /metrics; 0 (the
    default) picks a free one. Fix it for a Prometheus to scrape."""
    load_rate: float = Field(default=150.0, gt=0, le=5000)
    """For provider local only (meshroll run and meshroll demo): requests per second from the load generator,
    above 0 and at most 5000; default 150."""
    cohort_fraction: Fraction = 0.1
    """For provider local only (meshroll run and meshroll demo): the share (0 to 1) of generated requests that
    carry the cohort's header (the first exact header match of abTest.match or canary.cohort); default 0.1."""
    load_users: int = Field(default=0, ge=0, le=100_000)
    """For provider local only (meshroll run and meshroll demo): how many simulated users send the load and
    keep their cookies (for a sticky canary), at most 100000; 0 (the default): every request a new visitor."""
    stable: BackendProfileSpec = BackendProfileSpec()
    """For provider local only (meshroll run and meshroll demo): how the stable version's demo backend
    answers."""
    canary: BackendProfileSpec = BackendProfileSpec()
    """For provider local only (meshroll run and meshroll demo): how the canary version's demo backend
    answers."""
    seed: int | None = None
    """For provider local only (meshroll run and meshroll demo): the seed of the mesh's random draws (errors,
    latencies, routing); meshroll run --seed overrides it; default 0."""

    @model_validator(mode="after")
    def _ports_apart(self) -> LocalMeshSpec:
        if self.port and self.port == self.metrics_port:
            raise ValueError(
                f"port and metricsPort are both {self.port}; the router and /metrics need a port each (0 picks one)"
            )
        return self


class IstioMeshSpec(SpecModel):
    """Istio: meshroll weights a route of your VirtualService between two subsets of the target host."""

    provider: Literal["istio"]
    """The mesh: istio (a VirtualService), gateway-api (an HTTPRoute), smi (a TrafficSplit), or local (the
    embedded mesh of meshroll run and meshroll demo, which the controller refuses)."""
    virtual_service: Name
    """Istio only: the VirtualService, in the Experiment's namespace, whose route meshroll weights."""
    route: str | None = None
    """Istio only: the name of the http route meshroll weights; default: the first http route to the host."""
    destination_rule: Name | None = None
    """Istio only: the DestinationRule that declares the subsets. When given, meshroll checks that the subsets
    exist before it routes to them (it never edits the DestinationRule)."""
    host: str | None = None
    """Istio only: the destination host of the route; default: target.service."""


class GatewayApiMeshSpec(SpecModel):
    """Gateway API: meshroll weights a rule of your HTTPRoute between the two versions' Services."""

    provider: Literal["gateway-api"]
    """The mesh: istio (a VirtualService), gateway-api (an HTTPRoute), smi (a TrafficSplit), or local (the
    embedded mesh of meshroll run and meshroll demo, which the controller refuses)."""
    http_route: Name
    """Gateway API only: the HTTPRoute, in the Experiment's namespace, whose rule meshroll weights."""
    rule: str | None = None
    """Gateway API only: the name of the rule meshroll weights; default: the first rule with a backendRef to
    the stable Service."""


class SmiMeshSpec(SpecModel):
    """SMI: meshroll weights the backends of your TrafficSplit (no cohorts, mirroring or faults)."""

    provider: Literal["smi"]
    """The mesh: istio (a VirtualService), gateway-api (an HTTPRoute), smi (a TrafficSplit), or local (the
    embedded mesh of meshroll run and meshroll demo, which the controller refuses)."""
    traffic_split: Name
    """SMI only: the TrafficSplit, in the Experiment's namespace, whose backends meshroll weights."""
    api_version: Literal["split.smi-spec.io/v1alpha4", "split.smi-spec.io/v1alpha2", "split.smi-spec.io/v1alpha1"] = (
        "split.smi-spec.io/v1alpha4"
    )
    """SMI only: the TrafficSplit API version your mesh serves: split.smi-spec.io/v1alpha4 (the default),
    v1alpha2 or v1alpha1."""


MeshSpec = Annotated[LocalMeshSpec | IstioMeshSpec | GatewayApiMeshSpec | SmiMeshSpec, Field(discriminator="provider")]
PROVIDERS = ("local", "istio", "gateway-api", "smi")
