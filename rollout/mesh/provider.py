"""What the orchestrator needs from a traffic provider."""

from __future__ import annotations

from typing import Protocol

from rollout.mesh.plan import TrafficPlan


class TrafficProvider(Protocol):
    """Applies traffic plans for one experiment, touching only what meshroll owns."""

    def apply(self, plan: TrafficPlan) -> None:
        """Make the mesh hold ``plan``. Idempotent. Raises MeshError when it cannot."""
        ...

    def sweep(self, owner: str) -> list[str]:
        """Remove faults marked as owned by ``owner`` that no plan asked for; return their ids."""
        ...
