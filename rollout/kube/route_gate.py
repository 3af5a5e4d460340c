"""One routing object, one run: who may start on a route, and who waits for it. Thread-safe.

Reconciles of different Experiments run at once, so the check that a route is free and the run's
first status write (which the next check reads) are one step per routing object (``entering``).
An Experiment refused because another run steers its route is registered as waiting *before* its
check reads the route's holders, so a run that ends at any moment after that wakes it (``waiters``)
instead of leaving it to its backoff. ``check_route_free`` is that check: it reads the namespace's
Experiments and refuses a start on a route another run under way steers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rollout.kube.command_by import COMMAND_ANNOTATION
from rollout.kube.document import split
from rollout.kube.finalizer import deleting, held
from rollout.kube.objects import Experiments, InvalidExperiment, Key, experiment_from
from rollout.mesh.errors import MeshError
from rollout.mesh.factory import RoutingTarget, routing_target

RouteName = tuple[str, str, str]  # namespace, kind, name of a routing object
ROUTING_OBJECT_FIELDS = ("virtualService", "httpRoute", "trafficSplit")  # spec.mesh: the object a run steers


def route_name(target: RoutingTarget | None) -> RouteName:
    return (target.namespace, target.kind, target.name) if target is not None else ("", "", "")


def steers_elsewhere(status: object, name: str) -> bool:
    """Whether a stored ``.status`` (raw) plainly holds no run on routing object ``name``: no run at all, or
    a run whose spec names another routing object. False when unsure (the caller then parses it in full)."""
    if not isinstance(status, Mapping) or not status.get("run"):
        return True
    spec = status.get("runSpec")
    mesh = spec.get("mesh") if isinstance(spec, Mapping) else None
    if not isinstance(mesh, Mapping):
        return False
    names = {value for field in ROUTING_OBJECT_FIELDS if isinstance(value := mesh.get(field), str)}
    return bool(names) and name not in names


def check_route_free(experiments: Experiments, key: Key, target: RoutingTarget | None) -> None:
    """Raise MeshError when another Experiment's run under way steers ``target`` (the route ``key`` would):
    two runs writing one route's weights would each undo the other's (and leave weights that do not add up)."""
    if target is None:
        return
    for item in experiments.list(key.namespace).get("items") or ():
        other = Key.of(item)
        if other == key or steers_elsewhere(item.get("status"), target.name):
            continue  # read raw: parsing and validating every run in the namespace made a start O(N)
        if deleting(item) and not held(item):
            continue  # deleted and let go by meshroll (reverted), kept Terminating by someone else's finalizer
        stored = split(item.get("status"))
        if stored.status is None or stored.status.done:
            continue
        try:
            theirs = routing_target(experiment_from(item, stored.info.spec))
        except InvalidExperiment:
            continue
        if theirs is not None and theirs.overlaps(target):
            raise MeshError(
                f"{target.what} is in use by Experiment {other} (run {stored.info.run}, "
                f"{stored.status.phase.value}): two experiments must not steer one route at once; this one "
                f"starts when that run has ended (wait, or abort it: kubectl annotate experiment {other.name} "
                f"-n {other.namespace} {COMMAND_ANNOTATION}=abort --overwrite)"
            )


class RouteGate:
    """The start locks of routing objects, which key's run steers which, and who waits for each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[RouteName, threading.Lock] = {}  # one start at a time per routing object, while in use
        self._users: dict[RouteName, int] = {}  # starts holding or waiting for each lock: at 0 the lock is dropped
        self._route_of: dict[Key, RouteName] = {}  # the routing object of each key's run built here
        self._waiting: dict[RouteName, set[Key]] = {}  # keys whose start checked a route since a run last ended on it

    @contextmanager
    def entering(self, key: Key, target: RoutingTarget | None) -> Iterator[None]:
        """Hold ``target``'s start lock; ``key`` counts as waiting for it until the block ends without error."""
        name = route_name(target)
        with self._lock:  # before the check reads who holds the route: a run that ends after it wakes this key
            self._waiting.setdefault(name, set()).add(key)
            lock = self._locks.setdefault(name, threading.Lock())
            self._users[name] = self._users.get(name, 0) + 1
        try:
            with lock:
                yield
            with self._lock:
                self._discard_waiting(name, key)
        finally:
            with self._lock:
                self._users[name] -= 1
                if not self._users[name]:  # nobody holds or waits for it: a route seen once costs nothing after
                    del self._users[name], self._locks[name]

    def steered_by(self, key: Key, target: RoutingTarget | None) -> None:
        """``key``'s run, built here, steers ``target``."""
        if target is not None:
            with self._lock:
                self._route_of[key] = route_name(target)

    def waiters(self, ended: Key) -> set[Key]:
        """The Experiments to reconcile at once now that no run of ``ended`` steers its route any more: those
        whose start checked that route (and was refused, or is checking now) since a run last ended on it."""
        with self._lock:
            name = self._route_of.pop(ended, None)
            return self._waiting.pop(name, set()) if name is not None else set()

    def _discard_waiting(self, name: RouteName, key: Key) -> None:
        waiting = self._waiting.get(name)
        if waiting is not None:
            waiting.discard(key)
            if not waiting:
                del self._waiting[name]
