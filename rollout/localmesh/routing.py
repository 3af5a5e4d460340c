"""What the router does with one request: which arm, which injected faults, whether to mirror. Pure.

Randomness is passed in as ``draw`` (uniform on [0, 1)), so the decisions are deterministic under a
seeded generator and testable without one.

Semantics, after Istio/Envoy:

- A request matching any of ``plan.ab_matches`` (an A/B test's cohort, or a canary's cohort beside
  the weights) goes to the canary; so does one carrying the session cookie of ``plan.affinity`` (the
  sticky route); one carrying stable's cookie (``primary_cookie_name``: a pinned stable) goes to
  stable; the others by weight. A request the weights send to the canary gets the session cookie in
  its response (``sets_cookie``), as Istio's ``headers.response.add`` on the canary destination of
  the weighted route does, and one they send to stable gets stable's cookie when stable is pinned; a
  cohort or sticky request gets none (its route sets no cookie). The routes are tried in the order
  the renderers write them: cohort, the canary's cookie, stable's cookie, the weights.
- ``plan.mirror_percent`` of the requests routed to stable are copied to the canary.
- A fault applies to a request when its arm covers the arm the request was routed to and, if it has
  a cohort, the request matches it. Delay and abort are drawn independently by their percentages;
  the delay comes first, the abort then answers without calling the backend. When several faults
  apply, their delays add up and the first abort drawn wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chaos.faults import Abort, Arm, Fault
from chaos.matching import matches_any
from rollout.mesh.plan import TrafficPlan
from rollout.spec.chaos import abort_http_status_problem

Draw = Callable[[], float]

STABLE = Arm.STABLE.value
CANARY = Arm.CANARY.value

GRPC_CODES: dict[str, int] = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}  # fmt: skip

ABORT_BODY = b"fault filter abort"


@dataclass(frozen=True)
class Injection:
    """The faults drawn for one request."""

    delay_ms: float = 0.0
    abort: Abort | None = None

    @property
    def flags(self) -> tuple[str, ...]:
        """Envoy's response flags for it: ``DI`` (delay injected), ``FI`` (abort injected)."""
        return tuple(flag for flag, on in (("DI", self.delay_ms > 0), ("FI", self.abort is not None)) if on)


NO_INJECTION = Injection()


def flags_text(flags: tuple[str, ...]) -> str:
    """Envoy's rendering of response_flags: comma-separated, ``-`` when there are none."""
    return ",".join(flags) or "-"


@dataclass(frozen=True)
class AbortReply:
    status: int
    headers: dict[str, str]
    body: bytes


def _hits(percent: float, draw: Draw) -> bool:
    return draw() * 100.0 < percent


def is_sticky(plan: TrafficPlan, headers: Mapping[str, str]) -> bool:
    """Whether the request carries this run's session cookie (and the plan keeps sticky users)."""
    return plan.affinity is not None and plan.affinity.match.matches(headers, {})


def is_pinned_to_stable(plan: TrafficPlan, headers: Mapping[str, str]) -> bool:
    """Whether the request carries this run's stable cookie (and the plan pins stable's users)."""
    primary = plan.affinity.primary_match if plan.affinity is not None else None
    return primary is not None and primary.matches(headers, {})


def choose_arm(plan: TrafficPlan, headers: Mapping[str, str], query: Mapping[str, str], draw: Draw) -> str:
    if plan.ab_matches and matches_any(plan.ab_matches, headers, query):
        return CANARY
    if is_sticky(plan, headers):
        return CANARY
    if is_pinned_to_stable(plan, headers):
        return STABLE
    return CANARY if _hits(plan.canary_weight, draw) else STABLE


def sets_cookie(
    plan: TrafficPlan, arm: str, headers: Mapping[str, str], query: Mapping[str, str] | None = None
) -> str | None:
    """The Set-Cookie value for a response of ``arm``: only for requests the weights sent there (to the
    canary; to stable when the plan pins stable too)."""
    if plan.affinity is None or is_sticky(plan, headers) or is_pinned_to_stable(plan, headers):
        return None  # a cookie route, not the weights, sent it
    if plan.ab_matches and matches_any(plan.ab_matches, headers, query or {}):
        return None  # the cohort's route, not the weights, sent it
    return plan.affinity.set_cookie if arm == CANARY else plan.affinity.primary_set_cookie


def should_mirror(plan: TrafficPlan, arm: str, draw: Draw) -> bool:
    return arm == STABLE and plan.mirror_percent > 0 and _hits(plan.mirror_percent, draw)


def fault_applies(fault: Fault, arm: str, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    if not fault.arm.covers(arm):
        return False
    return not fault.cohort or matches_any(fault.cohort, headers, query)


def decide_injection(
    faults: tuple[Fault, ...], arm: str, headers: Mapping[str, str], query: Mapping[str, str], draw: Draw
) -> Injection:
    if not faults:
        return NO_INJECTION
    delay_ms = 0.0
    abort: Abort | None = None
    for fault in faults:
        if not fault_applies(fault, arm, headers, query):
            continue
        if fault.delay is not None and _hits(fault.delay.percent, draw):
            delay_ms += fault.delay.fixed_ms
        if fault.abort is not None and _hits(fault.abort.percent, draw) and abort is None:
            abort = fault.abort
    if delay_ms == 0.0 and abort is None:
        return NO_INJECTION
    return Injection(delay_ms, abort)


def grpc_code(status: str) -> int:
    """Istio spells gRPC statuses by name ("UNAVAILABLE"); a number is accepted too."""
    if status.isdigit():
        return int(status)
    return GRPC_CODES[status.upper()]


def abort_reply(abort: Abort) -> AbortReply:
    """The answer Envoy's fault filter gives: the HTTP status, or a gRPC status in a 200 response."""
    if abort.grpc_status is not None:
        headers = {
            "content-type": "application/grpc",
            "grpc-status": str(grpc_code(abort.grpc_status)),
            "grpc-message": ABORT_BODY.decode(),
        }
        return AbortReply(200, headers, b"")
    assert abort.http_status is not None  # validate_plan holds every applied plan to this
    return AbortReply(abort.http_status, {"content-type": "text/plain"}, ABORT_BODY)


def plan_problems(plan: TrafficPlan) -> list[str]:
    """What the embedded mesh cannot carry out in ``plan`` (empty: it can)."""
    problems: list[str] = []
    for fault in plan.faults:
        problems.extend(f"fault {fault.id!r}: {p}" for p in _fault_problems(fault))
    return problems


def _fault_problems(fault: Fault) -> list[str]:
    problems: list[str] = []
    if fault.delay is not None:
        if fault.delay.fixed_ms < 0:
            problems.append(f"delay must be >= 0 ms, got {fault.delay.fixed_ms}")
        if not 0 <= fault.delay.percent <= 100:
            problems.append(f"delay percent must be within 0..100, got {fault.delay.percent}")
    if fault.abort is not None:
        problems.extend(_abort_problems(fault.abort))
    return problems


def _abort_problems(abort: Abort) -> list[str]:
    problems: list[str] = []
    if (abort.http_status is None) == (abort.grpc_status is None):
        problems.append("an abort needs exactly one of http_status or grpc_status")
    if abort.http_status is not None and (problem := abort_http_status_problem(abort.http_status)) is not None:
        problems.append(problem)  # the spec's own rule: a plan the spec refuses is refused here too
    if abort.grpc_status is not None and not (abort.grpc_status.isdigit() or abort.grpc_status.upper() in GRPC_CODES):
        problems.append(f"unknown gRPC status {abort.grpc_status!r} (use a name such as UNAVAILABLE)")
    if not 0 <= abort.percent <= 100:
        problems.append(f"abort percent must be within 0..100, got {abort.percent}")
    return problems
