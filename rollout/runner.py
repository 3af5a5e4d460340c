"""``meshroll run`` for the local provider: the embedded mesh, a scheduler, and the orchestrator."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from analysis.engines import EngineError, engine_for
from analysis.metric_sources import plugin_source
from analysis.observations import MetricPair
from analysis.prometheus import PrometheusConfig, PrometheusSource
from analysis.sources import MetricsUnavailableError, StepSpan
from chaos.timing import next_change
from rollout.chaos_watch import JournalRecorder, SteadyState, check_recovery
from rollout.errors import RolloutError
from rollout.events import Command, Halt
from rollout.localmesh import BackendProfile, LocalMeshConfig, LocalMeshError, LocalMeshThread, VersionSpec
from rollout.mesh.local import LocalProvider
from rollout.mesh.plan import TrafficPlan
from rollout.notify import Notifier, close_all, notifiers_for
from rollout.orchestrator import Orchestrator
from rollout.sources import CountersSource, MetricSource
from rollout.spec.models import Experiment
from rollout.spec.traffic import LocalMeshSpec
from rollout.status import Phase, Status
from rollout.store import FileStore, MemoryStore, StatusStore
from rollout.trail import note_line
from rollout.windows import next_observation_due

EXIT_CODES = {Phase.SUCCEEDED: 0, Phase.ROLLED_BACK: 2, Phase.INCONCLUSIVE: 3}


class Signals:
    """SIGINT and SIGTERM while a run is on: the first one is remembered, and the run ends at its next
    safe point. Never raised in the middle of an action, so a second Ctrl-C cannot cut a cleanup short."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._told = False  # said once that a second signal does not cut the abort short
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> Signals:
        self._previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *_: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name
        elif not self._told:  # a second Ctrl-C: the abort waits on something (a mesh write under way)
            self._told = True
            sys.stderr.write(
                "meshroll: already aborting: the change under way (a mesh write) ends first, "
                "then all traffic goes back to stable\n"
            )
            sys.stderr.flush()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False when a signal cut it short."""
        deadline = time.monotonic() + seconds
        while self.received is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.2, left))
        return self.received is None

    def wait(self, seconds: float) -> str | None:
        """Sleep up to ``seconds``; the signal that cut it short (None: none did)."""
        return None if self.sleep(seconds) else self.received


@dataclass
class RunResult:
    status: Status
    exit_code: int
    router_safe: bool
    interrupted: str | None = None
    recovery: str | None = None  # the chaos recovery check's sentence (None: nothing was checked)


def mesh_config(experiment: Experiment, seed: int | None) -> LocalMeshConfig:
    mesh = experiment.spec.mesh
    if not isinstance(mesh, LocalMeshSpec):
        raise RolloutError(
            f"meshroll run drives the embedded mesh (provider local), but spec.mesh.provider is {mesh.provider!r}; "
            "run it in a cluster with 'meshroll controller', or set provider: local"
        )
    target = experiment.spec.target
    cohort = ("x-cohort", "beta")
    strategy = experiment.spec.strategy
    matches = (
        strategy.ab_test.match
        if strategy is not None and strategy.ab_test is not None
        else strategy.canary.cohort.match
        if strategy is not None and strategy.canary is not None and strategy.canary.cohort is not None
        else []
    )  # the load generator's cohort header: the first exact header match of the A/B test or canary cohort
    for match in matches:
        exact = [(k, v.exact) for k, v in match.headers.items() if v.exact is not None]
        if exact:
            cohort = (exact[0][0], exact[0][1] or "")
            break

    def profile(p: object) -> BackendProfile:
        from rollout.spec.traffic import BackendProfileSpec

        assert isinstance(p, BackendProfileSpec)
        return BackendProfile(p.median_latency * 1000.0, p.p99_latency * 1000.0, p.error_rate)

    return LocalMeshConfig(
        service=target.service,
        namespace=experiment.metadata.namespace,
        stable=VersionSpec(target.stable.version, profile(mesh.stable)),
        canary=VersionSpec(target.canary.version, profile(mesh.canary)),
        port=mesh.port,
        metrics_port=mesh.metrics_port,
        load_rate=mesh.load_rate,
        cohort_header=cohort,
        cohort_fraction=mesh.cohort_fraction if matches else 0.0,
        load_users=mesh.load_users,
        seed=seed if seed is not None else (mesh.seed or 0),
    )


def run_local(
    experiment: Experiment,
    *,
    seed: int | None = None,
    status_out: Path | None = None,
    on_change: Callable[[Status], None] | None = None,
    clock: Callable[[], float] = time.time,
    prometheus: PrometheusConfig | None = None,
    metrics_port: int | None = None,
    on_ready: Callable[[str], None] | None = None,
    journal: Path | None = None,
) -> RunResult:
    """Run ``experiment`` to its end on the embedded mesh. SIGINT/SIGTERM abort it safely.

    With ``prometheus`` the steps are judged from that Prometheus (which must scrape the mesh's
    /metrics: fix its port with ``metrics_port``), else from the mesh's in-process counters.
    ``on_ready`` receives the mesh's metrics URL once it listens. With faults, the steady state is
    checked on the client's view every ``chaos.interval``, and ``journal`` receives the fault journal.
    """
    config = mesh_config(experiment, seed)
    plugin = _plugin_source(experiment)
    if prometheus is None and plugin is None:
        _check_counters_serve(experiment)
    if metrics_port is not None:
        config = dataclasses.replace(config, metrics_port=metrics_port)
    engine_name = experiment.spec.analysis.engine if experiment.spec.analysis else "sequential"
    try:
        judge = engine_for(engine_name)
    except EngineError as exc:  # a plugin that loaded at validation and fails now
        raise RolloutError(f"spec.analysis.engine: {exc}") from None
    store: StatusStore = FileStore(status_out, resume=False) if status_out else MemoryStore()
    with Signals() as signals:
        mesh = LocalMeshThread(config)
        try:
            mesh.start()
        except LocalMeshError as exc:
            raise RolloutError(str(exc)) from None
        provider = LocalProvider(mesh)
        if on_ready is not None:
            on_ready(mesh.metrics_url)
        interrupted: str | None = None
        paused = False
        recovery: str | None = None
        notifiers: list[Notifier] = []
        try:
            source: MetricSource = plugin or (
                PrometheusSource(prometheus) if prometheus else CountersSource(mesh.snapshot, clock)
            )
            notifiers = notifiers_for(experiment, status_out.parent if status_out else None)
            orchestrator = Orchestrator(experiment, provider, source, judge, store, clock=clock, notifiers=notifiers)
            recorder = _watch_chaos(orchestrator, mesh, journal, clock)
            if on_change is not None:
                orchestrator.listeners.append(on_change)
            mesh.start_load()
            _measure_steady_state(orchestrator, signals)
            if isinstance(source, CountersSource):
                source.mark()  # the first step's window counts from its start, not from the measurement above
            interrupted, paused = _drive(orchestrator, clock, signals)
            orchestrator.faults_off()  # the run's end ends its faults
            status = orchestrator.status
            if not interrupted:  # the steady state again, after the recovery time: a line of the run's trail
                recovery = check_recovery(orchestrator.steady_state, status, clock, signals.wait, recorder)
            if recovery is not None:
                print(note_line("recovery", clock(), status.started_at, recovery), flush=True)
        finally:
            safe = _ensure_safe(mesh, provider)
            mesh.stop()
            close_all(notifiers, timeout=10)  # the final outcome gets up to 10 s; anything left stays queued
    status = orchestrator.status
    halted = any(isinstance(entry.event, Halt) for entry in status.history)
    code = 1 if interrupted else 3 if paused else 2 if halted else EXIT_CODES.get(status.phase, 1)
    return RunResult(status, code, safe, interrupted, recovery)


def _plugin_source(experiment: Experiment) -> MetricSource | None:
    """The experiment's metric-source plugin (None: the built-in source); RolloutError when it cannot be had."""
    if (name := experiment.source_plugin) is None:
        return None
    try:
        return plugin_source(name)
    except EngineError as exc:
        raise RolloutError(f"spec.analysis.source: {exc}") from None


def _check_counters_serve(experiment: Experiment) -> None:
    """Without Prometheus the mesh's own counters judge the run: refuse, before anything starts,
    metrics whose template they cannot serve (a custom query, another mesh's metrics)."""
    analysis = experiment.spec.analysis
    if analysis is None:
        return
    unserved = [
        f"{analysis.metrics[i].name} (template {analysis.metrics[i].template})"
        for i in CountersSource.unserved(analysis)
    ]
    if unserved:
        raise RolloutError(
            f"the embedded mesh's own counters serve only the templates {CountersSource.SERVED}, "
            f"not {', '.join(unserved)}; use those templates, or judge from a Prometheus that scrapes the mesh "
            "(--prometheus URL --metrics-port N)"
        )


def _watch_chaos(
    orchestrator: Orchestrator, mesh: LocalMeshThread, journal: Path | None, clock: Callable[[], float]
) -> JournalRecorder | None:
    """Steady-state checks on the client's view, and the fault journal, for experiments with faults."""
    plan = orchestrator.plan
    if not plan.faults:
        return None
    client = CountersSource(lambda: mesh.snapshot("source"), clock)
    orchestrator.steady_state = SteadyState(orchestrator.experiment, plan, client)
    if journal is None:
        return None
    recorder = JournalRecorder(
        orchestrator.experiment, plan, lambda: (mesh.snapshot("source"), mesh.snapshot("destination")), journal, clock
    )
    orchestrator.listeners.append(recorder.on_change)
    return recorder


def _measure_steady_state(orchestrator: Orchestrator, signals: Signals) -> None:
    """The embedded mesh has no traffic before its run: give the halt rules one ``chaos.interval`` of it
    (all on stable, no fault) to read, so that the start refuses a steady state already broken, as a
    cluster's run does on the traffic before it, instead of injecting faults and blaming them."""
    plan = orchestrator.plan
    if plan.watches_steady_state and plan.halt_rules:
        signals.sleep(plan.chaos_interval)


def _drive(orchestrator: Orchestrator, clock: Callable[[], float], signals: Signals) -> tuple[str | None, bool]:
    """Run until a terminal phase or a signal; returns (the interrupting signal, whether it ended paused)."""
    lock = threading.Lock()
    done = threading.Event()
    errors: list[Exception] = []
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(1)})
    plan = orchestrator.plan

    def at(seconds_from_now: float) -> datetime:
        return datetime.fromtimestamp(time.time() + max(0.0, seconds_from_now), tz=UTC)

    def after_event() -> None:
        status = orchestrator.status
        if status.phase.terminal or status.phase is Phase.PAUSED:
            done.set()
            return
        now = clock()
        if scheduler.get_job("observe") is None:  # a stepInterval on, or at the deadline when that comes first
            due = next_observation_due(status, plan)  # as the controller's: from when the mesh took the step
            scheduler.add_job(observe, "date", run_date=at(due - now), id="observe")
        started = status.started_at or now
        changes = [t for p in plan.faults if (t := next_change(p.timing, started_at=started, now=now)) is not None]
        if changes and scheduler.get_job("tick") is None:
            scheduler.add_job(guarded(orchestrator.tick), "date", run_date=at(min(changes) - now + 0.01), id="tick")

    def acting(action: Callable[[], object]) -> object:
        """``action`` under the run's lock, unless the run is over; a failure ends the run (never hangs it)."""
        with lock:
            if done.is_set():
                return None
            try:
                return action()
            except Exception as exc:
                errors.append(exc)
                done.set()
                return None

    def then_next(action: Callable[[], object]) -> Callable[[], None]:
        def both() -> None:
            action()
            after_event()

        return both

    def guarded(action: Callable[[], Status]) -> Callable[[], None]:
        def job() -> None:
            acting(then_next(action))

        return job

    def observe() -> None:
        """Judge the step; its metrics are read outside the lock, so Ctrl-C never waits on a slow source."""
        span = acting(orchestrator.begin_observation)
        if not isinstance(span, StepSpan):
            acting(after_event)  # nothing to read (a halt, a chaos-only step): what comes next
            return
        read = _read_until(orchestrator, span, done)
        if isinstance(read, Exception) and not isinstance(read, MetricsUnavailableError):
            errors.append(read)  # a source's bug ends the run, as when it was raised under the lock
            done.set()
        elif read is not None:
            acting(then_next(lambda: orchestrator.conclude(span, read)))

    interrupted: str | None = None
    scheduler.start()
    if plan.watches_steady_state:
        scheduler.add_job(
            guarded(orchestrator.check_steady_state), "interval", seconds=plan.chaos_interval, id="steady-state"
        )
    try:
        with lock:
            orchestrator.start()
            after_event()
        while not done.wait(0.2) and signals.received is None:
            pass
    finally:
        scheduler.shutdown(wait=False)
        with lock:  # waits for an action under way: a signal never cuts one in half
            done.set()  # and no job acts after this
            if signals.received is not None and not orchestrator.status.phase.terminal:
                interrupted = signals.received
                orchestrator.handle(Command(command="abort", by=interrupted, reason="the run was interrupted"))
            paused = orchestrator.status.phase is Phase.PAUSED
            if paused:
                reason = f"{orchestrator.status.reason}; a local run has no operator, so it ends here"
                orchestrator.handle(Command(command="abort", by="meshroll run", reason=reason))
    if errors:
        raise errors[0]
    return interrupted, paused


Read = dict[str, MetricPair] | MetricsUnavailableError | Exception


def _read_until(orchestrator: Orchestrator, span: StepSpan, done: threading.Event) -> Read | None:
    """The step's metrics (or the exception a faulty source raised), read on a daemon thread; None when the
    run ends first: Ctrl-C while a Prometheus hangs aborts at once, and the process does not wait for the
    query's timeouts to exit."""
    answer: list[Read] = []
    finished = threading.Event()

    def reading() -> None:
        try:
            answer.append(orchestrator.read(span))
        except Exception as exc:
            answer.append(exc)
        finally:
            finished.set()

    threading.Thread(target=reading, name="meshroll-read", daemon=True).start()
    while not finished.wait(0.1):
        if done.is_set():
            return None
    return answer[0]


def _ensure_safe(mesh: LocalMeshThread, provider: LocalProvider) -> bool:
    """Belt and braces: whatever happened, leave the router at 100% stable with no faults."""
    try:
        if not mesh.current_plan.is_safe and mesh.current_plan.canary_weight != 100:
            provider.apply(TrafficPlan.all_stable())
        return mesh.current_plan.is_safe or mesh.current_plan.canary_weight == 100
    except LocalMeshError:
        return False
