"""What can happen to an experiment: the machine's inputs, recorded in its history."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel


class EventModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class MetricNumbers(EventModel):
    """One metric's verdict with its numbers, as recorded."""

    metric: str
    outcome: str
    reason: str
    estimate: float | None = None
    # the confidence sequence (or an engine's interval); an unbounded end is -inf or inf: null in JSON
    interval: tuple[float, float] | None = None
    e_value: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    stable_n: float = 0.0
    canary_n: float = 0.0
    stable_value: float | None = None
    canary_value: float | None = None
    critical: bool = False
    # a latency metric's bucket edge that the estimate, interval and values are for ("25 ms": requests slower than it)
    edge: str | None = None
    # the edges a latency metric tests; with more than one, eValue and pValue are of the mean over them
    edges: int | None = None
    # where the margin lies on the estimate's scale (1.2: a ratio with a 20% margin); two values for direction either
    margin_at: tuple[float, ...] | None = None

    @property
    def subject(self) -> str:
        """The metric as its numbers are read: a latency metric with its edge, ``latency (> 25 ms)``."""
        return f"{self.metric} (> {self.edge})" if self.edge else self.metric

    @property
    def mean_of(self) -> str:
        """What the e-value is of, when it is not the shown edge's own: `` (mean over 2 edges)``."""
        return f" (mean over {self.edges} edges)" if self.edges is not None and self.edges > 1 else ""

    @field_validator("interval", mode="before")
    @classmethod
    def _unbounded_ends(cls, value: object) -> object:
        """JSON holds no infinity, so a stored status has null for an unbounded end: read it back as one."""
        if isinstance(value, list | tuple) and len(value) == 2:
            low, high = value
            return (-math.inf if low is None else low, math.inf if high is None else high)
        return value


def interval_name(engine: str) -> str:
    """What an engine's interval is called where people read it: the sequential engine's is a confidence sequence
    (CS), valid at every look; Kayenta's a fixed-sample confidence interval (CI); a plugin's, an interval."""
    return {"sequential": "CS", "kayenta": "CI"}.get(engine, "interval")


class Start(EventModel):
    type: Literal["start"] = "start"


class Judged(EventModel):
    """The engine's decision after a step."""

    type: Literal["judged"] = "judged"
    outcome: Literal["rollback", "advance", "hold", "inconclusive"]
    engine: str
    reason: str
    metrics: tuple[MetricNumbers, ...] = ()
    blocked: bool = False  # a hold because the step could not be judged at all: the weights stay, as on no data
    adverse: bool = False  # a hold on evidence against the canary, short of a rollback: the weights stay
    # percent of the step's requests the canary served, where that is not its weight (sticky users, a cohort,
    # an A/B test, a mirror): how much it was really exposed
    canary_share: float | None = None
    # the requests the canary served over the steps judged, as the engine counted them for minRequests; None: the
    # engine did not say, and the largest metric's canary_n stands in (readiness.canary_requests)
    canary_requests: float | None = None


class NoData(EventModel):
    type: Literal["no-data"] = "no-data"
    reason: str


class MetricsUnavailable(EventModel):
    type: Literal["metrics-unavailable"] = "metrics-unavailable"
    reason: str


class Tick(EventModel):
    """Time passed (a fault window opened or closed, or a deadline came) with nothing to judge."""

    type: Literal["tick"] = "tick"


class Command(EventModel):
    """An operator's command."""

    type: Literal["command"] = "command"
    command: Literal["pause", "resume", "promote", "abort"]
    by: str = "operator"
    reason: str = ""


class Halt(EventModel):
    """Faults must stop now: a steady-state check broke, or an operator pulled the kill switch.

    A broken steady state rolls a canary back; an operator's halt only removes the faults, for good.
    """

    type: Literal["halt"] = "halt"
    reason: str
    operator: bool = False


class Applied(EventModel):
    """The mesh now holds the recorded traffic intent."""

    type: Literal["applied"] = "applied"


Event = Annotated[
    Start | Judged | NoData | MetricsUnavailable | Tick | Command | Halt | Applied, Field(discriminator="type")
]
