"""Halt rules read a sample big enough to mean something: one error in four requests is not a broken
steady state, and a rule short of its minimum says so instead of halting (or passing) the run."""

from __future__ import annotations

import math

from analysis.observations import ArmSample, MetricKind, MetricPair
from chaos.steady_state import DEFAULT_MIN_REQUESTS, Breach, HaltRule, assess, recovery_verdict

ERRORS = HaltRule("error-rate", MetricKind.ERRORS, above=0.05)
CANARY = frozenset({"canary"})


def breaches(rules: tuple[HaltRule, ...], readings: dict[str, MetricPair], arms: frozenset[str]) -> list[Breach]:
    """The rules ``readings`` break: a rule short of its sample, or with no reading, is not broken."""
    return list(assess(rules, readings, arms).breaches)


def errors(stable: tuple[float, float], canary: tuple[float, float]) -> dict[str, MetricPair]:
    return {"error-rate": MetricPair(ArmSample(*stable), ArmSample(*canary))}


def test_one_error_in_four_requests_does_not_halt_the_faults() -> None:
    """The probe's case: a healthy canary (1% errors) whose first four requests held one error."""
    assert breaches((ERRORS,), errors((36, 0), (4, 1)), CANARY) == []


def test_a_rule_short_of_its_minimum_says_not_enough_requests_yet() -> None:
    found = assess((ERRORS,), errors((36, 0), (4, 1)), CANARY)
    assert found.breaches == ()
    (short,) = found.short
    assert short.requests == 4
    assert short.sentence == f"error-rate on canary: not enough requests (4 of the {DEFAULT_MIN_REQUESTS} it needs)"


def test_a_broken_arm_with_enough_requests_halts() -> None:
    (breach,) = breaches((ERRORS,), errors((540, 5), (60, 30)), CANARY)
    assert breach.sentence == "error-rate on canary is 0.5, above 0.05 (over 60 requests)"


def test_the_default_minimum_is_fifty_requests() -> None:
    assert DEFAULT_MIN_REQUESTS == 50
    assert breaches((ERRORS,), errors((0, 0), (49, 25)), CANARY) == []
    assert len(breaches((ERRORS,), errors((0, 0), (50, 25)), CANARY)) == 1


def test_a_rule_has_its_own_minimum() -> None:
    rule = HaltRule("error-rate", MetricKind.ERRORS, above=0.05, min_requests=10)
    assert len(breaches((rule,), errors((0, 0), (12, 3)), CANARY)) == 1
    assert breaches((rule,), errors((0, 0), (9, 3)), CANARY) == []


def test_a_rule_on_all_traffic_counts_both_arms() -> None:
    both = frozenset({"stable", "canary"})
    (breach,) = breaches((ERRORS,), errors((30, 3), (30, 3)), both)
    assert breach.requests == 60 and breach.arm == "all traffic"


def test_a_latency_rule_counts_the_requests_its_histogram_timed() -> None:
    slow = HaltRule("latency", MetricKind.LATENCY, above=1000.0)

    def timed(n: float) -> dict[str, MetricPair]:
        buckets = ((100.0, 0.0), (5000.0, n), (math.inf, n))
        return {"latency": MetricPair(ArmSample(), ArmSample(requests=0.0, buckets=buckets))}

    assert breaches((slow,), timed(10), CANARY) == []
    assert assess((slow,), timed(10), CANARY).short[0].requests == 10
    (breach,) = breaches((slow,), timed(80), CANARY)
    assert breach.requests == 80


def test_a_gauge_rule_is_read_whatever_the_traffic() -> None:
    """A gauge (CPU, queue depth) is a reading of the system, not a share of requests: no minimum."""
    busy = HaltRule("cpu", MetricKind.GAUGE, above=0.9)
    readings = {"cpu": MetricPair(ArmSample(), ArmSample(gauges=(0.95, 0.97)))}
    assert len(breaches((busy,), readings, CANARY)) == 1
    assert assess((busy,), {"cpu": MetricPair(ArmSample(), ArmSample())}, CANARY).short  # no reading: unknown


def test_no_requests_at_all_is_neither_a_breach_nor_a_pass() -> None:
    found = assess((ERRORS,), errors((0, 0), (0, 0)), CANARY)
    assert found.breaches == () and len(found.short) == 1
    assert assess((ERRORS,), {}, CANARY).short, "a rule with no reading cannot vouch for the steady state"


def test_recovery_on_one_stray_request_is_unknown_not_a_failure() -> None:
    """After a rollback the canary has weight 0: one stray request must not decide the recovery."""
    verdict, sentence = recovery_verdict(assess((ERRORS,), errors((0, 0), (1, 1)), CANARY), [], 10.0)
    assert verdict == "unknown"
    assert sentence.startswith("could not tell whether the steady state recovered: error-rate on canary")


def test_recovery_verdicts() -> None:
    held = recovery_verdict(assess((ERRORS,), errors((600, 6), (0, 0)), frozenset({"stable"})), [], 10.0)
    assert held == ("recovered", "steady state holds on stable 10s after the faults ended")
    broken = recovery_verdict(assess((ERRORS,), errors((600, 60), (0, 0)), frozenset({"stable"})), [], 10.0)
    assert broken[0] == "not recovered" and "error-rate on stable is 0.1, above 0.05" in broken[1]
    probe = recovery_verdict(assess((), {}, frozenset({"stable"})), ["probe http://x failed: 503"], 10.0)
    assert probe == ("not recovered", "not recovered: probe http://x failed: 503")
