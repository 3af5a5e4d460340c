"""The Istio traffic provider: a user's VirtualService, read-modify-written; its DestinationRule, checked.

meshroll never creates or edits the DestinationRule. When the experiment names one
(``spec.mesh.destinationRule``), every apply first checks that the subsets the plan routes to
exist: a route to a missing subset fails its requests. What meshroll writes in the
VirtualService, and how faults interact with retries and timeouts (Istio does not enable them
on a route while a fault is injected on the client side), is described in ``render_istio``.
"""

from __future__ import annotations

from chaos.faults import Arm
from rollout.mesh import render_istio
from rollout.mesh.errors import MeshError
from rollout.mesh.kubeobjects import KubeObjects, ObjectNotFound, ObjectRef
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_istio import IstioSettings

GROUP = "networking.istio.io"
VERSION = "v1"


class IstioProvider:
    """Applies plans to one VirtualService, touching only what meshroll owns there."""

    def __init__(self, objects: KubeObjects, settings: IstioSettings, destination_rule: str | None = None) -> None:
        self.objects = objects
        self.settings = settings
        self.virtual_service = ObjectRef(
            GROUP,
            VERSION,
            "virtualservices",
            "VirtualService",
            settings.namespace,
            settings.virtual_service,
            "spec.mesh.virtualService",
        )
        self.destination_rule = (
            ObjectRef(
                GROUP,
                VERSION,
                "destinationrules",
                "DestinationRule",
                settings.namespace,
                destination_rule,
                "spec.mesh.destinationRule",
            )
            if destination_rule
            else None
        )

    def apply(self, plan: TrafficPlan) -> None:
        self.check_subsets(plan)
        self.objects.update(self.virtual_service, lambda vs: render_istio.render(vs, plan, self.settings))

    def sweep(self, owner: str) -> list[str]:
        removed: list[str] = []

        def change(vs: dict[str, object]) -> dict[str, object]:
            new, gone = render_istio.sweep(vs, owner, self.settings)
            removed[:] = gone
            return new

        try:
            self.objects.update(self.virtual_service, change)
        except ObjectNotFound:
            return []  # nothing of meshroll's can be left in a VirtualService that does not exist
        return removed

    def check_subsets(self, plan: TrafficPlan) -> None:
        """Raise MeshError when the DestinationRule lacks a subset ``plan`` routes to."""
        if self.destination_rule is None:
            return
        wanted = [self.settings.stable_subset]
        if _routes_to_canary(plan):
            wanted.append(self.settings.canary_subset)
        rule = self.objects.get(self.destination_rule)
        missing = render_istio.missing_subsets(rule, wanted)
        if missing:
            raise MeshError(
                f"{self.destination_rule.what} has no subset {missing[0]!r}; add it (for example name: {missing[0]}, "
                f"labels: {{version: {missing[0]}}}) before the experiment routes to it, or fix "
                "spec.target.*.subset; meshroll does not edit DestinationRules"
            )


def _routes_to_canary(plan: TrafficPlan) -> bool:
    return (
        plan.canary_weight > 0
        or bool(plan.ab_matches)
        or plan.mirror_percent > 0
        or any(f.cohort and f.arm is Arm.CANARY for f in plan.faults)
    )
