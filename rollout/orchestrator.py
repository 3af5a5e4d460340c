"""Executes the machine's actions through adapters and keeps the status.

Invariant 1: the intent is saved before the mesh is touched, and recorded as applied only after.
A process killed anywhere in between resumes by re-applying the saved intent (``resume``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from analysis.observations import MetricPair, StepWindow
from analysis.verdicts import Judge
from rollout.chaos_watch import SteadyState
from rollout.events import Applied, Event, Halt, Judged, MetricsUnavailable, NoData, Start, Tick
from rollout.judging import engine_config, judged, judged_weight, metric_kind, observed_share, step_span
from rollout.machine import Notify, SetFaults, SetRoute, advance
from rollout.mesh.errors import TargetMissing
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.provider import TrafficProvider
from rollout.plan import Kind, past_deadline, recorded_traffic, run_plan
from rollout.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan, no_data_reason
from rollout.spec.models import Experiment
from rollout.status import Phase, Status, source_from
from rollout.store import StatusStore
from rollout.windows import next_window_start

log = logging.getLogger("meshroll.orchestrator")


class Notifier(Protocol):
    def notify(self, experiment: Experiment, status: Status, note: Notify) -> None: ...


class Orchestrator:
    def __init__(
        self,
        experiment: Experiment,
        provider: TrafficProvider,
        source: MetricSource,
        judge: Judge,
        store: StatusStore,
        *,
        notifiers: Sequence[Notifier] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.experiment = experiment
        self.plan = run_plan(experiment)
        self.config = engine_config(experiment)
        self.provider = provider
        self.source = source
        self.judge = judge
        self.store = store
        self.notifiers = list(notifiers)
        self.clock = clock
        self.status = store.load() or Status(source=source_from(experiment.metadata.annotations))
        self.windows: list[StepWindow] = []
        self.listeners: list[Callable[[Status], None]] = []
        analysis = experiment.spec.analysis
        custom = {t.name: t.queries() for t in analysis.templates} if analysis is not None else {}
        self.queries = (
            [
                MetricQuery(m.name, m.template, metric_kind(analysis, m.template), custom.get(m.template, {}))
                for m in analysis.metrics
            ]
            if analysis is not None
            else []
        )
        self.steady_state: SteadyState | None = None
        self._last_check: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def resume(self) -> Status:
        """Make the mesh match the saved status: sweep owned faults that the intent lacks, re-apply it.

        The sweep takes away everything meshroll added to the routing object (fault routes, and the
        A/B, mirror and session-affinity parts too); whatever the intent holds of those is put back at
        once, so a restarted A/B or sticky run does not route its cohort by weight meanwhile."""
        swept = self.provider.sweep(self.experiment.key) if not self.status.traffic.faults else []
        if swept:
            log.info("swept orphan faults", extra={"faults": swept, "experiment": self.experiment.key})
        if self.status.phase is Phase.PENDING:
            return self.status
        if not self.status.traffic_applied:
            self._apply_intent()
            self._step(Applied(), self.clock())
        elif swept and not self.intended_plan().is_safe:
            self._apply_intent()
        return self.status

    def start(self) -> Status:
        self.resume()
        if self.steady_state is not None and self.plan.watches_steady_state and self.status.phase is Phase.PENDING:
            now = self.clock()
            problems = self.steady_state.check(now - self.plan.chaos_interval, now, ())
            if problems:
                return self.handle(Halt(reason="; ".join(problems)))
        return self.handle(Start())

    def check_steady_state(self) -> Status:
        """While faults are on, halt them the moment a steady-state rule breaks."""
        now = self.clock()
        status = self.status
        since = max(self._last_check or 0.0, status.step_started_at or now)
        self._last_check = now
        if self.steady_state is None:
            return status
        if status.phase is not Phase.PROGRESSING or not status.traffic.faults:
            self.faults_off()
            return status
        problems = self.steady_state.check(since, now, status.traffic.faults)
        if problems:
            return self.handle(Halt(reason="; ".join(problems)))
        return status

    def faults_off(self) -> None:
        """Tell the steady-state checks that the faults they watched are off (a step without faults, or the
        run's end), so a rule that never decided over them is warned of."""
        if self.steady_state is None or not self.steady_state.watching:  # the common case: nothing to end
            return
        off = self.clock()
        for entry in reversed(self.status.history):  # the first entry of the trailing ones without faults
            if entry.traffic.faults:
                break
            off = min(off, entry.time)
        self.steady_state.faults_off(off)

    def handle(self, event: Event, *, at: float | None = None) -> Status:
        """Run one event through the machine and carry out its actions; ``at``: when it happened (now)."""
        notes = self._step(event, self.clock() if at is None else at)
        for note, status in notes:
            for notifier in self.notifiers:
                try:
                    notifier.notify(self.experiment, status, note)
                except Exception:  # a notifier never stops the rollout
                    log.exception("notifier failed", extra={"experiment": self.experiment.key})
        return self.status

    def observe(self) -> Status:
        """End the current step: read its metrics, judge, and act on the decision."""
        step = self.begin_observation()
        return self.status if step is None else self.conclude(step, self.read(step))

    def begin_observation(self) -> StepSpan | None:
        """The span the current step's metrics are read over; None when nothing is to be read (the steady
        state broke, or a chaos-only run, whose step this has judged)."""
        if self._halted_before_faults_change():
            return None
        now = self.clock()
        if self.plan.kind is Kind.CHAOS:
            reason = "chaos-only run: no canary to judge; the steady state is watched by the halt rules and probes"
            self.handle(Judged(outcome="hold", engine="none", reason=reason))
            return None
        start = next_window_start(self.status.history) or self.status.step_started_at or now
        return step_span(self.experiment, start, now)

    def read(self, span: StepSpan) -> dict[str, MetricPair] | MetricsUnavailableError:
        """The step's metrics (or why they could not be read). Changes nothing: the controller reads them
        without holding the run, so that an operator's command is never kept waiting by a slow source."""
        try:
            return self.source.collect(span, self.queries)
        except MetricsUnavailableError as exc:
            return exc

    def conclude(self, span: StepSpan, read: dict[str, MetricPair] | MetricsUnavailableError) -> Status:
        """Judge the step over ``span`` from what was ``read``, and act on the decision."""
        now = span.end
        if isinstance(read, MetricsUnavailableError):
            return self.handle(MetricsUnavailable(reason=str(read)), at=now)
        if not read:
            return self.handle(NoData(reason=no_data_reason(self.source, span)), at=now)
        pairs = read
        traffic = self.status.traffic
        weight = judged_weight(self.plan, float(traffic.canary_weight), traffic.faults, pairs)
        self.windows.append(StepWindow(len(self.windows), span.start, now, weight, pairs))
        final = past_deadline(self.plan, self.status, now)
        decision = self.judge.judge(self.windows, self.config, final=final)
        event = judged(decision)
        if self.plan.observed_split:
            event = event.model_copy(update={"canary_share": round(observed_share(pairs), 2)})
        return self.handle(event, at=now)  # recorded where the window ends: the next starts there

    def tick(self) -> Status:
        if self._halted_before_faults_change():
            return self.status
        return self.handle(Tick())

    def restore(self, windows: Sequence[StepWindow]) -> None:
        """Put back the evidence of steps judged before a restart (re-collected from the metric source)."""
        self.windows = list(windows)

    # --- internals ---------------------------------------------------------------------------

    def _halted_before_faults_change(self) -> bool:
        """Check the steady state once more before the faults may change: faults on for less than one
        chaos interval are judged too, and a rule they broke halts the run rather than going unseen."""
        phase = self.status.phase
        return self.check_steady_state().phase is not phase

    def _step(self, event: Event, now: float) -> list[tuple[Notify, Status]]:
        """Run ``event`` through the machine and apply what it asks; each notification with the status of the
        transition that made it (a "promoting" note says Promoting, though the mesh has taken it since)."""
        transition = advance(self.plan, self.status, event, now)
        if transition.status is self.status:
            return []
        self._save(transition.status)
        notes = [(a, transition.status) for a in transition.actions if isinstance(a, Notify)]
        if any(isinstance(a, SetRoute | SetFaults) for a in transition.actions):
            self._apply_intent()
            applied = advance(self.plan, self.status, Applied(), self.clock())  # when the mesh took it
            self._save(applied.status)
            notes += [(a, applied.status) for a in applied.actions if isinstance(a, Notify)]
        return notes

    def _save(self, status: Status) -> None:
        self.store.save(status)
        self.status = status
        for listener in self.listeners:
            listener(status)

    def intended_plan(self) -> TrafficPlan:
        """The traffic the status records, as the mesh should hold it."""
        return recorded_traffic(self.plan, self.experiment.key, self.status)

    def _apply_intent(self) -> None:
        plan = self.intended_plan()
        try:
            self.provider.apply(plan)
        except TargetMissing as exc:
            if not plan.is_safe or self.status.ever_applied:
                raise
            # a revert of a run the mesh never took anything from (its route misspelt, say): nothing to undo
            log.warning("nothing to route back to stable: %s", exc, extra={"experiment": self.experiment.key})
