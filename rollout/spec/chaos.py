"""Faults and when they are on, as users write them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rollout.spec.base import Percent, SpecModel, Weight
from rollout.spec.durations import Duration
from rollout.spec.traffic import MatchSpec

MAX_DELAY_SECONDS = 60.0
GRPC_STATUSES = (
    "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)  # fmt: skip


class DelaySpec(SpecModel):
    fixed: Duration
    percent: Percent

    @field_validator("fixed")
    @classmethod
    def _sane_delay(cls, value: float) -> float:
        if value < 0.001:
            raise ValueError("a delay must be at least 1ms")
        if value > MAX_DELAY_SECONDS:
            raise ValueError(f"a delay of {value:g}s is above the maximum of {MAX_DELAY_SECONDS:g}s")
        return value


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
    http_status: int | None = None
    grpc_status: str | None = None
    percent: Percent

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
    after: Duration = 0.0  # from the experiment's start
    duration: Duration


class ScheduleSpec(SpecModel):
    cron: str  # five fields: minute hour day-of-month month day-of-week
    duration: Duration

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
    """When a fault is on; with none given, for the whole experiment (up to maxDuration)."""

    steps: list[Weight] | None = Field(default=None, min_length=1)
    window: WindowSpec | None = None
    schedule: ScheduleSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DuringSpec:
        if sum(x is not None for x in (self.steps, self.window, self.schedule)) != 1:
            raise ValueError("give exactly one of steps, window or schedule")
        return self


class FaultSpec(SpecModel):
    delay: DelaySpec | None = None
    abort: AbortSpec | None = None
    arm: Literal["canary", "stable", "both"] = "canary"
    match: list[MatchSpec] = []  # only requests of this cohort; empty: every request on the arm
    during: DuringSpec | None = None
    max_duration: Duration = 900.0

    @model_validator(mode="after")
    def _has_fault(self) -> FaultSpec:
        if self.delay is None and self.abort is None:
            raise ValueError("a fault needs a delay or an abort (or both)")
        if self.max_duration <= 0:
            raise ValueError("maxDuration must be above 0")
        return self


class HaltRuleSpec(SpecModel):
    """Stop every fault the moment this metric's canary value crosses the bound."""

    metric: str
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> HaltRuleSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self


class ProbeSpec(SpecModel):
    """An HTTP check of the steady state: GET ``url`` must answer ``expectStatus`` within ``timeout``."""

    url: str = Field(pattern=r"^https?://")
    expect_status: int = Field(default=200, ge=100, le=599)
    timeout: Duration = 2.0


class ChaosSpec(SpecModel):
    faults: list[FaultSpec] = Field(min_length=1)
    halt_when: list[HaltRuleSpec] = []
    probes: list[ProbeSpec] = []  # HTTP steady-state checks, alongside haltWhen's metric rules
    interval: Duration = 5.0  # how often the steady state is checked while faults are on
    recovery: Duration = 10.0  # after the faults end, wait this long and check the steady state again
    duration: Duration | None = None  # length of a chaos-only experiment

    @field_validator("interval", "recovery")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be above 0")
        return value
