"""What the engines answer: a decision with, per metric, the numbers behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from analysis.observations import EngineConfig, StepWindow


class Outcome(StrEnum):
    """An engine's answer after a step (and per metric)."""

    ROLLBACK = "rollback"  # a regression is proven
    ADVANCE = "advance"  # non-inferiority is proven; the canary may take more traffic
    HOLD = "hold"  # not yet known; keep the weights and gather more data
    INCONCLUSIVE = "inconclusive"  # the deadline came with no answer


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's verdict and the numbers a person needs to trust it."""

    metric: str
    outcome: Outcome
    reason: str
    estimate: float | None = None  # e.g. the canary/stable rate ratio
    interval: tuple[float, float] | None = None  # confidence sequence (or an engine's interval) on the estimate
    e_value: float | None = None  # evidence of regression (rollback at >= 1/alpha_m)
    p_value: float | None = None  # anytime p-value (1/max e) or the engine's own p-value
    threshold: float | None = None  # the level the evidence is compared with
    stable_n: float = 0.0  # sample sizes (requests or samples) behind the verdict
    canary_n: float = 0.0
    stable_value: float | None = None  # aggregate values, for people (error rate, p99, mean)
    canary_value: float | None = None
    critical: bool = False
    edge: str = ""
    """A latency metric's bucket edge that ``estimate``, ``interval`` and the values are for ("25 ms": the share of
    requests slower than it); empty for other metrics."""
    edges: int = 0
    """The edges a latency metric tests; with more than one, ``e_value`` and ``p_value`` are of the mean of their
    e-processes, not of ``edge`` alone."""
    margin_at: tuple[float, ...] = ()
    """Where the metric's margin lies on the scale of ``estimate`` (1.2 for a ratio with a 20% margin; two values
    when either direction is bad); empty when the engine does not say."""


@dataclass(frozen=True)
class Decision:
    """The engine's answer for the whole experiment after a step."""

    outcome: Outcome
    reason: str
    engine: str
    metrics: tuple[MetricVerdict, ...] = field(default_factory=tuple)
    blocked: bool = False
    """A HOLD because the latest step could not be judged at all: a metric missing from it, bad data, an
    arm with no requests, a traffic split off its weight, an unusable configuration, a failing engine.
    The run holds its weights on it, as on no data, rather than counting it as "no regression"."""
    adverse: bool = False
    """A HOLD on evidence against the canary that is not yet enough to roll it back: a threshold engine's
    failed check short of its threshold, a Kayenta score below pass. The run keeps its weights whatever its
    step gate (Flagger halts advancement on a failed check; Argo pauses on an inconclusive Kayenta run);
    it is not "no regression"."""
    canary_requests: float | None = None
    """The requests the canary served over every step judged, as the engine counted them against
    ``EngineConfig.min_requests``: the rollout promotes only when it reaches ``minRequests``. None when the
    engine does not say (a plugin may leave it): the rollout then takes the largest verdict's ``canary_n``."""

    def metric(self, name: str) -> MetricVerdict | None:
        return next((m for m in self.metrics if m.metric == name), None)


class Judge(Protocol):
    """Reads every step so far and decides. Pure: no I/O, no clock."""

    name: str

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        """Judge the experiment on ``steps`` (oldest first).

        ``final`` is True when the experiment reached its maximum duration: an engine that
        cannot decide then answers INCONCLUSIVE instead of HOLD.
        Never raises on bad data: a HOLD with a reason naming the problem instead.
        """
        ...
