"""The limit on runs under way at once (``--max-concurrent-runs``): who may start, who holds a slot
here, and who waits for one. Thread-safe. ``admission.py`` decides; this module reads the objects.

The reconcile workers start runs at once, so the count of runs under way and the start are one step:
``admitting`` decides under one lock from a fresh list of the Experiments (the API server's, never a
cache: a new leader counts what the statuses record) and, when it admits, *reserves* the slot until
the run's first status write is done (the next decision reads that write instead). A superseded run
keeps its slot while it is replaced (``keeping``): the new generation's run never waits for its own.

An Experiment refused a slot is registered as waiting *before* its decision reads the list; when a
run that holds a slot here ends (``release``) the first waiter in line (as the last decision's list
ordered them; the order is in the objects, not in this process) is reconciled at once, with any
waiter whose place that list did not show; the others stay asleep, so a run's end costs one list
and one start, not one per Experiment queued. A waiter that finds others before it while a slot is
free wakes those of them that wait here. A re-list (the watch's resync) reconciles everyone too,
should anything else free a slot.
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
        self._waiting: set[Key] = set()  # refused a slot (or deciding), not woken since
        self._line: list[Key] = []  # who waits to start, first in line first, as the last decision read it
        self._woken: set[Key] = set()  # woken for a freed slot, not decided since (see ``settle``)
        self._queued: set[Key] = set()  # whose last decision was to wait (not those deciding right now)

    @contextmanager
    def admitting(self, key: Key, obj: Obj) -> Iterator[Decision]:
        """Decide whether ``key`` (as ``obj``) starts a run now; an admitted key holds its slot until the block ends."""
        if self.limit <= 0:
            yield Admit()
            return
        with self._lock:  # before the list is read: a slot released after that wakes this key
            self._waiting.add(key)
            self._woken.discard(key)  # it decides now: admitted, or queued (and then wakes any before it)
        with self._deciding:
            decision, ahead_here = self._decide(key, obj)
            if isinstance(decision, Admit):
                with self._lock:
                    self._reserved[key] += 1
                    self._waiting.discard(key)
        if not isinstance(decision, Admit):
            if ahead_here:
                self.wake(ahead_here)  # a slot is free and they are first: they may have slept through its release
            yield decision
            return
        try:
            yield decision
        finally:
            with self._lock:
                self._unreserve(key)
                wasted = key not in self._holders  # admitted, but no run started: the slot is free again
                waiters = self._next_waiters() if wasted else set()
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
            return self._next_waiters()

    def settle(self, key: Key) -> set[Key]:
        """``key``'s reconcile is over: if it was woken for a freed slot and never came to decide (it was
        deleted, its route is in use, it waits for its dependencies, it failed), the next in line is woken
        in its place; the keys to reconcile now."""
        with self._lock:
            if key not in self._woken:
                return set()
            self._woken.discard(key)
            return self._next_waiters()

    def waiting(self) -> set[Key]:
        with self._lock:
            return set(self._waiting)

    # --- internals -----------------------------------------------------------------------------

    def _decide(self, key: Key, obj: Obj) -> tuple[Decision, set[Key]]:
        """The decision, and (when it queues ``key`` with a slot free) the waiters here that are before it."""
        me = place_of(obj, self.clock())
        with self._lock:
            running = {k for k, n in self._reserved.items() if n > 0 and k != key}
        line: list[Place] = []
        for item in self._items():
            other = Key.of(item)
            if other == key:
                continue
            if under_way(item):
                running.add(other)
                continue
            place = in_line(item)
            if place is None or (not place.checked and not _valid(item)):
                continue
            line.append(place.place)
        line = [p for p in line if p.key not in running]
        decision = decide(me, running, [p for p in line if p < me], self.limit)
        queued = not isinstance(decision, Admit)
        order = sorted([*line, me] if queued else line)
        free = self.limit - len(running)
        with self._lock:
            self._line = [p.key for p in order]
            waiting = self._waiting & self._queued
            first = order[: max(free, 0)]  # those the free slots are for: asleep here, they are woken
            woken = {p.key for p in first if p < me and p.key in waiting} if queued else set()
            self._waiting -= woken
            self._woken |= woken
            if queued:
                self._queued.add(key)
            else:
                self._queued.discard(key)
        return decision, woken

    def _items(self) -> list[Obj]:
        items: list[Obj] = []
        for scope in self.scopes or ("",):
            items.extend(self.experiments.list(scope or None).get("items") or ())
        return items

    def _unreserve(self, key: Key) -> None:
        self._reserved[key] -= 1
        if self._reserved[key] <= 0:
            del self._reserved[key]

    def _next_waiters(self) -> set[Key]:
        """The waiters to wake for one freed slot: the first in line, and those whose place is unknown."""
        known = set(self._line)
        first = next((k for k in self._line if k in self._waiting), None)
        woken = {k for k in self._waiting if k not in known} | ({first} if first is not None else set())
        self._waiting -= woken
        self._woken |= woken
        return woken


def _valid(item: Obj) -> bool:
    try:
        experiment_from(item, new_run=True)  # as the reconcile judges a start: a rejected one waits for nothing
    except InvalidExperiment:
        return False
    return True
