"""Release order (``spec.after``): reads the Experiments a start depends on, and who waits for whom.
Thread-safe. ``dependencies.py`` decides; this module reads the objects.

An Experiment whose start is checked is registered as waiting for every Experiment it reads *before*
reading it: a change of any of them after that (a run that ends, starts or moves on, a deletion, a
creation, a new ``after``) wakes it (``waiters``), and it is reconciled at once rather than at the
next re-list. Read with GETs from the API server (never a cache), only the Experiments named and,
for the cycle check, those they name in turn while they wait to start.
"""

from __future__ import annotations

import threading

from rollout.kube.client import NotFound
from rollout.kube.dependencies import (
    DEPENDENCY_CYCLE,
    DEPENDENCY_FAILED,
    WAITING,
    Decision,
    Failed,
    Obj,
    Start,
    Wait,
    after_of,
    decide,
    to_read,
)
from rollout.kube.events import EventText
from rollout.kube.objects import Experiments, Key

MAX_READS = 200  # Experiments read for one check, at most (a longer chain is cut: the rest reads as missing)


class DependencyGate:
    """Checks ``spec.after`` before a start, across ``scopes`` (namespaces; ``()``: all)."""

    def __init__(self, experiments: Experiments, *, scopes: tuple[str, ...] = ()) -> None:
        self.experiments = experiments
        self.scopes = scopes
        self._lock = threading.Lock()
        self._waiting: dict[Key, set[Key]] = {}  # an Experiment -> those whose start read it since it last changed

    def check(self, key: Key, obj: Obj) -> Decision:
        """Whether ``key`` (as ``obj``) may start its run now (``Start`` at once when it names no Experiment)."""
        if not after_of(obj):
            return Start()
        objects: dict[Key, Obj | None] = {key: obj}
        while wanted := to_read(key, objects):
            with self._lock:  # before the reads: a change after them wakes this key
                for other in wanted:
                    self._waiting.setdefault(other, set()).add(key)
            for other in sorted(wanted, key=str):
                objects[other] = self._read(other) if len(objects) < MAX_READS else None
        decision = decide(key, objects, self.scopes)
        if isinstance(decision, Start):
            self._forget(key, objects)
        return decision

    def held_back(self, key: Key, obj: Obj) -> EventText | None:
        """What keeps ``key``'s run from starting now, as its Event (Normal while it waits; Warning when a
        dependency failed or they wait in a cycle); None: it may start."""
        decision = self.check(key, obj)
        if isinstance(decision, Start):
            return None
        kind, reason = {Wait: ("Normal", WAITING), Failed: ("Warning", DEPENDENCY_FAILED)}.get(
            type(decision), ("Warning", DEPENDENCY_CYCLE)
        )
        return EventText(kind, reason, "Order", decision.message)

    def waiters(self, changed: Key) -> set[Key]:
        """The Experiments to reconcile at once now that ``changed`` changed (each once: they register again)."""
        with self._lock:
            return self._waiting.pop(changed, set())

    def _read(self, key: Key) -> Obj | None:
        if self.scopes and key.namespace not in self.scopes:
            return None  # not watched here (and perhaps not readable): decide() says so
        try:
            return self.experiments.get(key)
        except NotFound:
            return None

    def _forget(self, key: Key, objects: dict[Key, Obj | None]) -> None:
        with self._lock:
            for other in objects:
                waiting = self._waiting.get(other)
                if waiting is not None:
                    waiting.discard(key)
                    if not waiting:
                        del self._waiting[other]
