"""The Gateway API traffic provider: a user's HTTPRoute (GAMMA Service parents or Gateways).

What meshroll writes there is described in ``render_gateway_api``. Gateway API has no fault
injection; plans with faults are refused (validation refuses them earlier).
"""

from __future__ import annotations

from rollout.mesh import render_gateway_api
from rollout.mesh.kubeobjects import KubeObjects, ObjectNotFound, ObjectRef
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_gateway_api import GatewayApiSettings

GROUP = "gateway.networking.k8s.io"
VERSION = "v1"


class GatewayApiProvider:
    """Applies plans to one HTTPRoute, touching only what meshroll owns there."""

    def __init__(self, objects: KubeObjects, settings: GatewayApiSettings) -> None:
        self.objects = objects
        self.settings = settings
        self.http_route = ObjectRef(
            GROUP, VERSION, "httproutes", "HTTPRoute", settings.namespace, settings.http_route, "spec.mesh.httpRoute"
        )

    def apply(self, plan: TrafficPlan) -> None:
        self.objects.update(self.http_route, lambda route: render_gateway_api.render(route, plan, self.settings))

    def holds(self, plan: TrafficPlan) -> bool:
        """Whether the HTTPRoute holds ``plan`` already (``apply`` would write nothing). Only reads."""
        current = self.objects.get(self.http_route)
        return render_gateway_api.render(current, plan, self.settings) == current

    def sweep(self, owner: str) -> list[str]:
        removed: list[str] = []

        def change(route: dict[str, object]) -> dict[str, object]:
            new, gone = render_gateway_api.sweep(route, owner, self.settings)
            removed[:] = gone
            return new

        try:
            self.objects.update(self.http_route, change)
        except ObjectNotFound:
            return []
        return removed
