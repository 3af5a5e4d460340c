"""The embedded mesh as a traffic provider."""

from __future__ import annotations

from dataclasses import replace

from rollout.localmesh import LocalMeshThread
from rollout.mesh.plan import TrafficPlan


class LocalProvider:
    def __init__(self, mesh: LocalMeshThread) -> None:
        self.mesh = mesh

    def apply(self, plan: TrafficPlan) -> None:
        self.mesh.apply(plan)

    def sweep(self, owner: str) -> list[str]:
        current = self.mesh.current_plan
        owned = [f.id for f in current.faults if f.owner == owner]
        if owned:
            self.mesh.apply(replace(current, faults=tuple(f for f in current.faults if f.owner != owner)))
        return owned
