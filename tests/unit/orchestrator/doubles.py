"""In-memory stand-ins for the orchestrator's clock and mesh provider (the real adapters are exercised by
the integration and end-to-end tests)."""

from __future__ import annotations

from collections.abc import Callable

from analysis.verdicts import Judge
from rollout.mesh.plan import TrafficPlan
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricSource
from rollout.spec.models import Experiment
from rollout.store import MemoryStore


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


def drive(
    experiment: Experiment,
    source: Callable[[RecordingProvider], MetricSource],
    judge: Judge,
    steps: int,
    interval: float = 60.0,
) -> tuple[Orchestrator, RecordingProvider]:
    """Start a run of ``experiment`` (its metrics from ``source(provider)``) and judge it every ``interval``
    seconds, ``steps`` times at most or until it ends; the orchestrator and the plans the mesh was given."""
    clock, provider = Clock(), RecordingProvider()
    orchestrator = Orchestrator(experiment, provider, source(provider), judge, MemoryStore(), clock=clock)
    orchestrator.start()
    for _ in range(steps):
        if orchestrator.status.phase.terminal:
            break
        clock.now += interval
        orchestrator.observe()
    return orchestrator, provider
