"""Steady-state hypotheses: rules on metrics (and HTTP probes) that must hold before, during and
after fault injection. Pure: readings in, breaches out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from analysis.aggregates import combined, value
from analysis.observations import MetricKind, MetricPair


@dataclass(frozen=True)
class HaltRule:
    """Stop every fault when ``metric`` (on the arms under fault) goes above or below a bound."""

    metric: str
    kind: MetricKind
    above: float | None = None
    below: float | None = None
    quantile: float = 0.99


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


def breaches(rules: tuple[HaltRule, ...], readings: Mapping[str, MetricPair], arms: frozenset[str]) -> list[Breach]:
    """The rules that ``readings`` break, watching ``arms`` ("stable", "canary"; both: all traffic).

    A rule with no reading, or a NaN value (no requests), is not broken: no data is not a breach.
    """
    found: list[Breach] = []
    for rule in rules:
        pair = readings.get(rule.metric)
        if pair is None or not arms:
            continue
        if arms == {"stable"}:
            sample, arm = pair.stable, "stable"
        elif arms == {"canary"}:
            sample, arm = pair.canary, "canary"
        else:
            sample, arm = combined(pair.stable, pair.canary), "all traffic"
        observed = value(rule.kind, sample, rule.quantile)
        if math.isnan(observed):
            continue
        if (rule.above is not None and observed > rule.above) or (rule.below is not None and observed < rule.below):
            found.append(Breach(rule, observed, arm, sample.requests))
    return found


@dataclass(frozen=True)
class ProbeResult:
    url: str
    ok: bool
    detail: str  # "200 in 12ms" or "connection refused"


def probe_breaches(results: list[ProbeResult]) -> list[str]:
    return [f"probe {r.url} failed: {r.detail}" for r in results if not r.ok]
