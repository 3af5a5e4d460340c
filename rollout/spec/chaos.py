"""Faults and when they are on, as users write them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaos.steady_state import DEFAULT_MIN_REQUESTS
from rollout.spec.base import Percent, SpecModel, Weight
from rollout.spec.durations import DelayDuration, Duration
from rollout.spec.traffic import MatchSpec

GRPC_STATUSES = (
    "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)  # fmt: skip


class DelaySpec(SpecModel):
    """A delay added to a share of the requests before they are forwarded."""

    fixed: DelayDuration
    """How long each delayed request is held, with its unit: 1ms to 60s, e.g. 300ms (a bare number is refused:
    write 50ms or 50s)."""
    percent: Percent
    """The share of the fault's requests that are delayed, in percent: above 0, at most 100."""


ABORT_HTTP_STATUSES = range(400, 600)  # the error statuses an abort answers: the spec's rule and the embedded mesh's


def abort_http_status_problem(status: int) -> str | None:
    """Why an abort cannot answer HTTP ``status`` (None: it can). An error status only: an abort answering 200
    (or a redirect) injects no fault while the run says it does."""
    if status in ABORT_HTTP_STATUSES:
        return None
    first, last = ABORT_HTTP_STATUSES[0], ABORT_HTTP_STATUSES[-1]
    if 100 <= status < first:
        return (
            f"HTTP status {status} is not an error, so an abort answering it injects no fault; "
            f"use one within {first}..{last}, like 503"
        )
    return f"HTTP status {status} is outside {first}..{last}, the error statuses an abort answers; use one like 503"


class AbortSpec(SpecModel):
    """An abort: a share of the requests is answered with an error at once, without reaching the backend."""

    http_status: int | None = None
    """The HTTP status the aborted requests get, an error from 400 to 599, e.g. 503. Give this or grpcStatus."""
    grpc_status: str | None = None
    """The gRPC status the aborted requests get, by name in capitals, e.g. UNAVAILABLE (not OK, not a number).
    Give this or httpStatus."""
    percent: Percent
    """The share of the fault's requests that are aborted, in percent: above 0, at most 100."""

    @field_validator("http_status")
    @classmethod
    def _http_status_range(cls, value: int | None) -> int | None:
        problem = abort_http_status_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("grpc_status", mode="before")
    @classmethod
    def _grpc_code_number(cls, value: object) -> object:
        """``grpcStatus: 14`` is refused below with the name to write, not as "not text"."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("grpc_status")
    @classmethod
    def _grpc_status_name(cls, value: str | None) -> str | None:
        if value is None or value in GRPC_STATUSES:
            return value
        if value.upper() == "OK" or value == "0":
            raise ValueError(
                f"{value!r} is gRPC's success, so an abort answering it injects no fault; "
                "use a failure (codes 1..16), like UNAVAILABLE"
            )
        if value.isdigit() and 1 <= int(value) <= len(GRPC_STATUSES):
            name = GRPC_STATUSES[int(value) - 1]
            raise ValueError(f"{value!r} is gRPC code {value}: write its name, {name} (meshes take names, not numbers)")
        if value.upper() in GRPC_STATUSES:
            raise ValueError(
                f"{value!r} is not a gRPC status as meshes spell it; write it in capitals, {value.upper()}"
            )
        raise ValueError(f"{value!r} is not a gRPC status; use one of {', '.join(GRPC_STATUSES)}")

    @model_validator(mode="after")
    def _one_status(self) -> AbortSpec:
        if (self.http_status is None) == (self.grpc_status is None):
            raise ValueError("give exactly one of httpStatus or grpcStatus")
        return self


class WindowSpec(SpecModel):
    """A time window, counted from the run's start."""

    after: Duration = 0.0
    """How long after the run's start the window opens, e.g. 2m; default 0s."""
    duration: Duration
    """How long the window stays open, e.g. 5m (at most the fault's maxDuration counts)."""


class ScheduleSpec(SpecModel):
    """A cron schedule: the fault comes on each time it fires."""

    cron: str
    """A standard five-field crontab line in UTC (minute hour day-of-month month day-of-week), e.g.
    "0 10 * * 1-5" (10:00 on weekdays)."""
    duration: Duration
    """How long the fault stays on each time the schedule fires, e.g. 5m (at most the fault's maxDuration)."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from chaos.timing import cron_trigger

        try:
            cron_trigger(value)
        except ValueError as exc:
            message = f"{value!r} is not a cron expression ({exc}); write five fields like '0 10 * * 1-5'"
            raise ValueError(message) from None
        return value


class DuringSpec(SpecModel):
    """When a fault is on: give exactly one of steps, window or schedule."""

    steps: list[Weight] | None = Field(default=None, min_length=1)
    """Canary weights in percent, each a step of strategy.canary's schedule; the fault is on during those
    steps, e.g. [10, 25]."""
    window: WindowSpec | None = None
    """One time window, counted from the run's start."""
    schedule: ScheduleSpec | None = None
    """A cron schedule (UTC), each firing turning the fault on for its duration."""

    @model_validator(mode="after")
    def _one_kind(self) -> DuringSpec:
        if sum(x is not None for x in (self.steps, self.window, self.schedule)) != 1:
            raise ValueError("give exactly one of steps, window or schedule")
        return self


class FaultSpec(SpecModel):
    """A fault meshroll injects (a delay, an abort, or both), on an arm, for a cohort, at given times."""

    delay: DelaySpec | None = None
    """A delay to add to requests. A fault needs a delay, an abort, or both."""
    abort: AbortSpec | None = None
    """An error to answer requests with. A fault needs a delay, an abort, or both."""
    arm: Literal["canary", "stable", "both"] = "canary"
    """Which version's requests the fault hits: canary (the default), stable or both. On Istio, a fault on one
    arm needs a match, as Istio faults a whole route."""
    match: list[MatchSpec] = []
    """Only requests matching any of these entries (a cohort) are hit; empty (the default): every request on
    the arm."""
    during: DuringSpec | None = None
    """When the fault is on: during canary steps, in a time window, or on a cron schedule. Unset: from the
    run's start, for maxDuration."""
    max_duration: Duration = 900.0
    """The longest the fault is on: from the run's start (or, with a window or a schedule, each time it comes
    on), e.g. 10m; default 15m."""

    @model_validator(mode="after")
    def _has_fault(self) -> FaultSpec:
        if self.delay is None and self.abort is None:
            raise ValueError("a fault needs a delay or an abort (or both)")
        if self.max_duration <= 0:
            raise ValueError("maxDuration must be above 0")
        return self


class HaltRuleSpec(SpecModel):
    """A steady-state rule: every fault stops the moment this metric, as callers see it on the arms under fault,
    crosses its bound over at least minRequests requests."""

    metric: str
    """The name of a metric in spec.analysis.metrics. Its value is an error rate (a proportion), a latency at
    the metric's quantile, or a gauge's mean."""
    above: float | None = None
    """Halt when the value rises above this, e.g. 0.05 for an error rate of 5%. Give above or below."""
    below: float | None = None
    """Halt when the value falls below this. Give above or below."""
    min_requests: int = Field(default=DEFAULT_MIN_REQUESTS, ge=1, le=1_000_000_000)
    """The fewest requests the value is measured over before the rule can halt (fewer: not enough requests
    yet, neither broken nor holding; the rule waits for more), at least 1; default 50. An error rate counts
    its requests, a latency the requests it timed; a gauge's value is a reading, so this does not apply."""

    @model_validator(mode="after")
    def _one_bound(self) -> HaltRuleSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self


class ProbeSpec(SpecModel):
    """An HTTP check of the steady state: a GET of the URL must answer the expected status in time."""

    url: str = Field(pattern=r"^https?://")
    """The URL to GET, http:// or https://, e.g. http://checkout.shop/healthz."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """The HTTP status the probe must get, from 100 to 599; default 200."""
    timeout: Duration = 2.0
    """How long the probe waits for the answer, e.g. 500ms; default 2s."""


class ChaosSpec(SpecModel):
    """Faults to inject and the steady state that must hold while they are on."""

    faults: list[FaultSpec] = Field(min_length=1)
    """The faults to inject, at least one. Only on istio and local."""
    halt_when: list[HaltRuleSpec] = []
    """Rules on metrics: the moment one is broken, every fault stops and the run ends (a canary or A/B test
    is rolled back, a mirror or chaos-only drill aborted). A run whose steady state is already broken does not
    start."""
    probes: list[ProbeSpec] = []
    """HTTP checks of the steady state, beside haltWhen's rules: a failing one stops every fault."""
    interval: Duration = 5.0
    """How often the steady state (haltWhen, probes) is checked while faults are on; default 5s."""
    recovery: Duration = 10.0
    """After the faults end, how long to wait before the steady state is checked again; default 10s."""
    duration: Duration | None = None
    """The length of a chaos-only experiment (one without a strategy), e.g. 10m; required for one."""

    @field_validator("interval", "recovery")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be above 0")
        return value
