"""Small builders shared by the engine tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.sequential.workload import Arms, simulate_steps
from analysis.verdicts import Decision, Judge, Outcome

ERRORS = MetricSpec("errors", MetricKind.ERRORS, margin=0.1, critical=True)
LATENCY = MetricSpec("latency", MetricKind.LATENCY, margin=0.1)
GAUGE = MetricSpec("cpu", MetricKind.GAUGE, margin=5.0)


def config(*specs: MetricSpec, **settings: float) -> EngineConfig:
    return EngineConfig(metrics=specs, **settings)  # type: ignore[arg-type]


def run(
    seed: int,
    steps: int,
    *,
    weight: float = 10.0,
    rps: float = 20.0,
    arms: Arms = Arms(),
    kinds: Sequence[tuple[str, MetricKind]] = (("errors", MetricKind.ERRORS),),
    onset: int = 0,
) -> tuple[StepWindow, ...]:
    return simulate_steps(np.random.default_rng(seed), [weight] * steps, rps, arms=arms, kinds=kinds, onset=onset)


def first_look(judge: Judge, steps: Sequence[StepWindow], cfg: EngineConfig, outcome: Outcome) -> int | None:
    """The number of steps after which the engine first answers ``outcome`` (called after every step)."""
    for k in range(1, len(steps) + 1):
        if judge.judge(steps[:k], cfg).outcome is outcome:
            return k
    return None


def step(index: int, metrics: dict[str, MetricPair], weight: float = 10.0) -> StepWindow:
    return StepWindow(index, 60.0 * index, 60.0 * (index + 1), weight, metrics)


def errors_pair(stable: tuple[float, float], canary: tuple[float, float]) -> MetricPair:
    """(requests, errors) per arm."""
    return MetricPair(ArmSample(requests=stable[0], errors=stable[1]), ArmSample(requests=canary[0], errors=canary[1]))


def reasons(decision: Decision) -> str:
    return decision.reason + " | " + " | ".join(m.reason for m in decision.metrics)
