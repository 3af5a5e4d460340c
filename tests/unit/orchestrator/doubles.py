"""In-memory stand-ins for the orchestrator's clock and mesh provider (the real adapters are exercised by
the integration and end-to-end tests)."""

from __future__ import annotations

from rollout.mesh.plan import TrafficPlan


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class RecordingProvider:
    """Records every plan applied; the first ``fail_times`` applies fail as a mesh API that is down."""

    def __init__(self, fail_times: int = 0) -> None:
        self.plans: list[TrafficPlan] = []
        self.fail_times = fail_times

    def apply(self, plan: TrafficPlan) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("the mesh API is down")
        self.plans.append(plan)

    def sweep(self, owner: str) -> list[str]:
        return []
