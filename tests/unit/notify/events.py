"""An experiment's notifications as the orchestrator hands them over: (experiment, status, note)."""

from __future__ import annotations

from pathlib import Path

from rollout.events import Command, Halt, Judged, MetricNumbers, Start
from rollout.machine import Notify
from rollout.spec import Experiment, load_experiment
from rollout.status import Phase, Source, Status, Traffic

REPO = Path(__file__).resolve().parents[3]
SHA = "3f9a1c2e7b4d5f60718293a4b5c6d7e8f9012345"


def experiment() -> Experiment:
    return load_experiment(REPO / "experiments" / "demo-healthy.yaml")


def source() -> Source:
    return Source(commit=SHA, author="Ann Example <ann@example.com>", message="Canary checkout v2\n\nDetails.",
                  repo="https://git.example/shop/deploy.git", path="experiments/checkout.yaml")  # fmt: skip


def status(phase: Phase = Phase.PROGRESSING, weight: int = 10, step: int = 0, started_at: float = 1000.0) -> Status:
    return Status(phase=phase, step=step, traffic=Traffic(canary_weight=weight), started_at=started_at,
                  updated_at=started_at + 60, source=source())  # fmt: skip


ERROR_RATE = MetricNumbers(
    metric="error-rate", outcome="advance", reason="non-inferiority proven", estimate=1.0213,
    interval=(0.8731, 1.1942), e_value=152.7, stable_n=48210, canary_n=5120, stable_value=0.0021,
    canary_value=0.00215, threshold=1.5, critical=True,
)  # fmt: skip
LATENCY = MetricNumbers(
    metric="latency", outcome="rollback", reason="slower than 50ms: 12.1% vs 7.4%", estimate=1.64,
    interval=(1.31, 2.05), p_value=0.00031, stable_n=48210, canary_n=5120,
)  # fmt: skip


def started() -> Notify:
    return Notify("started", "Experiment started", "started", Start())


def advanced() -> Notify:
    event = Judged(outcome="advance", engine="sequential", reason="error-rate: no worse", metrics=(ERROR_RATE,))
    return Notify("advanced", "Canary weight 10% -> 25%", "error-rate: no worse", event)


def rolled_back() -> Notify:
    event = Judged(outcome="rollback", engine="sequential", reason="latency regressed", metrics=(ERROR_RATE, LATENCY))
    return Notify("rolled-back", "Rolled back", "latency regressed beyond the 20% margin", event)


def succeeded() -> Notify:
    return Notify("succeeded", "Promoted", "canary no worse on every metric", Judged(
        outcome="advance", engine="sequential", reason="all metrics no worse", metrics=(ERROR_RATE,)))  # fmt: skip


def halted() -> Notify:
    return Notify(
        "aborted", "Halted", "steady state broken: error-rate above 0.05", Halt(reason="error-rate above 0.05")
    )


def inconclusive() -> Notify:
    event = Judged(outcome="inconclusive", engine="sequential", reason="no decision by maxDuration", metrics=())
    return Notify("inconclusive", "Inconclusive", "no decision by maxDuration (1h)", event)


def paused() -> Notify:
    return Notify("paused", "Paused", "paused (alice)", Command(command="pause", by="alice"))
