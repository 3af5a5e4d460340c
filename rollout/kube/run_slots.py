"""The limit on runs under way at once (``--max-concurrent-runs``): who may start, who holds a slot
here, and who waits for one. Thread-safe. ``admission.py`` decides; this module reads the objects.

The reconcile workers start runs at once, so the count of runs under way and the start are one step:
``admitting`` decides under one lock from a fresh list of the Experiments (the API server's, never a
cache: a new leader counts what the statuses record) and, when it admits, *reserves* the slot until
the run's first status write is done (the next decision reads that write instead). A superseded run
keeps its slot while it is replaced (``keeping``): the new generation's run never waits for its own.

An Experiment refused a slot is registered as waiting *before* its decision reads the list; when a
run that holds a slot here ends (``release``) every waiter is reconciled at once, and the one first
in line starts (the order is in the objects, not in this process). A re-list (the watch's resync)
reconciles them too, should anything else free a slot.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rollout.kube.admission import Admit, Decision, Place, decide, in_line, place_of, under_way
from rollout.kube.objects import Experiments, InvalidExperiment, Key, experiment_from

Obj = dict[str, Any]


class RunSlots:
    """``limit`` runs under way at once (0: no limit) across ``scopes`` (namespaces; ``()``: all)."""

    def __init__(
        self,
        experiments: Experiments,
        limit: int = 0,
        *,
        scopes: tuple[str, ...] = (),
        clock: Callable[[], float],
        wake: Callable[[Iterable[Key]], None] = lambda _keys: None,
    ) -> None:
        self.experiments = experiments
        self.limit = max(0, limit)
        self.scopes = scopes
        self.clock = clock
        self.wake = wake  # reconcile these keys at once (set by the controller)
        self._lock = threading.Lock()  # the sets below
        self._deciding = threading.Lock()  # one decision at a time: the count and the reservation are one step
        self._reserved: Counter[Key] = Counter()  # admitted (or keeping their slot), first status write not done
        self._holders: set[Key] = set()  # keys whose run holds a slot here (a release wakes the waiters)
        self._waiting: set[Key] = set()  # refused a slot (or deciding) since a slot was last released

    @contextmanager
    def admitting(self, key: Key, obj: Obj) -> Iterator[Decision]:
        """Decide whether ``key`` (as ``obj``) starts a run now; an admitted key holds its slot until the block ends."""
        if self.limit <= 0:
            yield Admit()
            return
        with self._lock:  # before the list is read: a slot released after that wakes this key
            self._waiting.add(key)
        with self._deciding:
            decision = self._decide(key, obj)
            if isinstance(decision, Admit):
                with self._lock:
                    self._reserved[key] += 1
                    self._waiting.discard(key)
        if not isinstance(decision, Admit):
            yield decision
            return
        try:
            yield decision
        finally:
            with self._lock:
                self._unreserve(key)
                wasted = key not in self._holders  # admitted, but no run started: the slot is free again
                waiters = self._pop_waiters() if wasted else set()
            if waiters:
                self.wake(waiters)

    @contextmanager
    def keeping(self, key: Key) -> Iterator[None]:
        """``key``'s slot stays taken during the block (a run superseded by its next generation's)."""
        with self._lock:
            self._reserved[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._unreserve(key)

    def hold(self, key: Key) -> None:
        """``key`` has a run under way (built here, or read from its status): its end frees a slot."""
        if self.limit > 0:
            with self._lock:
                self._holders.add(key)

    def release(self, key: Key) -> set[Key]:
        """``key`` holds no run here any more: the keys waiting for a slot, to reconcile now (none if it held none)."""
        with self._lock:
            if key not in self._holders:
                return set()
            self._holders.discard(key)
            return self._pop_waiters()

    def waiting(self) -> set[Key]:
        with self._lock:
            return set(self._waiting)

    # --- internals -----------------------------------------------------------------------------

    def _decide(self, key: Key, obj: Obj) -> Decision:
        me = place_of(obj, self.clock())
        with self._lock:
            running = {k for k, n in self._reserved.items() if n > 0 and k != key}
        waiting: list[Place] = []
        for item in self._items():
            other = Key.of(item)
            if other == key:
                continue
            if under_way(item):
                running.add(other)
                continue
            line = in_line(item)
            if line is None or not line.place < me or other in running:
                continue
            if not line.checked and not _valid(item):
                continue
            waiting.append(line.place)
        return decide(me, running, waiting, self.limit)

    def _items(self) -> list[Obj]:
        items: list[Obj] = []
        for scope in self.scopes or ("",):
            items.extend(self.experiments.list(scope or None).get("items") or ())
        return items

    def _unreserve(self, key: Key) -> None:
        self._reserved[key] -= 1
        if self._reserved[key] <= 0:
            del self._reserved[key]

    def _pop_waiters(self) -> set[Key]:
        waiters, self._waiting = self._waiting, set()
        return waiters


def _valid(item: Obj) -> bool:
    try:
        experiment_from(item)
    except InvalidExperiment:
        return False
    return True
