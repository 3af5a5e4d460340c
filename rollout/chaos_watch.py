"""Chaos in a run: the steady-state checks that halt faults, and the journal of what was injected.

The checks read the client's view (Envoy's ``reporter="source"``: what callers saw, injected aborts
included), because that is where a fault shows; judgements of the canary read the destination view.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError
from chaos.journal import ClientCounts, FaultInterval, Journal, measure, record_for
from chaos.probes import http_probe
from chaos.steady_state import breaches, probe_breaches
from rollout.files import write_text_atomic
from rollout.judging import step_span
from rollout.plan import RunPlan
from rollout.spec.models import Experiment
from rollout.status import Status

log = logging.getLogger("meshroll.chaos")


class SteadyState:
    """Evaluates an experiment's halt rules and probes over a time span."""

    def __init__(self, experiment: Experiment, plan: RunPlan, client_source: MetricSource) -> None:
        self.experiment = experiment
        self.plan = plan
        self.source = client_source
        self.queries = [MetricQuery(r.metric, "", r.kind) for r in plan.halt_rules]
        self._templates = (
            {m.name: m.template for m in experiment.spec.analysis.metrics} if (experiment.spec.analysis) else {}
        )

    def check(self, start: float, end: float, fault_ids: tuple[str, ...]) -> list[str]:
        """Sentences naming every broken rule or failed probe; empty when the steady state holds."""
        problems = probe_breaches([http_probe(url, expect_status=s, timeout=t) for url, s, t in self.plan.probes])
        if not self.queries:
            return problems
        # the client's view: injected aborts and delays show only there
        span = step_span(self.experiment, start, end, reporter="source")
        queries = [MetricQuery(q.name, self._templates.get(q.name, ""), q.kind) for q in self.queries]
        try:
            readings = self.source.collect(span, queries)
        except MetricsUnavailableError as exc:
            log.warning("steady-state metrics unavailable: %s", exc)
            return problems
        arms = self._arms(fault_ids)
        return problems + [b.sentence for b in breaches(self.plan.halt_rules, readings, arms)]

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
        self.journal.events.append({"time": self.clock(), "event": event, "reason": detail})
        self.write()

    def write(self) -> None:
        write_text_atomic(self.path, json.dumps(self.journal.to_json(), indent=2))
