"""The SMI traffic provider: weights in a user's TrafficSplit (v1alpha4 by default; Linkerd's v1alpha1/2 too).

SMI can neither mirror, route a cohort nor inject faults, so meshroll owns only the stable and
canary weights there (see ``render_smi``) and a sweep has nothing to remove.
"""

from __future__ import annotations

from rollout.mesh import render_smi
from rollout.mesh.kubeobjects import KubeObjects, ObjectRef
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_smi import SmiSettings

GROUP = "split.smi-spec.io"
DEFAULT_API_VERSION = f"{GROUP}/v1alpha4"


class SmiProvider:
    """Applies plans' weights to one TrafficSplit."""

    def __init__(self, objects: KubeObjects, settings: SmiSettings, api_version: str = DEFAULT_API_VERSION) -> None:
        self.objects = objects
        self.settings = settings
        group, _, version = api_version.partition("/")
        self.traffic_split = ObjectRef(
            group,
            version,
            "trafficsplits",
            "TrafficSplit",
            settings.namespace,
            settings.traffic_split,
            "spec.mesh.trafficSplit",
        )

    def apply(self, plan: TrafficPlan) -> None:
        self.objects.update(self.traffic_split, lambda split: render_smi.render(split, plan, self.settings))

    def holds(self, plan: TrafficPlan) -> bool:
        """Whether the TrafficSplit holds ``plan`` already (``apply`` would write nothing). Only reads."""
        current = self.objects.get(self.traffic_split)
        return render_smi.render(current, plan, self.settings) == current

    def sweep(self, owner: str) -> list[str]:
        return []  # SMI holds no faults, mirrors or cohort routes of meshroll's; the next apply sets weights
