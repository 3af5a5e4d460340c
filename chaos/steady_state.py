"""Steady-state hypotheses: rules on metrics (and HTTP probes) that must hold before, during and
after fault injection. Pure: readings in, breaches out.

A rule reads a sample big enough to mean something: one error in four requests is a rate of 25% and
says nothing about a service erring 1% of the time. Below its ``min_requests`` a rule is "not enough
requests yet", neither broken nor holding. The minimum counts what the value is measured over: the
requests of an error rate, the requests a latency histogram timed. A gauge (CPU, memory, queue depth)
is a reading of the system, not a share of requests, so no minimum applies to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from analysis.aggregates import combined, value
from analysis.observations import ArmSample, MetricKind, MetricPair

# The default minimum sample of a rule. At 50 requests one error moves an error rate by 2 points, so a
# 5% bound needs 3 errors to break, which an arm erring 1% of the time gives in about 1.4% of windows
# (with 4 requests, one error is 25%); an arm erring 50% of the time breaks it in all but ~1e-11 of them.
# And 50 is what the embedded mesh's default load (150 requests/s) sends a canary at 10% within one
# default interval (5s: 75 requests), so at the usual settings the minimum does not delay a halt.
DEFAULT_MIN_REQUESTS = 50


@dataclass(frozen=True)
class HaltRule:
    """Stop every fault when ``metric`` (on the arms under fault) goes above or below a bound, measured
    over at least ``min_requests`` requests (not for a gauge)."""

    metric: str
    kind: MetricKind
    above: float | None = None
    below: float | None = None
    quantile: float = 0.99
    min_requests: int = DEFAULT_MIN_REQUESTS


@dataclass(frozen=True)
class Breach:
    rule: HaltRule
    observed: float
    arm: str
    requests: float

    @property
    def sentence(self) -> str:
        bound = f"above {self.rule.above:g}" if self.rule.above is not None else f"below {self.rule.below:g}"
        return f"{self.rule.metric} on {self.arm} is {self.observed:.4g}, {bound} (over {self.requests:.0f} requests)"


@dataclass(frozen=True)
class Shortfall:
    """A rule that cannot tell yet: fewer requests than its minimum, or no reading at all."""

    rule: HaltRule
    arm: str
    requests: float

    @property
    def sentence(self) -> str:
        if self.rule.kind is MetricKind.GAUGE or self.requests >= self.rule.min_requests:
            return f"{self.rule.metric} on {self.arm}: no reading"
        needs = f"{self.requests:.0f} of the {self.rule.min_requests} it needs"
        return f"{self.rule.metric} on {self.arm}: not enough requests ({needs})"


@dataclass(frozen=True)
class Assessment:
    """What the rules say of one span: the broken ones, and those that cannot tell yet."""

    breaches: tuple[Breach, ...] = ()
    short: tuple[Shortfall, ...] = ()
    arm: str = ""  # what the rules watched: "stable", "canary" or "all traffic" ("": no rule)


def sample_size(kind: MetricKind, sample: ArmSample) -> float | None:
    """How many requests a rule's value is measured over; None for a gauge, whose readings are not requests."""
    if kind is MetricKind.ERRORS:
        return sample.requests
    if kind is MetricKind.LATENCY:
        closed = sample.buckets and math.isinf(sample.buckets[-1][0])
        return sample.buckets[-1][1] if closed else sample.requests
    return None


def _watched(pair: MetricPair, arms: frozenset[str]) -> ArmSample:
    if arms == {"stable"}:
        return pair.stable
    if arms == {"canary"}:
        return pair.canary
    return combined(pair.stable, pair.canary)


def _arm_name(arms: frozenset[str]) -> str:
    return next(iter(arms)) if len(arms) == 1 else "all traffic"


def assess(rules: tuple[HaltRule, ...], readings: Mapping[str, MetricPair], arms: frozenset[str]) -> Assessment:
    """The rules that ``readings`` break, and those short of their sample, watching ``arms`` ("stable",
    "canary"; both: all traffic). No arm watched: nothing to say."""
    found: list[Breach] = []
    short: list[Shortfall] = []
    if not arms or not rules:
        return Assessment()
    arm = _arm_name(arms)
    for rule in rules:
        pair = readings.get(rule.metric)
        if pair is None:
            short.append(Shortfall(rule, arm, 0.0))
            continue
        sample = _watched(pair, arms)
        size = sample_size(rule.kind, sample)
        observed = value(rule.kind, sample, rule.quantile)
        requests = sample.requests if size is None else size
        if (size is not None and size < rule.min_requests) or math.isnan(observed):
            short.append(Shortfall(rule, arm, requests))
        elif (rule.above is not None and observed > rule.above) or (rule.below is not None and observed < rule.below):
            found.append(Breach(rule, observed, arm, requests))
    return Assessment(tuple(found), tuple(short), arm)


Verdict = Literal["recovered", "not recovered", "unknown"]


def recovery_verdict(found: Assessment, probe_problems: list[str], waited: float) -> tuple[Verdict, str]:
    """Whether the steady state holds again ``waited`` seconds after the faults ended: a broken rule or a
    failed probe says not; a rule short of its sample says it cannot be told (never "not recovered")."""
    problems = probe_problems + [b.sentence for b in found.breaches]
    if problems:
        return "not recovered", "not recovered: " + "; ".join(problems)
    if found.short:
        return "unknown", "could not tell whether the steady state recovered: " + "; ".join(
            s.sentence for s in found.short
        )
    on = f" on {found.arm}" if found.arm else ""
    return "recovered", f"steady state holds{on} {waited:g}s after the faults ended"


@dataclass(frozen=True)
class ProbeResult:
    url: str
    ok: bool
    detail: str  # "200 in 12ms" or "connection refused"


def probe_breaches(results: list[ProbeResult]) -> list[str]:
    return [f"probe {r.url} failed: {r.detail}" for r in results if not r.ok]
