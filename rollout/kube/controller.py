"""``meshroll controller``: watches Experiments and runs each through the same state machine and
orchestrator as ``meshroll run``, while this replica holds the Lease.

Threads: one watch per namespace (or one for all), the Lease loop, ``reconcile_workers`` reconcile
workers taking keys from a work queue (never two at once on one key: ``WorkQueue(exclusive=True)``),
and APScheduler's pool running the runs' timed jobs. A reconcile reads the
object, asks ``revisions.next_step`` what it means, and starts, resumes, supersedes or leaves a
run. Whatever goes wrong in a run (the mesh refuses, the API server is away, a status conflict),
the run is dropped and the key is reconciled again after a backoff, which builds the run again from
its stored status: the same path a restarted controller takes.

Every event and re-list queues its key, but a key backing off from a failure is not reconciled
before its time unless what a reconcile acts on changed (``triggers.py``: a new generation of the
spec, a deletion, the annotations...): the failure's own status write, the runs' status writes
and the periodic re-list would otherwise retry it as fast as the watch delivers events. One
exception: an Experiment refused a start because another run steers its route is reconciled at
once when a run on that route ends or is deleted (``RouteGate.waiters``), not when its backoff ends.

``spec.after`` orders starts across Experiments: one whose dependencies have not all succeeded waits
(``Ready`` False, reason ``Waiting``, ``DependencyFailed`` or ``DependencyCycle``; ``dependencies.py``
decides, ``dependency_gate.py`` reads), and is reconciled at once when one of them changes: its run
ends (here), or the watch sees it created, deleted, started or moving on.

``max_concurrent_runs`` (``--max-concurrent-runs``) bounds the runs under way at once: an Experiment
that would start one beyond it is queued (``Ready`` False, reason ``Queued``; ``admission.py`` and
``run_slots.py``), and the first of those queued is reconciled at once when a run that held a slot here
ends (the next one, should it not take the slot).

Leadership lost (or ``stop``) stops every run (``Reconciler.stop_all``); a reconcile under way
meanwhile registers no run it builds, and a job due while the Lease renewal is late looks again
later (``runs.LEASE_RECHECK_S``) rather than leaving its run without a job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from analysis.sources import MetricSource, MetricsUnavailableError
from rollout.kube.client import FencedApiClient, KubeError, NotFound
from rollout.kube.conditions import Problem
from rollout.kube.dependencies import progress
from rollout.kube.dependency_gate import DependencyGate
from rollout.kube.events import EventRecorder
from rollout.kube.failures import failure_reason, one_line
from rollout.kube.leader_pod import LeaderPodLabel
from rollout.kube.lease import LeaderElector, LeaseTimings
from rollout.kube.objects import Experiments, Key
from rollout.kube.reconcile import Reconciler
from rollout.kube.run_factory import RunFactory
from rollout.kube.run_slots import RunSlots
from rollout.kube.runs import ExperimentRun, RunContext
from rollout.kube.scheduling import Jobs
from rollout.kube.startup_sweep import sweep_at_start
from rollout.kube.telemetry import Telemetry
from rollout.kube.triggers import Trigger, trigger
from rollout.kube.workqueue import WorkQueue
from rollout.mesh.errors import MeshError

log = logging.getLogger("meshroll.kube.controller")

BACKOFF_S = (2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
EVENTS_FLUSH_S = 30.0  # how often the repeats Events counted since their last write are looked at (events.py)


@dataclass(frozen=True)
class ControllerConfig:
    identity: str
    namespaces: tuple[str, ...] = ()  # () watches all namespaces
    lease_namespace: str | None = None  # None: no leader election (a single replica)
    lease_name: str = "meshroll-controller"
    timings: LeaseTimings = field(default_factory=LeaseTimings)
    state_dir: Path | None = None
    watch_timeout_s: int = 30  # a watch ends after this long and the list is read again (a resync)
    workers: int = 4  # APScheduler's pool: runs' jobs (observe, tick, steady-state) under way at once
    reconcile_workers: int = 4  # reconciles under way at once (each of a different Experiment)
    max_concurrent_runs: int = 0  # runs under way at once, at most (0: no limit); the others queue
    slack_actions: bool = False  # Slack messages carry Promote/Pause/Resume/Abort buttons (POST /slack/actions)
    leader_pod: tuple[str, str] | None = None  # (namespace, name): labelled while this replica leads (leader_pod.py)


class Controller:
    def __init__(
        self,
        api: k8s.ApiClient,
        config: ControllerConfig,
        telemetry: Telemetry,
        *,
        source_factory: Callable[[], MetricSource] | None,  # None: no Prometheus (run_factory.cannot_start)
        provider_factory: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.config = config
        self.telemetry = telemetry
        self.clock = clock
        acting = FencedApiClient(api.configuration, self.may_act)  # every write a run makes; not the Lease's
        self.experiments_api = acting
        self.experiments = Experiments(acting)
        self.recorder = EventRecorder(acting, instance=config.identity, clock=clock)
        self.queue: WorkQueue[Key] = WorkQueue(exclusive=True)
        self.leader_pod = LeaderPodLabel(api, *config.leader_pod) if config.leader_pod else None
        self.jobs = Jobs.create(config.workers)
        self.scheduler = self.jobs.scheduler
        self.elector = (
            LeaderElector(
                api,
                config.lease_namespace,
                config.lease_name,
                config.identity,
                config.timings,
                on_started=self._became_leader,
                on_stopped=self._lost_leadership,
            )
            if config.lease_namespace
            else None
        )
        context = RunContext(
            scheduler=self.scheduler,
            recorder=self.recorder,
            telemetry=telemetry,
            may_act=self.may_act,
            on_failure=lambda run, exc: self._run_failed(run.key, exc, run),
            on_finished=lambda key, _number: self._run_ended(key),
            clock=clock,
        )
        factory = RunFactory(
            acting,
            self.experiments,
            context,
            identity=config.identity,
            source_factory=source_factory,
            provider_factory=provider_factory,
            state_dir=config.state_dir,
            slack_actions=config.slack_actions,
        )
        slots = RunSlots(
            self.experiments, config.max_concurrent_runs, scopes=config.namespaces, clock=clock, wake=self._wake
        )
        dependencies = DependencyGate(self.experiments, scopes=config.namespaces)
        self.reconciler = Reconciler(
            self.experiments, factory, self.recorder, telemetry, clock=clock, slots=slots, dependencies=dependencies
        )
        self._stop = threading.Event()  # no new work: watches, reconciles and runs end
        self._halted = threading.Event()  # nothing may write any more (set once running jobs have finished)
        self._threads: list[threading.Thread] = []
        self._failures: dict[Key, int] = {}  # failures in a row (the backoff); workers and run jobs: _failures_lock
        self._failures_lock = threading.Lock()
        self._listed: dict[str, float] = {}  # scope -> monotonic time of the last good list or event
        self._scope_keys: dict[str, set[Key]] = {}  # written by the watches, read by the Lease loop: _keys_lock
        self._keys_lock = threading.Lock()
        self._triggers: dict[Key, Trigger] = {}  # what the watch last saw of each key (see triggers.py)
        self._progress: dict[Key, tuple[object, ...]] = {}  # what spec.after reads of each key, as the watch saw it

    # --- public -----------------------------------------------------------------------------------

    def may_act(self) -> bool:
        """Whether this replica may write now: it holds the Lease (or runs alone) and is not stopping."""
        if self._halted.is_set():
            return False
        return self.elector.is_leader() if self.elector is not None else True

    @property
    def runs(self) -> dict[Key, ExperimentRun]:
        return self.reconciler.runs

    def start(self) -> Controller:
        self.scheduler.start()
        self.scheduler.add_job(self._flush_events, "interval", seconds=EVENTS_FLUSH_S, id="meshroll-events-flush")
        if self.leader_pod is not None:  # left by a container restarted in its Pod, maybe: not the leader yet
            self.leader_pod.mark(False)
        if self.elector is not None:
            self._spawn("meshroll-lease", self.elector.run, self._stop)
        else:
            self._became_leader()
        for scope in self.config.namespaces or ("",):
            self._spawn(f"meshroll-watch-{scope or 'all'}", self._watch, scope)
        for number in range(max(1, self.config.reconcile_workers)):
            self._spawn(f"meshroll-reconcile-{number}", self._work)
        return self

    def stop(self) -> None:
        """Stop acting (runs keep their stored status and resume on the next leader), then release. Once."""
        if self._halted.is_set():
            return
        self._stop.set()
        self.reconciler.stop_all()
        self.jobs.stop()  # a job under way finishes what it does
        for thread in self._threads:
            if not thread.name.startswith("meshroll-watch"):  # a watch ends at its timeout; nothing waits for it
                thread.join(timeout=10)
        self._flush_events(force=True)
        self._halted.set()
        if self.elector is not None:
            self.elector.release()
        if self.leader_pod is not None:
            self.leader_pod.mark(False)

    def healthy(self) -> list[str]:
        return [t.name for t in self._threads if not t.is_alive()] if not self._stop.is_set() else ["stopping"]

    def ready(self) -> list[str]:
        now = time.monotonic()
        stale = 3 * self.config.watch_timeout_s + 10
        failing = [
            f"watch-{scope or 'all'}"
            for scope in self.config.namespaces or ("",)
            if now - self._listed.get(scope, -1e9) > stale
        ]
        return failing + self.healthy()

    def _flush_events(self, *, force: bool = False) -> None:
        """Write the repeats Events have counted since their last write, when due (see events.py)."""
        if self.may_act():
            self.recorder.flush(force=force)

    # --- leadership -------------------------------------------------------------------------------

    def _became_leader(self) -> None:
        self.telemetry.set_leader(True)
        if self.leader_pod is not None:
            self.leader_pod.mark(True)
        sweep_at_start(self.api, self.experiments, self.experiments_api, self.config.namespaces)
        with self._keys_lock:  # the watches add and discard keys meanwhile
            known = [key for keys in self._scope_keys.values() for key in keys]
        for key in known:
            self.queue.add(key)

    def _lost_leadership(self) -> None:
        self.telemetry.set_leader(False)
        if self.leader_pod is not None:
            self.leader_pod.mark(False)
        self.queue.clear()
        self.reconciler.stop_all()
        self.telemetry.forget_all()

    # --- watching ---------------------------------------------------------------------------------

    def _watch(self, scope: str) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                listed = self.experiments.list(scope or None)
                items = {Key.of(item): item for item in listed.get("items") or ()}
                for key, item in items.items():
                    self._seen(key, item)
                with self._keys_lock:
                    vanished = self._scope_keys.get(scope, set()) - items.keys()
                    self._scope_keys[scope] = set(items)
                for key in vanished:
                    self._gone(key)  # deleted since the last look: its reconcile finds it so
                self._listed[scope] = time.monotonic()
                version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
                for event in self.experiments.watch(scope or None, version, self.config.watch_timeout_s):
                    if self._stop.is_set():
                        return
                    self._listed[scope] = time.monotonic()
                    kind, obj = event.get("type"), event.get("object")
                    if kind == "ERROR" or not isinstance(obj, dict):
                        break  # e.g. 410 Gone: list again
                    if kind == "BOOKMARK":
                        continue
                    key = Key.of(obj)
                    with self._keys_lock:
                        if kind == "DELETED":
                            self._scope_keys.get(scope, set()).discard(key)
                        else:
                            self._scope_keys.setdefault(scope, set()).add(key)
                    if kind == "DELETED":
                        self._gone(key)
                    else:
                        self._seen(key, obj)
                failures = 0
            except Exception as exc:  # the watch raises the client's and urllib3's errors alike
                failures += 1
                log.warning("watching Experiments in %s failed (%s); listing again", scope or "all namespaces", exc)
                self._stop.wait(min(30.0, 0.5 * 2**failures))

    def _seen(self, key: Key, obj: dict[str, Any]) -> None:
        """Queue ``key``, which a watch event or a list shows as ``obj``: at once if what a reconcile acts
        on changed since the watch last saw it; otherwise (its status alone, or nothing) not before a
        backoff under way ends."""
        current = trigger(obj)
        changed = self._triggers.get(key) != current
        self._triggers[key] = current
        self.queue.add(key, urgent=changed)
        now = progress(obj)
        if self._progress.get(key) != now:  # created, or its run started, moved, ended: wake who runs after it
            self._progress[key] = now
            self._wake(self.reconciler.dependencies.waiters(key))

    def _gone(self, key: Key) -> None:
        self._triggers.pop(key, None)
        self._progress.pop(key, None)
        self.queue.add(key, urgent=True)
        self._wake(self.reconciler.dependencies.waiters(key))

    # --- reconciling ------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                if self.may_act():
                    self._reconcile(key)
            except Exception:  # reporting a failure failed: this worker goes on (the key is reconciled again)
                log.exception("%s: reconcile failed and its failure could not be handled", key)
                self.queue.add(key, 60.0)
            finally:
                self.queue.done(key)

    def _reconcile(self, key: Key) -> None:
        began = time.monotonic()
        try:
            self.reconciler.reconcile(key)
            if key in self.reconciler.runs:
                if self._forget_failures(key):
                    self.reconciler.clear_problem(key)
            else:
                self._forget_failures(key)  # nothing runs for it (deleted, finished, idle): no backoff to keep
                self._wake_waiters(key)
        except Exception as exc:
            self._run_failed(key, exc)
        finally:
            self.telemetry.reconcile.observe(time.monotonic() - began)
            if key not in self.reconciler.runs:  # woken for a run slot but did not take it: the next one is
                self._wake(self.reconciler.slots.settle(key))

    def _forget_failures(self, key: Key) -> bool:
        """Reset ``key``'s backoff; whether it had failed."""
        with self._failures_lock:
            return self._failures.pop(key, None) is not None

    def _run_ended(self, key: Key) -> None:
        """A run of ``key`` is done (its job or reconcile saw it): reconcile it, whoever waited for its route or a
        run slot, and those whose start waits for it (``spec.after``: not on every reconcile of a key with no run,
        as ``_wake_waiters``, or two Experiments waiting for each other would wake each other for ever)."""
        self.queue.add(key)
        self._wake_waiters(key)
        self._wake(self.reconciler.dependencies.waiters(key))

    def _wake_waiters(self, key: Key) -> None:
        """Nothing of ``key``'s runs steers a route now: the Experiments refused a start on its route are
        reconciled at once (not when their backoff ends); one of them starts, the others wait on it. So
        are those queued for a run slot (``--max-concurrent-runs``) when ``key``'s run held one."""
        self._wake(self.reconciler.routes.waiters(key) | self.reconciler.slots.release(key))

    def _wake(self, keys: Iterable[Key]) -> None:
        for waiter in keys:
            self.queue.add(waiter, urgent=True)

    def _run_failed(self, key: Key, exc: BaseException, run: ExperimentRun | None = None) -> None:
        """A reconcile (``run`` None) or a run's job failed: report it, drop the run, reconcile again after a backoff.

        A run that is no longer the run of its key here (rebuilt by a reconcile, superseded, deleted) is
        only logged: its failure must not hold back or mark the run that replaced it."""
        number = run.number if run is not None else 0
        if run is None:
            self.reconciler.drop(key)
        elif not self.reconciler.discard(run):
            log.info("%s: run %d, no longer current here, stopped: %s", key, number, one_line(exc))
            return
        if self._stop.is_set() or not self.may_act():
            log.info("%s: run %d stopped: %s", key, number, one_line(exc))
            return
        reason = failure_reason(exc)
        with self._failures_lock:  # a run's job and a reconcile of its key may fail at once
            count = self._failures.get(key, 0)
            self._failures[key] = count + 1
        delay = BACKOFF_S[min(count, len(BACKOFF_S) - 1)]
        self.queue.retry(key, delay)  # first: the watch event of the report's status write finds it backing off
        self.telemetry.errors.labels(reason).inc()
        if isinstance(exc, KubeError | MeshError | MetricsUnavailableError):
            log.warning("%s: %s; retrying in %.0fs", key, exc, delay)
        else:
            log.error("%s: unexpected %s; retrying in %.0fs", key, type(exc).__name__, delay, exc_info=exc)
        if not isinstance(exc, NotFound):
            what = one_line(exc)  # the Event's note: without the delay, which grows at each retry
            self.reconciler.report(key, Problem(reason, f"{what} (retrying in {delay:.0f}s)"), note=what)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
