"""Chaos in a run: the steady-state checks that halt faults, and the journal of what was injected.

The checks read the client's view (Envoy's ``reporter="source"``: what callers saw, injected aborts
included), because that is where a fault shows; judgements of the canary read the destination view.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from analysis.observations import MetricKind
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError
from chaos.journal import ClientCounts, FaultInterval, Journal, measure, record_for
from chaos.probes import http_probe
from chaos.steady_state import (
    Assessment,
    HaltRule,
    Shortfall,
    Verdict,
    assess,
    probe_breaches,
    recovery_verdict,
)
from rollout.files import write_text_atomic
from rollout.judging import step_span
from rollout.plan import RunPlan
from rollout.spec.durations import format_duration
from rollout.spec.models import Experiment
from rollout.status import Status

log = logging.getLogger("meshroll.chaos")


@dataclass
class _FaultSet:
    """Faults on together, from ``since``: which rules have decided at least once while they were on."""

    ids: tuple[str, ...]
    since: float
    decided: set[int] = field(default_factory=set)
    short: dict[int, Shortfall] = field(default_factory=dict)  # rule index -> its last shortfall


class SteadyState:
    """Evaluates an experiment's halt rules and probes over a time span.

    A rule short of its ``minRequests`` is not yet decided, and its next check does not drop what it has:
    while the checks follow each other (each starts where the last ended, with the same faults on), the
    rule's window reaches back to the start of the check that first found it short, until it has enough.
    A rule that never decided while a set of faults was on (too little traffic for its minimum) left those
    faults unchecked: said in a warning when the set ends (``faults_off``).
    """

    def __init__(self, experiment: Experiment, plan: RunPlan, client_source: MetricSource) -> None:
        self.experiment = experiment
        self.plan = plan
        self.source = client_source
        self.rules = plan.halt_rules
        self._templates = (
            {m.name: m.template for m in experiment.spec.analysis.metrics} if (experiment.spec.analysis) else {}
        )
        self._short_since: dict[int, float] = {}  # rule index -> where its undecided window starts
        self._last: tuple[float, tuple[str, ...]] | None = None  # the last check's end and the faults it watched
        self._on: _FaultSet | None = None

    def check(self, start: float, end: float, fault_ids: tuple[str, ...]) -> list[str]:
        """Sentences naming every broken rule or failed probe; empty when the steady state holds (or its
        rules have too few requests yet to tell)."""
        problems = self._probe_problems()
        if self._last != (start, fault_ids):  # not where the last check ended: a new step, or new faults
            self._short_since.clear()
        if self._on is None or self._on.ids != fault_ids:
            self.faults_off(start)
            self._on = _FaultSet(fault_ids, start) if fault_ids else None
        self._last = (end, fault_ids)
        if not self.rules:
            return problems
        arms = self._arms(fault_ids)
        since = {i: self._short_since.get(i, start) for i in range(len(self.rules))}
        for begin in sorted(set(since.values())):
            indices = [i for i, b in since.items() if b == begin]
            found = self._assess(begin, end, tuple(self.rules[i] for i in indices), arms)
            if found is None:  # the metrics could not be read: the next check reads this span too
                self._short_since.update((i, begin) for i in indices)
                continue
            short = {s.rule: s for s in found.short}
            for i in indices:
                if self.rules[i] in short:
                    self._short_since[i] = begin
                else:
                    self._short_since.pop(i, None)
                self._count(i, short.get(self.rules[i]))
            if found.short:
                log.debug("steady state not yet decided: %s", "; ".join(s.sentence for s in found.short))
            problems += [b.sentence for b in found.breaches]
        return problems

    @property
    def watching(self) -> bool:
        """Whether a set of faults is on and being checked (``faults_off`` then has something to end)."""
        return self._on is not None

    def faults_off(self, at: float) -> None:
        """The faults checked so far went off at ``at``: warn of each rule that never decided while they were
        on for at least one check interval (a shorter set could not have been checked)."""
        on, self._on = self._on, None
        if on is None or at - on.since < self.plan.chaos_interval:
            return
        for i, short in sorted(on.short.items()):
            if i in on.decided:
                continue
            rule, lasted, faults = self.rules[i], format_duration(round(at - on.since)), ", ".join(on.ids)
            if short.requests < rule.min_requests and rule.kind is not MetricKind.GAUGE:
                log.warning(
                    "faults %s were on for %s and haltWhen %s on %s never had the %d requests it needs (%.0f at "
                    "most): the faults ran unchecked by it; lower its minRequests or give the step more time or "
                    "traffic",
                    faults, lasted, rule.metric, short.arm, rule.min_requests, short.requests,
                )  # fmt: skip
            else:
                log.warning(
                    "faults %s were on for %s and haltWhen %s on %s had no reading: the faults ran unchecked by "
                    "it; check that the metric has data",
                    faults, lasted, rule.metric, short.arm,
                )  # fmt: skip

    def _count(self, index: int, short: Shortfall | None) -> None:
        """Note whether rule ``index`` decided in this check (``short``: why not, when it could not)."""
        if self._on is None:
            return
        if short is None:
            self._on.decided.add(index)
        elif short.requests >= self._on.short.get(index, short).requests:
            self._on.short[index] = short

    def recovery(self, start: float, end: float, arms: frozenset[str]) -> tuple[Verdict, str]:
        """Whether the steady state holds again over ``[start, end]``, on ``arms``: the ones that carry the
        traffic once the faults are gone (after a rollback, stable; after a promotion, the canary)."""
        problems = self._probe_problems()
        found = self._assess(start, end, self.rules, arms) if self.rules else Assessment()
        if found is None and not problems:
            return "unknown", "could not tell whether the steady state recovered: its metrics could not be read"
        return recovery_verdict(found or Assessment(), problems, self.plan.recovery)

    def _probe_problems(self) -> list[str]:
        return probe_breaches([http_probe(url, expect_status=s, timeout=t) for url, s, t in self.plan.probes])

    def _assess(self, start: float, end: float, rules: tuple[HaltRule, ...], arms: frozenset[str]) -> Assessment | None:
        """``rules`` over ``[start, end]`` on the client's view; None when the metrics cannot be read."""
        # the client's view: injected aborts and delays show only there
        span = step_span(self.experiment, start, end, reporter="source")
        queries = [MetricQuery(r.metric, self._templates.get(r.metric, ""), r.kind) for r in rules]
        try:
            readings = self.source.collect(span, queries)
        except MetricsUnavailableError as exc:
            log.warning("steady-state metrics unavailable: %s", exc)
            return None
        return assess(rules, readings, arms)

    def _arms(self, fault_ids: tuple[str, ...]) -> frozenset[str]:
        active = [p.fault for p in self.plan.faults if p.fault.id in fault_ids] or [p.fault for p in self.plan.faults]
        arms: set[str] = set()
        for fault in active:
            arms |= {"stable", "canary"} if fault.arm.value == "both" else {fault.arm.value}
        return frozenset(arms)


Views = tuple[Mapping[str, ClientCounts], Mapping[str, ClientCounts]]  # (client view, backend view)


class JournalRecorder:
    """A status listener that records each fault's on and off times and its measured effect."""

    def __init__(
        self,
        experiment: Experiment,
        plan: RunPlan,
        counts: Callable[[], Views],
        path: Path,
        clock: Callable[[], float],
    ) -> None:
        self.plan = plan
        self.read = counts  # (client view, backend view)
        self.path = path
        self.clock = clock
        target = experiment.spec.target
        self.versions = {"stable": target.stable.version, "canary": target.canary.version}
        self.journal = Journal(experiment.key, clock())
        self._active: dict[
            str, tuple[FaultInterval, tuple[Mapping[str, ClientCounts], Mapping[str, ClientCounts]]]
        ] = {}
        self._seen = 0

    def on_change(self, status: Status) -> None:
        now = self.clock()
        for entry in status.history[self._seen :]:
            self.journal.events.append(
                {"time": entry.time, "event": entry.event.type, "phase": entry.to_phase.value, "reason": entry.reason}
            )
        self._seen = len(status.history)
        wanted = set(status.traffic.faults) if status.traffic_applied else set(self._active)
        for fault_id in wanted - set(self._active):
            planned = next(p.fault for p in self.plan.faults if p.fault.id == fault_id)
            record = self.journal.faults.setdefault(fault_id, record_for(planned))
            interval = FaultInterval(on=now)
            record.intervals.append(interval)
            self._active[fault_id] = (interval, self.read())
        for fault_id in set(self._active) - wanted:
            interval, before = self._active.pop(fault_id)
            interval.off = now
            measure(self.journal.faults[fault_id], interval, before, self.read(), self.versions)
        if status.phase.terminal and status.traffic_applied:
            self.journal.ended, self.journal.outcome = now, f"{status.phase.value}: {status.reason}"
        self.write()

    def note(self, event: str, detail: str) -> None:
        """Record something the run did besides its history; after the run's end, the journal ends with it."""
        now = self.clock()
        self.journal.events.append({"time": now, "event": event, "reason": detail})
        if self.journal.ended is not None:
            self.journal.ended = max(self.journal.ended, now)
        self.write()

    def recovered(self, verdict: str, detail: str) -> None:
        """Record the recovery check after the faults: ``verdict`` is "recovered", "not recovered", "unknown"
        (too few requests to tell) or "not checked"."""
        self.journal.recovery = {"time": self.clock(), "verdict": verdict, "reason": detail}
        self.note("recovery", detail)

    def write(self) -> None:
        write_text_atomic(self.path, json.dumps(self.journal.to_json(), indent=2))


def check_recovery(
    steady: SteadyState | None,
    status: Status,
    clock: Callable[[], float],
    wait: Callable[[float], str | None],
    recorder: JournalRecorder | None,
) -> str | None:
    """After a run whose faults were on: ``wait`` the recovery time (it returns what cut the wait short, like
    "SIGINT", or None) and check the steady state again, on the arms that carry the traffic now (after a
    rollback, stable: a canary at weight 0 tells nothing). Recorded in the journal; returns its sentence
    (None: no fault was on, nothing to check)."""
    if steady is None or not steady.plan.watches_steady_state or not any(e.traffic.faults for e in status.history):
        return None
    started = clock()
    verdict: str
    interrupted = wait(steady.plan.recovery)
    if interrupted is None:
        verdict, sentence = steady.recovery(started, clock(), carrying(status))
    else:
        verdict, sentence = "not checked", f"not checked: interrupted by {interrupted}"
    if recorder is not None:
        recorder.recovered(verdict, sentence)
    return sentence


def carrying(status: Status) -> frozenset[str]:
    """The arms that carry traffic at the end of a run: stable after a rollback, the canary after a promotion."""
    traffic = status.traffic
    arms = {arm for arm, weight in (("stable", traffic.stable_weight), ("canary", traffic.canary_weight)) if weight}
    return frozenset(arms or {"stable", "canary"})
