"""A TrafficPlan rendered into a user's SMI TrafficSplit. Pure.

meshroll writes only the ``weight`` of the stable and canary backends (integers summing to 100;
other backends keep theirs, and since SMI weights are relative, their share moves with ours). A
canary backend is added when the canary first gets traffic and removed again at 0; one the user
wrote is kept at weight 0. Linkerd's v1alpha1 accepts quantity weights such as ``500m``; meshroll
writes plain integers there too. SMI can neither mirror, route a cohort, nor inject faults: such
plans are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_common import add_field, claim, read_ownership, remove_field, set_weights, write_ownership

Obj = dict[str, Any]


@dataclass(frozen=True)
class SmiSettings:
    owner: str
    namespace: str
    traffic_split: str
    stable_service: str
    canary_service: str

    @property
    def what(self) -> str:
        return f"TrafficSplit {self.namespace}/{self.traffic_split}"

    @property
    def canary_backend_field(self) -> str:
        return f"backends[service={self.canary_service}]"


def _refuse_unsupported(plan: TrafficPlan) -> None:
    if plan.faults:
        raise MeshError("SMI TrafficSplit cannot inject faults; use provider istio or local for spec.chaos.faults")
    if plan.mirror_percent > 0:
        raise MeshError("SMI TrafficSplit cannot mirror; use provider istio or gateway-api for spec.strategy.mirror")
    if plan.ab_matches:
        raise MeshError(
            "meshroll's SMI provider cannot route an A/B cohort (SMI needs an HTTPRouteGroup per cohort); "
            "use provider istio or gateway-api for spec.strategy.abTest"
        )


def _find(backends: list[Any], service: str) -> Obj | None:
    for backend in backends:
        if isinstance(backend, dict) and backend.get("service") == service:
            return backend
    return None


def render(current: Mapping[str, Any], plan: TrafficPlan, settings: SmiSettings) -> Obj:
    """The TrafficSplit holding ``plan``'s weights; ``current`` is not modified."""
    _refuse_unsupported(plan)
    split: Obj = copy.deepcopy(dict(current))
    ownership = claim(read_ownership(split, None), settings.owner, settings.what, entries=(), live_fields=())
    spec = split.get("spec")
    backends = spec.get("backends") if isinstance(spec, dict) else None
    if not isinstance(backends, list):
        raise MeshError(
            f"{settings.what} has no backends; add one for Service {settings.stable_service} "
            "(meshroll weights it but does not create it)"
        )
    stable = _find(backends, settings.stable_service)
    if stable is None:
        raise MeshError(
            f"{settings.what} has no backend for Service {settings.stable_service}; add it, or fix "
            "spec.target.stable.service (per-version Services default to <service>-<version>)"
        )
    canary = _find(backends, settings.canary_service)
    created = settings.canary_backend_field
    if canary is None and plan.canary_weight > 0:
        canary = {"service": settings.canary_service, "weight": 0}
        backends.insert(backends.index(stable) + 1, canary)
        add_field(ownership, created)
    if plan.canary_weight == 0 and created in ownership.fields:
        if canary is not None:
            backends.remove(canary)
            canary = None
        remove_field(ownership, created)
    set_weights(backends, stable, canary, plan, ownership, f"backends[service={settings.stable_service}].weight")
    write_ownership(split, ownership, None)
    return split
