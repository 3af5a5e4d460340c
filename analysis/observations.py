"""What the engines judge: per-step, per-arm samples of each metric.

Pure data. Counts are increases over one step (a window between two decisions), as
Prometheus's ``increase()`` gives them; histogram buckets are cumulative ``le`` counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class MetricKind(StrEnum):
    """How a metric's samples are read and tested."""

    ERRORS = "errors"  # bad events among requests (error counts)
    LATENCY = "latency"  # histogram bucket counts
    GAUGE = "gauge"  # sampled values (CPU, memory, queue depth)


class Direction(StrEnum):
    """Which way a change in the canary is bad."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


@dataclass(frozen=True)
class ArmSample:
    """One arm's data for one metric over one step.

    ``buckets`` are cumulative ``(le, count)`` pairs sorted by ``le``; ``+Inf`` may close the list.
    ``gauges`` are raw samples of a gauge in the step (in time order).
    """

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()
    gauges: tuple[float, ...] = ()

    def problems(self) -> list[str]:
        """Return what is wrong with this sample (empty when it is usable)."""
        found: list[str] = []
        for label, value in (("requests", self.requests), ("errors", self.errors)):
            if math.isnan(value) or math.isinf(value):
                found.append(f"{label} is {value}")
            elif value < 0:
                found.append(f"{label} is negative ({value:g}); a counter reset was not handled")
        if self.errors > self.requests and not math.isnan(self.errors):
            found.append(f"errors ({self.errors:g}) exceed requests ({self.requests:g})")
        previous = -math.inf
        previous_count = 0.0
        for le, count in self.buckets:
            if math.isnan(le) or math.isnan(count):
                found.append("a histogram bucket is NaN")
                break
            if le <= previous:
                found.append(f"bucket edges are not increasing at le={le:g}")
                break
            if count < previous_count:
                found.append(f"buckets are not monotone at le={le:g} ({count:g} < {previous_count:g})")
                break
            if count < 0:
                found.append(f"bucket le={le:g} has a negative count")
                break
            previous, previous_count = le, count
        if any(math.isnan(g) or math.isinf(g) for g in self.gauges):
            found.append("a gauge sample is NaN or infinite")
        return found


@dataclass(frozen=True)
class MetricPair:
    """Stable and canary samples of one metric in one step."""

    stable: ArmSample
    canary: ArmSample


@dataclass(frozen=True)
class StepWindow:
    """Everything observed in one step: its time span, the canary's traffic share, each metric."""

    index: int
    start: float  # seconds since the epoch
    end: float
    canary_weight: float  # percent of traffic routed to the canary during the step, 0..100
    metrics: Mapping[str, MetricPair] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class MetricSpec:
    """A metric as an engine sees it (the user's spec is translated into this by the rollout side).

    ``margin`` is the relative change that matters: for errors and latency exceedances a ratio
    ``1 + margin``; for gauges an absolute difference in the metric's own unit.
    ``latency_edges`` names the bucket edges (same unit as ``le``) whose exceedances are tested;
    empty means every finite edge with enough data.
    ``min_value``/``max_value`` are the threshold engine's ranges on the canary's aggregate.
    ``absolute_margin`` (ERRORS, LATENCY) also accepts a canary whose error rate, or share of requests
    slower than each promotion edge, is provably within that many rate units of stable's: the practical
    margin when such events are too rare to bound a ratio.
    """

    name: str
    kind: MetricKind
    margin: float = 0.1
    direction: Direction = Direction.INCREASE
    critical: bool = False
    weight: float = 1.0
    latency_edges: tuple[float, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    quantile: float = 0.99
    absolute_margin: float | None = None  # a tolerated rise in the rate itself (0.005 = 0.5 points)
    unit: str = ""  # of latency edges (the le label) or gauge values, as sentences show them: "ms"


@dataclass(frozen=True)
class EngineConfig:
    """Settings the engines read: every engine the first ones, only the threshold engine ``failure_threshold``."""

    metrics: Sequence[MetricSpec]
    alpha: float = 0.01  # family-wise false-rollback level over metrics and time
    alpha_promote: float = 0.05  # per-guardrail level of the non-inferiority confidence sequence
    min_requests: int = 500  # canary requests needed before any promotion
    srm_alpha: float = 0.001  # sample-ratio-mismatch gate
    srm_tolerance: float = 0.1  # the gate flags a canary's routing odds beyond (1 ± this) x its weight's
    failure_threshold: int | None = None  # the threshold engine's failed checks before a rollback; None: its default
