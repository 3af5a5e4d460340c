"""The traffic provider an experiment's ``spec.mesh`` names, for the Kubernetes meshes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client as k8s

from rollout.mesh.errors import MeshError
from rollout.mesh.gateway_api import GatewayApiProvider
from rollout.mesh.istio import IstioProvider
from rollout.mesh.kubeobjects import KubeObjects
from rollout.mesh.provider import TrafficProvider
from rollout.mesh.render_gateway_api import GatewayApiSettings
from rollout.mesh.render_istio import IstioSettings
from rollout.mesh.render_smi import SmiSettings
from rollout.mesh.smi import SmiProvider
from rollout.spec.models import Experiment
from rollout.spec.traffic import GatewayApiMeshSpec, IstioMeshSpec, SmiMeshSpec


@dataclass(frozen=True)
class RoutingTarget:
    """The routing object an experiment's provider writes, and the entry of it that it weights (None: found
    by host or Service, so any entry of the object may be it)."""

    kind: str
    namespace: str
    name: str
    entry: str | None = None

    @property
    def what(self) -> str:
        where = f"{self.kind} {self.namespace}/{self.name}"
        return (
            f"{where} ({'route' if self.kind == 'VirtualService' else 'rule'} {self.entry!r})" if self.entry else where
        )

    def overlaps(self, other: RoutingTarget) -> bool:
        """Whether both may weight the same entry of the same object."""
        same_object = (self.kind, self.namespace, self.name) == (other.kind, other.namespace, other.name)
        return same_object and (self.entry is None or other.entry is None or self.entry == other.entry)


def routing_target(experiment: Experiment) -> RoutingTarget | None:
    """What ``experiment`` steers in the cluster (None: not a Kubernetes mesh)."""
    mesh, namespace = experiment.spec.mesh, experiment.metadata.namespace
    if isinstance(mesh, IstioMeshSpec):
        return RoutingTarget("VirtualService", namespace, mesh.virtual_service, mesh.route)
    if isinstance(mesh, GatewayApiMeshSpec):
        return RoutingTarget("HTTPRoute", namespace, mesh.http_route, mesh.rule)
    if isinstance(mesh, SmiMeshSpec):
        return RoutingTarget("TrafficSplit", namespace, mesh.traffic_split)
    return None


def provider_for(
    experiment: Experiment, api_client: k8s.ApiClient, *, warn: Callable[[str], None] | None = None
) -> TrafficProvider:
    """The provider for ``experiment``'s mesh (istio, gateway-api or smi), talking through ``api_client``.

    ``warn`` is told what a change went ahead despite (besides the log): a revert to stable with the
    Istio DestinationRule or its stable subset gone. (The Gateway API and SMI providers check no
    other object than the one they write, so they have nothing to warn about.)"""
    spec = experiment.spec
    mesh, target = spec.mesh, spec.target
    owner, namespace = experiment.key, experiment.metadata.namespace
    objects = KubeObjects(api_client)
    if isinstance(mesh, IstioMeshSpec):
        settings = IstioSettings(
            owner=owner,
            namespace=namespace,
            virtual_service=mesh.virtual_service,
            host=mesh.host or target.service,
            stable_subset=target.stable.subset or target.stable.version,
            canary_subset=target.canary.subset or target.canary.version,
            route=mesh.route,
        )
        return IstioProvider(objects, settings, mesh.destination_rule, warn=warn)
    if isinstance(mesh, GatewayApiMeshSpec):
        return GatewayApiProvider(
            objects,
            GatewayApiSettings(
                owner=owner,
                namespace=namespace,
                http_route=mesh.http_route,
                stable_service=target.version_service(target.stable),
                canary_service=target.version_service(target.canary),
                rule=mesh.rule,
            ),
        )
    if isinstance(mesh, SmiMeshSpec):
        settings_smi = SmiSettings(
            owner=owner,
            namespace=namespace,
            traffic_split=mesh.traffic_split,
            stable_service=target.version_service(target.stable),
            canary_service=target.version_service(target.canary),
        )
        return SmiProvider(objects, settings_smi, mesh.api_version)
    raise MeshError(
        f"spec.mesh.provider {mesh.provider!r} is not a Kubernetes mesh; the embedded mesh runs with `meshroll run`"
    )
