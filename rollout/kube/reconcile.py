"""One reconcile of one Experiment: read it, decide (``revisions.next_step``), act on its run.

Operator commands: the annotation ``meshroll.io/command`` (``pause``, ``resume``, ``promote`` or
``abort``, optionally followed by ``:anything`` to repeat one) is handled once per value; the
status records the value handled last (``lastCommand``). A command given before a run started
is not carried into it.

Deletion: while a run may touch the mesh the Experiment carries the finalizer ``meshroll.io/revert``
(``finalizer.py``); a deleted Experiment that still holds it is reverted (all traffic to stable,
its faults removed) and then let go (``deletion.py``), whether its run ran here or not. An
Experiment gone without it (the finalizer removed by hand, or an object older than it) is reverted
only when its run was under way in this process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from rollout.chaos_stop import STOPPED_ANNOTATION  # set by 'meshroll chaos stop --all'
from rollout.kube.admission import QUEUED, Queue, place_of
from rollout.kube.client import NotFound, NotLeader
from rollout.kube.command_by import COMMAND_ANNOTATION, UNKNOWN_AUTHOR, command_author
from rollout.kube.conditions import Problem
from rollout.kube.deletion import Finalizer
from rollout.kube.dependency_gate import DependencyGate
from rollout.kube.document import RunInfo, StoredStatus, split
from rollout.kube.events import EventRecorder, EventText, micro_time
from rollout.kube.finalizer import deleting, held, wanted
from rollout.kube.objects import Experiments, InvalidExperiment, Key, experiment_from, reference
from rollout.kube.revisions import Adopt, Drive, Idle, Reject, StartRun, Supersede, next_step
from rollout.kube.route_gate import RouteGate, check_route_free
from rollout.kube.run_factory import RunFactory
from rollout.kube.run_slots import RunSlots
from rollout.kube.runs import COMMANDS, ExperimentRun
from rollout.kube.store import KubeStatusStore
from rollout.kube.telemetry import Telemetry
from rollout.mesh.factory import routing_target
from rollout.status import Phase

RETRY = "retry"  # a command for a run that ended without promotion: run the same spec again

log = logging.getLogger("meshroll.kube.reconcile")

Obj = dict[str, Any]


class Reconciler:
    def __init__(
        self,
        experiments: Experiments,
        factory: RunFactory,
        recorder: EventRecorder,
        telemetry: Telemetry,
        *,
        clock: Callable[[], float],
        slots: RunSlots | None = None,
        dependencies: DependencyGate | None = None,
    ) -> None:
        self.experiments = experiments
        self.factory = factory
        self.recorder = recorder
        self.telemetry = telemetry
        self.clock = clock
        self.runs: dict[Key, ExperimentRun] = {}
        self.finalizer = Finalizer(experiments, recorder, factory.provider)
        self._lock = threading.Lock()
        self.routes = RouteGate()
        self.slots = slots if slots is not None else RunSlots(experiments, 0, clock=clock)  # --max-concurrent-runs
        self.dependencies = dependencies if dependencies is not None else DependencyGate(experiments)  # spec.after
        self._epoch = 0  # counts stop_all: a reconcile that began before one registers no run (see _ensure)
        self._reconciling = threading.local()  # the epoch the reconcile on this thread began in

    # --- the reconcile ----------------------------------------------------------------------------

    def reconcile(self, key: Key) -> None:
        self._reconciling.epoch = self._epoch
        try:
            obj = self.experiments.get(key)
        except NotFound:
            self._deleted(key)
            return
        if deleting(obj):
            self._deleting(key, obj)
            return
        stored = split(obj.get("status"))
        if stored.edited:
            log.warning("%s: %s", key, stored.edited)
            self.recorder.record(reference(obj), EventText("Warning", "StatusEdited", "Reconcile", stored.edited))
        if stored.status is not None and not stored.status.done:
            self.slots.hold(key)  # a run under way (here or not): its end frees a slot for those waiting
        generation = int((obj.get("metadata") or {}).get("generation") or 1)
        spec = obj.get("spec") or {}
        problem: str | None = None
        try:
            experiment_from(obj, new_run=True)  # a new run must be able to judge and route here
        except InvalidExperiment as exc:
            problem = exc.message
        run = self.runs.get(key)
        if run is not None and (run.number != stored.info.run or run.stopped):
            self.drop(key, run.number)
        step = next_step(generation, spec, problem, stored.info, stored.status)
        if wanted(step) != held(obj):  # on before a run touches the mesh, off once it is over
            obj = self.finalizer.hold(key, obj, wanted(step))
        if stored.status is not None:
            self.telemetry.set_experiment(
                key.namespace, key.name, stored.status.phase.value, stored.status.traffic.canary_weight
            )
        if isinstance(step, Reject):
            self._reject(key, obj, stored, generation, step)
        elif isinstance(step, Adopt):
            self._adopt(key, obj, stored, step)
        elif isinstance(step, Drive):
            # an operator's command before the run is resumed here: an abort must land even when re-applying
            # the stored step fails (the mesh refusing it, a misspelt route) and would end this reconcile
            run = self._ensure(key, obj, stored, begin=False)
            self._commands(run, obj)
            if not run.begun:
                run.begin()
            run.restore_route()  # every reconcile (each re-list too): a GitOps sync of the route is undone
        elif isinstance(step, Idle):
            self.drop(key)
            self._idle(key, obj, stored, generation)
        elif isinstance(step, StartRun):
            self._start(key, obj, stored, step.generation)
        elif isinstance(step, Supersede):
            self._supersede(key, obj, stored, step)

    def _adopt(self, key: Key, obj: Obj, stored: StoredStatus, step: Adopt) -> None:
        """Record a generation that does what the run does; with ``step.spec``, that is the run's spec from now
        on. A run under way whose ``notify`` changed is built again from its status (as after a restart), so
        that its next message goes where the spec now says."""
        info: dict[str, Any] = {"generation": step.generation, "observed_generation": step.generation}
        if step.spec is not None:
            info["spec"] = dict(step.spec)
        run = self.runs.get(key)
        if not isinstance(step.then, Drive) or run is None:
            self.drop(key)
            store = self._loaded_store(key, stored.info)
            store.refresh(None, **info)
            if isinstance(step.then, Drive):
                self._ensure(key, obj, replace(stored, info=store.info))
            return
        run.refresh(None, **info)
        if not step.renotify:
            return
        self.drop(key, run.number)
        self._ensure(key, obj, replace(stored, info=run.store.info))
        note = f"run {run.number} carries on; its messages now go where generation {step.generation}'s notify says"
        self.recorder.record(reference(obj), EventText("Normal", "NotifyChanged", "Adopt", note))

    def _loaded_store(self, key: Key, info: RunInfo) -> KubeStatusStore:
        """A store for a run that is not running here, holding its stored status (so a refresh keeps it)."""
        store = self.factory.store(key, info)
        store.load()
        return store

    def _ensure(self, key: Key, obj: Obj, stored: StoredStatus, begin: bool = True) -> ExperimentRun:
        """The run of ``key`` here, built from the stored status (and begun: resumed) if it is not."""
        run = self.runs.get(key)
        if run is None:
            run = self.factory.build(key, obj, stored.info)
            target = routing_target(run.orchestrator.experiment)
            with self._lock:
                current = self._epoch == getattr(self._reconciling, "epoch", self._epoch)
                if current:
                    self.runs[key] = run
                    self.routes.steered_by(key, target)
                    self.slots.hold(key)
            if not current:  # stop_all ran meanwhile (leadership lost, or stopping): it would never stop this run
                run.stop()
                raise NotLeader(f"not starting or resuming {key}'s run: the controller stopped acting meanwhile")
            if begin:
                run.begin()
        return run

    def _start(self, key: Key, obj: Obj, stored: StoredStatus, generation: int, *, slot_kept: bool = False) -> None:
        """Start a run, or queue it when the runs under way are at the limit (``slot_kept``: a superseded run's
        slot is this one's). Reconciles of different Experiments run at once: the check that the route is free
        and the run's first status write (which the next check reads) are one step per routing object, and
        the count of runs under way and that write are one step for all (``RunSlots.admitting``). First of all,
        the Experiments of ``spec.after`` must have succeeded and its metrics must be readable here (``RunFactory.
        cannot_start``): one held back by either holds no place in line."""
        self.drop(key)
        experiment = experiment_from(obj)
        held = self.factory.cannot_start(experiment) or self.dependencies.held_back(key, obj)
        if held is not None:
            self._held_back(key, obj, stored, generation, held)
            return
        target = routing_target(experiment)
        with self.routes.entering(key, target):
            check_route_free(self.experiments, key, target)
            with self.slots.admitting(key, obj) if not slot_kept else nullcontext(None) as decision:
                if isinstance(decision, Queue):
                    self._queued(key, obj, stored, generation, decision)
                    return
                info = stored.info.next_run(generation, dict(obj.get("spec") or {}), stored.status)
                info = replace(info, last_command=_annotation(obj))  # a command given before the run is spent
                log.info("%s: starting run %d (generation %d)", key, info.run, generation)
                self._ensure(key, obj, StoredStatus(None, info))

    def _queued(self, key: Key, obj: Obj, stored: StoredStatus, generation: int, queue: Queue) -> None:
        """Report that ``key`` waits for a run slot: Ready False (Queued) and, once per generation, an Event."""
        ready = next((c for c in stored.conditions if c.get("type") == "Ready"), {})
        info = stored.info
        if info.queued_generation != generation:  # its place in line from now on (admission.place_of)
            since = place_of(obj, self.clock()).asked
            info = replace(info, queued_generation=generation, queued_since=micro_time(since))
        first = ready.get("reason") != QUEUED or ready.get("observedGeneration") != generation
        if first:
            log.info("%s: generation %d %s", key, generation, queue.message)
            self.recorder.record(reference(obj), EventText("Normal", QUEUED, "Queue", queue.message))
        elif ready.get("message") == queue.message and info == stored.info:
            return  # already reported
        store = self._loaded_store(key, info)
        store.refresh(Problem(QUEUED, queue.message), observed_generation=generation)

    def _held_back(self, key: Key, obj: Obj, stored: StoredStatus, generation: int, held: EventText) -> None:
        """Report that ``key``'s run does not start yet: Ready False (``held.reason``: Waiting, DependencyFailed,
        DependencyCycle, NoPrometheus) and ``held`` as an Event when that reason begins for this generation."""
        ready = next((c for c in stored.conditions if c.get("type") == "Ready"), {})
        info = replace(stored.info, queued_generation=0, queued_since="")  # no place in the run queue meanwhile
        if ready.get("reason") != held.reason or ready.get("observedGeneration") != generation:
            log.info("%s: generation %d %s", key, generation, held.note)
            self.recorder.record(reference(obj), held)
        elif ready.get("message") == held.note and info == stored.info:
            return  # already reported
        self._loaded_store(key, info).refresh(Problem(held.reason, held.note), observed_generation=generation)

    def _supersede(self, key: Key, obj: Obj, stored: StoredStatus, step: Supersede) -> None:
        # Not begun if not running here: resuming would re-apply the stored step first, and when the
        # mesh refuses that step (the reason the spec was edited, often) the new run would never start.
        with self.slots.keeping(key):  # its slot passes to the new run: never queued behind others for it
            run = self._ensure(key, obj, stored, begin=False)
            log.info("%s: run %d is %s", key, run.number, step.reason)
            if not run.supersede(step.reason):
                self.drop(key, run.number)  # rebuilt (and begun, if it is to go on) by the next reconcile
                return  # the abort did not reach the mesh: the run failed and this key comes back after a backoff
            self.drop(key)
            fresh = self.experiments.get(key)
            self._start(key, fresh, split(fresh.get("status")), step.generation, slot_kept=True)

    def _reject(self, key: Key, obj: Obj, stored: StoredStatus, generation: int, step: Reject) -> None:
        self.recorder.record(reference(obj), EventText("Warning", "InvalidSpec", "Validate", step.problem))
        if step.then is None:
            message = f"generation {generation} is invalid, nothing runs: {step.problem}"
            run = None
        else:
            message = (
                f"generation {generation} is invalid: {step.problem}; run {stored.info.run} "
                f"(generation {stored.info.generation}) carries on with its own spec"
            )
            run = self._ensure(key, obj, stored) if isinstance(step.then, Drive) else None
            if run is None:
                self.drop(key)
        ready = next((c for c in stored.conditions if c.get("type") == "Ready"), {})
        if stored.info.observed_generation == generation and ready.get("message") == message:
            return  # already reported
        if run is not None:
            run.refresh(Problem("InvalidSpec", message), observed_generation=generation)
            return
        self._loaded_store(key, stored.info).refresh(Problem("InvalidSpec", message), observed_generation=generation)

    def _idle(self, key: Key, obj: Obj, stored: StoredStatus, generation: int) -> None:
        command = _annotation(obj)
        if command and command != stored.info.last_command:
            phase = stored.status.phase if stored.status is not None else None
            if _verb(command) == RETRY and phase is not None and phase is not Phase.SUCCEEDED:
                author = command_author((obj.get("metadata") or {}).get("annotations") or {}, command)
                log.info(
                    "%s: retry after run %d ended %s (by %s)",
                    key,
                    stored.info.run,
                    phase.value,
                    author or UNKNOWN_AUTHOR,
                )
                self._start(key, obj, stored, generation)  # the new run spends the command (last_command)
                return
            ended = f"run {stored.info.run} is {phase.value if phase else 'over'}; " + (
                "a promoted release is not run again; change the spec (e.g. a new canary version) to start a new run"
                if phase is Phase.SUCCEEDED
                else "change the spec (e.g. a new canary version), or annotate retry to run it again"
            )
            self.recorder.record(reference(obj), _ignored(command, ended))
        if stored.info.observed_generation != generation or command != stored.info.last_command:
            self._loaded_store(key, stored.info).refresh(None, observed_generation=generation, last_command=command)

    def _commands(self, run: ExperimentRun, obj: Obj) -> None:
        stopped = str(((obj.get("metadata") or {}).get("annotations") or {}).get(STOPPED_ANNOTATION) or "")
        if stopped:
            run.stop_faults(f"faults stopped by 'meshroll chaos stop --all' ({STOPPED_ANNOTATION}={stopped})")
        value = _annotation(obj)
        if not value or value == run.store.info.last_command:
            return
        command = _verb(value)
        if command == RETRY:
            if run.status.phase.terminal:
                return  # still reverting: the retry is carried out once the run is done (``_idle``)
            why = f"run {run.number} is under way; retry runs again a release that ended without promotion"
            self.recorder.record(reference(obj), _ignored(value, why))
        elif command in COMMANDS:
            author = command_author((obj.get("metadata") or {}).get("annotations") or {}, value)
            log.info("%s: %s (annotation %s, by %s)", run.key, command, COMMAND_ANNOTATION, author or UNKNOWN_AUTHOR)
            run.command(command, by=author or f"annotation {COMMAND_ANNOTATION}")
        else:
            self.recorder.record(reference(obj), _ignored(value, ""))
        run.refresh(run.store.problem, last_command=value)

    def _deleting(self, key: Key, obj: Obj) -> None:
        """``obj`` is being deleted: revert what its run holds (finalizer.py), then let it go."""
        if not held(obj):  # our finalizer was removed by hand (or never added): as when the object is gone
            self._deleted(key)
            return
        with self._lock:
            run = self.runs.pop(key, None)
        if run is not None:
            run.stop()
        self.telemetry.forget(key.namespace, key.name)
        self.finalizer.finalize(key, obj, run)

    def _deleted(self, key: Key) -> None:
        with self._lock:
            run = self.runs.pop(key, None)
        self.telemetry.forget(key.namespace, key.name)
        if run is not None and not run.status.done:
            log.warning("%s was deleted during run %d: routing all traffic back to stable", key, run.number)
            try:
                run.route_to_stable()
            except Exception as exc:  # the mesh may be gone too; nothing is left to record it in
                log.error("%s: could not route back to stable after deletion: %s", key, exc)
        elif run is not None:
            run.stop()

    # --- helpers for the controller ----------------------------------------------------------------

    def drop(self, key: Key, number: int | None = None) -> None:
        with self._lock:
            run = self.runs.get(key)
            if run is None or (number is not None and number != 0 and run.number != number):
                return
            del self.runs[key]
        run.stop()

    def discard(self, run: ExperimentRun) -> bool:
        """Drop ``run`` if it is still the run of its key here; False when it was dropped or replaced already
        (a reconcile rebuilt it, a newer run started): its failure is then no longer this key's."""
        with self._lock:
            current = self.runs.get(run.key) is run
            if current:
                del self.runs[run.key]
        run.stop()
        return current

    def stop_all(self) -> None:
        """Stop every run. A reconcile under way meanwhile does not register the run it builds (``_ensure``)."""
        with self._lock:
            runs, self.runs = list(self.runs.values()), {}
            self._epoch += 1
        for run in runs:
            run.stop()

    def report(self, key: Key, problem: Problem, note: str | None = None) -> None:
        """Best effort: put ``problem`` in the Ready condition and post it as a Warning Event (``note``: the Event's
        text, when not the message: the same at every retry of one problem, so that its repeats are one Event)."""
        try:
            obj = self.experiments.get(key)
            text = EventText("Warning", problem.reason, "Reconcile", note or problem.message)
            self.recorder.record(reference(obj), text)
            self._loaded_store(key, split(obj.get("status")).info).refresh(problem)
        except Exception as exc:
            log.warning("%s: could not report %s in the status: %s", key, problem.reason, exc)

    def clear_problem(self, key: Key) -> None:
        run = self.runs.get(key)
        if run is not None:
            try:
                run.refresh(None)
            except Exception as exc:
                log.warning("%s: could not clear the reported problem: %s", key, exc)


def _verb(value: str) -> str:
    """The command of an annotation's value (``abort:again`` is ``abort``)."""
    return value.split(":", 1)[0].strip().lower()


def _ignored(value: str, why: str) -> EventText:
    """The Warning for a command annotation that is not carried out: unknown, or ``why`` not."""
    if _verb(value) not in (*COMMANDS, RETRY):
        note = f"{COMMAND_ANNOTATION}={value!r} is not a command; use one of {', '.join((*COMMANDS, RETRY))}"
        return EventText("Warning", "UnknownCommand", "Command", note)
    return EventText("Warning", "CommandIgnored", "Command", f"{COMMAND_ANNOTATION}={value!r}: {why}")


def _annotation(obj: Mapping[str, Any]) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(COMMAND_ANNOTATION) or "").strip()
