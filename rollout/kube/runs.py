"""One run of one Experiment in the controller: the same Orchestrator and state machine as
``meshroll run``, driven by APScheduler jobs, its status in the Experiment's status subresource.

A run is built from the stored status (``begin`` starts it, or resumes it: re-applies an intent
the mesh may not hold, sweeps orphan faults, re-collects the evidence) so that a restart, a lost
Lease or an error all recover the same way: the run is dropped, and built again from what is
stored. Jobs act only while this replica holds the Lease; the provider is fenced the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler

from analysis.sources import check_source
from chaos.timing import next_change
from rollout.events import Command, Halt
from rollout.judging import step_span
from rollout.kube.client import NotLeader
from rollout.kube.conditions import Problem, traffic_text
from rollout.kube.events import EventRecorder, EventText
from rollout.kube.evidence import recollect
from rollout.kube.objects import Key
from rollout.kube.store import KubeStatusStore
from rollout.kube.telemetry import Telemetry
from rollout.mesh.factory import routing_target
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.provider import TrafficProvider
from rollout.orchestrator import Orchestrator
from rollout.status import Phase, Status
from rollout.windows import next_observation_due

log = logging.getLogger("meshroll.kube.runs")

COMMANDS = ("pause", "resume", "promote", "abort")
JOBS = ("observe", "tick", "steady-state")
CLOSE_NOTIFIERS_S = 10.0  # how long a finished run's last notifications get to go out
LEASE_RECHECK_S = 1.0  # a job due while this replica may not act looks again after this long


class FencedProvider:
    """A provider that refuses to touch the mesh unless this replica may act."""

    def __init__(self, inner: TrafficProvider, may_act: Callable[[], bool], what: str) -> None:
        self.inner = inner
        self.may_act = may_act
        self.what = what

    def apply(self, plan: TrafficPlan) -> None:
        self._check()
        self.inner.apply(plan)

    def sweep(self, owner: str) -> list[str]:
        self._check()
        return self.inner.sweep(owner)

    def holds(self, plan: TrafficPlan) -> bool | None:
        """Whether the mesh holds ``plan`` (only reads; None: the provider cannot tell)."""
        holds: Callable[[TrafficPlan], bool] | None = getattr(self.inner, "holds", None)
        return holds(plan) if holds is not None else None

    def _check(self) -> None:
        if not self.may_act():
            raise NotLeader(f"not changing the mesh for {self.what}: this replica does not hold the Lease")


@dataclass
class RunContext:
    """What every run shares with the controller."""

    scheduler: BaseScheduler
    recorder: EventRecorder
    telemetry: Telemetry
    may_act: Callable[[], bool]
    on_failure: Callable[[ExperimentRun, BaseException], None]
    on_finished: Callable[[Key, int], None]
    clock: Callable[[], float] = time.time


def revert(provider: TrafficProvider, key: Key) -> list[str]:
    """All traffic back to stable, nothing mirrored, and every fault of ``key``'s removed; the ids swept."""
    provider.apply(TrafficPlan.all_stable())
    return provider.sweep(str(key))


class ExperimentRun:
    def __init__(
        self,
        key: Key,
        regarding: Mapping[str, Any],
        orchestrator: Orchestrator,
        store: KubeStatusStore,
        context: RunContext,
        *,
        close_notifiers: Callable[[float], None] = lambda _timeout: None,
    ) -> None:
        self.key = key
        self.number = store.info.run
        self.regarding = dict(regarding)
        self.orchestrator = orchestrator
        self.store = store
        self.ctx = context
        self.close_notifiers = close_notifiers
        self.lock = threading.RLock()
        self.stopped = False
        self.begun = False  # started or resumed here (``begin``)
        self._recorded = len(orchestrator.status.history)
        orchestrator.listeners.append(self._on_save)

    @property
    def status(self) -> Status:
        return self.orchestrator.status

    # --- life cycle -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Start the run, or resume it from its stored status; then schedule what comes next."""
        with self.lock:
            self.begun = True
            orchestrator = self.orchestrator
            if orchestrator.status.phase is Phase.PENDING:
                if orchestrator.queries or orchestrator.plan.halt_rules:
                    check_source(orchestrator.source)  # no traffic moves that could not be judged
                orchestrator.start()
            else:
                orchestrator.resume()
                if not orchestrator.status.phase.terminal:
                    self._restore_evidence()
            self._publish()
            self._after()

    def command(self, command: str, by: str, reason: str = "") -> None:
        if command not in COMMANDS:
            raise ValueError(command)
        with self.lock:
            self.orchestrator.handle(Command(command=command, by=by, reason=reason))
            self._after()

    def stop_faults(self, reason: str) -> None:
        """The kill switch: remove this run's faults for good (the canary goes on)."""
        with self.lock:
            if not any(isinstance(e.event, Halt) for e in self.orchestrator.status.history):
                self.orchestrator.handle(Halt(reason=reason, operator=True))
            self._after()

    def supersede(self, reason: str) -> bool:
        """Abort the run (back to stable); True when the mesh holds that (the run is done).

        Works on a run that was never begun here: its stored intent (perhaps the very step the mesh
        refused, which is why the spec was edited) is not re-applied first; the abort's route to
        stable is, and the stable intent is applied again if the abort changed no route."""
        with self.lock:
            if not self.orchestrator.status.phase.terminal:
                self.orchestrator.handle(Command(command="abort", by="meshroll controller", reason=reason))
            if not self.orchestrator.status.done:
                self.orchestrator.resume()  # the intent is stable by now: a revert, which the mesh takes
            self._after()
            return self.orchestrator.status.done

    def refresh(self, problem: Problem | None, **info: Any) -> None:
        """Rewrite the conditions and run info of the stored status (``problem``: what stops the run)."""
        with self.lock:
            self.store.refresh(problem, **info)

    def stop(self) -> None:
        """Stop acting (jobs removed); the run can be built again from its stored status."""
        if self.stopped:
            return
        self.stopped = True
        for job in JOBS:
            self._remove(job)
        finished = self.orchestrator.status.done
        self.close_notifiers(CLOSE_NOTIFIERS_S if finished else 0.0)  # the queues persist for the next instance

    def restore_route(self) -> bool:
        """Write the run's traffic back when the routing object no longer holds it: someone else
        changed it mid-run (a GitOps sync of its own version, a hand edit). True when it was written back.

        Raises MeshError when the mesh cannot be read or written (the object deleted, say)."""
        with self.lock:
            status = self.orchestrator.status
            provider = self.orchestrator.provider
            if self.stopped or status.phase.terminal or status.phase is Phase.PENDING or not status.traffic_applied:
                return False  # nothing applied to restore, or a write of the run's own is under way
            if not isinstance(provider, FencedProvider) or not self.ctx.may_act():
                return False
            plan = self.orchestrator.intended_plan()
            if provider.holds(plan) is not False:
                return False
            provider.apply(plan)
        target = routing_target(self.orchestrator.experiment)
        what = target.what if target is not None else "the mesh"
        note = (
            f"run {self.number}: {what} no longer held what the status records ({traffic_text(status)}): "
            "something else changed it (a GitOps sync, a hand edit?); meshroll wrote its share back. Make your "
            "GitOps tool leave meshroll's fields alone (README, 'GitOps: what meshroll owns')"
        )
        log.warning("%s: %s", self.key, note)
        self.ctx.recorder.record(self.regarding, EventText("Warning", "RouteRestored", "Route", note))
        return True

    def route_to_stable(self) -> list[str]:
        """The Experiment was deleted mid-run: stop, all traffic back to stable and its faults removed.

        Returns the ids of the faults swept."""
        self.stop()
        with self.lock:
            return revert(self.orchestrator.provider, self.key)

    # --- jobs -------------------------------------------------------------------------------------

    def _job(self, name: str) -> None:
        with self.lock:
            if self.stopped:
                return
            if not self.ctx.may_act():
                # The Lease renewal is late: a lost Lease stops this run (stop_all), but a renewal that lands
                # after all stops nothing, and a job that just returned would leave the run with none due.
                self._schedule(name, self.ctx.clock() + LEASE_RECHECK_S)
                return
            try:
                if name == "observe":
                    self._observe()
                    return
                if name == "steady-state":
                    self.orchestrator.check_steady_state()
                else:
                    self.orchestrator.tick()
                self._after()
            except Exception as exc:  # any failure: drop the run, rebuild it from the stored status
                self._fail(exc)

    def _observe(self) -> None:
        """End the step. Called holding the run; the metrics are read without it, so that a command or a
        deletion is not kept waiting by a slow or hung source (up to its retries and timeouts). A judgement
        that anything overtook meanwhile (a command, a tick, a restart of the run) is dropped, and the
        next observation reads again."""
        orchestrator = self.orchestrator
        span = orchestrator.begin_observation()
        if span is None:
            self._after()
            return
        mark = len(orchestrator.status.history)
        self.lock.release()
        try:
            read = orchestrator.read(span)
        finally:
            self.lock.acquire()
        if self.stopped or orchestrator is not self.orchestrator or len(orchestrator.status.history) != mark:
            if not self.stopped:
                self._after()
            return
        orchestrator.conclude(span, read)
        self._after()

    def _after(self) -> None:
        """Schedule the next observation and fault-schedule change, or finish."""
        status = self.orchestrator.status
        if status.phase.terminal or not status.traffic.faults:
            self.orchestrator.faults_off()  # a rule that never decided over the faults is warned of
        if status.done:
            self.stop()
            self.ctx.on_finished(self.key, self.number)
            return
        if status.phase.terminal or status.phase is Phase.PAUSED or not status.traffic_applied:
            for job in JOBS:
                self._remove(job)
            return
        plan = self.orchestrator.plan
        now = self.ctx.clock()
        self._schedule("observe", next_observation_due(status, plan))
        started = status.started_at or now
        changes = [t for p in plan.faults if (t := next_change(p.timing, started_at=started, now=now)) is not None]
        if changes:
            self._schedule("tick", min(changes) + 0.01)
        else:
            self._remove("tick")
        if plan.watches_steady_state and status.traffic.faults:
            if self.ctx.scheduler.get_job(self._job_id("steady-state")) is None:  # every chaos interval
                self._schedule("steady-state", now + plan.chaos_interval)
        else:
            self._remove("steady-state")

    def _schedule(self, name: str, at: float) -> None:
        if self.stopped:
            return
        when = datetime.fromtimestamp(max(at, self.ctx.clock()), tz=UTC)
        self.ctx.scheduler.add_job(
            self._job,
            "date",
            args=(name,),
            run_date=when,
            id=self._job_id(name),
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _remove(self, name: str) -> None:
        try:
            self.ctx.scheduler.remove_job(self._job_id(name))
        except Exception:  # JobLookupError: not scheduled
            return

    def _job_id(self, name: str) -> str:
        return f"{self.key}#{self.number}:{name}"

    def _fail(self, exc: BaseException) -> None:
        self.stop()
        self.ctx.on_failure(self, exc)

    # --- evidence, events, metrics ---------------------------------------------------------------

    def _restore_evidence(self) -> None:
        orchestrator = self.orchestrator
        names = step_span(orchestrator.experiment, 0.0, 0.0)
        evidence = recollect(
            orchestrator.status, orchestrator.source, orchestrator.queries, plan=orchestrator.plan, names=names
        )
        orchestrator.restore(evidence.windows)
        if evidence.restarted is not None:
            log.warning("evidence restarts for %s: %s", self.key, evidence.restarted)
            note = f"run {self.number}: the evidence restarts from the next window: {evidence.restarted}"
            self.ctx.recorder.record(self.regarding, EventText("Warning", "EvidenceRestarted", "Resume", note))
        elif evidence.windows:
            log.info("re-collected %d windows of evidence for %s", len(evidence.windows), self.key)

    def _on_save(self, status: Status) -> None:
        history = status.history
        for index in range(self._recorded, len(history)):
            previous = history[index - 1] if index > 0 else None
            self.ctx.recorder.transition(self.regarding, history[index], self.number, previous)
            self.ctx.telemetry.decision(history[index])
        self._recorded = len(history)
        self._publish()

    def _publish(self) -> None:
        status = self.orchestrator.status
        self.ctx.telemetry.set_experiment(
            self.key.namespace, self.key.name, status.phase.value, status.traffic.canary_weight
        )
