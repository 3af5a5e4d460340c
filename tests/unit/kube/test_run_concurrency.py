"""Shared state between a run's jobs, the reconcile workers and the Lease, without an API server.

- A run's job that comes due while this replica may not act (a Lease renewal late) looks again
  later instead of returning for good: a renewal that lands after all stops nothing, and the run
  would otherwise be left with no job due, stuck at its step.
- The failure of a run that is no longer the current run of its key (rebuilt by a reconcile,
  superseded) neither backs the key off nor drops the run that replaced it.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client as k8s
from prometheus_client import CollectorRegistry

from rollout.kube.client import KubeError
from rollout.kube.controller import Controller, ControllerConfig
from rollout.kube.objects import Key
from rollout.kube.runs import LEASE_RECHECK_S, ExperimentRun, RunContext
from rollout.kube.telemetry import Telemetry
from rollout.mesh.errors import MeshError
from rollout.mesh.factory import RoutingTarget
from rollout.status import Status

KEY = Key("shop", "checkout-v2")


class Scheduler:
    """Records the jobs added and removed (APScheduler's BackgroundScheduler, as far as a run uses it)."""

    def __init__(self) -> None:
        self.added: list[tuple[str, float]] = []
        self.removed: list[str] = []

    def add_job(self, func: Any, trigger: str, *, args: tuple[str], run_date: Any, id: str, **_: Any) -> None:
        self.added.append((id, run_date.timestamp()))

    def remove_job(self, job_id: str) -> None:
        self.removed.append(job_id)

    def get_job(self, job_id: str) -> None:
        return None


class Orchestrator:
    def __init__(self) -> None:
        self.status = Status()
        self.listeners: list[Any] = []
        self.observed = 0

    def begin_observation(self) -> None:  # the observe job's first step (its metrics are read after it)
        self.observed += 1
        raise RuntimeError("stop here: what a job does next is not what these tests are about")


def run_with(may_act: list[bool], scheduler: Scheduler, failures: list[BaseException]) -> ExperimentRun:
    context = RunContext(
        scheduler=scheduler,  # type: ignore[arg-type]
        recorder=SimpleNamespace(),  # type: ignore[arg-type]
        telemetry=SimpleNamespace(),  # type: ignore[arg-type]
        may_act=lambda: may_act[0],
        on_failure=lambda _run, exc: failures.append(exc),
        on_finished=lambda _key, _number: None,
        clock=lambda: 1_000_000.0,
    )
    store = SimpleNamespace(info=SimpleNamespace(run=3))
    return ExperimentRun(KEY, {}, Orchestrator(), store, context)  # type: ignore[arg-type]


def test_a_job_due_while_the_lease_renewal_is_late_looks_again_rather_than_leaving_the_run_without_a_job() -> None:
    may_act, scheduler, failures = [False], Scheduler(), []
    run = run_with(may_act, scheduler, failures)

    run._job("observe")

    assert scheduler.added == [(f"{KEY}#3:observe", 1_000_000.0 + LEASE_RECHECK_S)]
    assert run.orchestrator.observed == 0  # type: ignore[attr-defined]
    may_act[0] = True  # the renewal landed: the job due again now does its work
    run._job("observe")
    assert run.orchestrator.observed == 1  # type: ignore[attr-defined]
    assert [str(f) for f in failures] == ["stop here: what a job does next is not what these tests are about"]


def test_a_job_of_a_stopped_run_neither_acts_nor_comes_back() -> None:
    may_act, scheduler, failures = [False], Scheduler(), []
    run = run_with(may_act, scheduler, failures)
    run.stop()

    run._job("observe")
    may_act[0] = True
    run._job("observe")

    assert scheduler.added == [] and failures == []
    assert run.orchestrator.observed == 0  # type: ignore[attr-defined]


def controller() -> Controller:
    """A controller that is never started (nothing here sends a request)."""
    return Controller(
        k8s.ApiClient(), ControllerConfig(identity="test"), Telemetry(CollectorRegistry()), source_factory=lambda: None
    )  # type: ignore[arg-type, return-value]


class Run:
    def __init__(self, number: int) -> None:
        self.key, self.number, self.stopped = KEY, number, False

    def stop(self) -> None:
        self.stopped = True


def test_the_failure_of_a_run_already_replaced_neither_backs_the_key_off_nor_drops_its_successor() -> None:
    ctl = controller()
    old, current = Run(3), Run(3)  # the same run number, rebuilt by a reconcile from the stored status
    ctl.reconciler.runs[KEY] = current  # type: ignore[assignment]

    ctl._run_failed(KEY, KubeError("the mesh went away"), old)  # type: ignore[arg-type]

    assert ctl.reconciler.runs[KEY] is current and not current.stopped  # type: ignore[comparison-overlap]
    assert old.stopped
    assert len(ctl.queue) == 0 and ctl._failures == {}


def test_the_waiters_of_a_route_are_told_once_when_a_run_on_it_ends() -> None:
    ctl = controller()
    routes = ctl.reconciler.routes
    route = RoutingTarget("VirtualService", "shop", "checkout")
    routes.steered_by(KEY, route)
    for waiter in (Key("shop", "a"), Key("shop", "b")):
        with pytest.raises(MeshError), routes.entering(waiter, route):
            raise MeshError("in use by Experiment shop/checkout-v2")  # refused: it waits for the route

    ctl._run_ended(KEY)

    assert sorted(k.name for k in _due(ctl)) == ["a", "b", "checkout-v2"]
    assert routes.waiters(KEY) == set(), "told once"


def _due(ctl: Controller) -> list[Key]:
    keys = []
    while (key := ctl.queue.get(timeout=0.0)) is not None:
        keys.append(key)
    return keys


class SlowCounts(dict[Key, int]):
    """The backoff counts, read slowly: two failures counted at once interleave unless the count is locked."""

    def get(self, key: Key, default: Any = None) -> Any:
        value = super().get(key, default)
        time.sleep(0.05)
        return value


def test_failures_counted_at_once_from_a_job_and_a_worker_are_both_counted() -> None:
    ctl = controller()
    ctl._failures = SlowCounts()
    ctl.reconciler.report = lambda key, problem, note=None: None  # type: ignore[method-assign]
    threads = [threading.Thread(target=ctl._run_failed, args=(KEY, MeshError("refused"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert ctl._failures[KEY] == 2  # the next delay is the third of the backoff, not the second again
