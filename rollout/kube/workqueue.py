"""A queue of experiment keys to reconcile, each at most once, at the earliest time asked for.

A key that failed is retried after a backoff (``retry``). Until then, ``add`` does not bring it
forward: the watch events its own status writes cause and the periodic re-list would otherwise
retry it at once. ``add(key, urgent=True)`` does (a change the failed attempt has not seen: a new
spec, a deletion). An urgent add made while the key was being reconciled outlives the retry that
follows, so a change that came in during a failing attempt is still reconciled at once.

With ``exclusive=True`` (the controller's several reconcile workers) a key handed out is not
handed out again until ``done(key)``: a key that comes due meanwhile waits (``_parked``) and is
due again at once when its reconcile is done, so no key is ever reconciled by two workers at once.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")


class WorkQueue(Generic[K]):
    """``add(key, delay)``, ``retry(key, delay)``; ``get(timeout)`` returns the next key that is due (or None)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, exclusive: bool = False) -> None:
        self._clock = clock
        self._exclusive = exclusive
        self._active: set[K] = set()  # handed out and not done yet (exclusive queues only)
        self._parked: dict[K, float] = {}  # came due (or were added) while active: due again at done()
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._counter = 0
        self._held: set[K] = set()  # backing off: due at their retry time, which plain adds do not change
        self._urgent: set[K] = set()  # added urgently since they were last handed out
        self._cond = threading.Condition()

    def add(self, key: K, delay: float = 0.0, *, urgent: bool = False) -> None:
        """Reconcile ``key`` after ``delay`` seconds (or sooner, if already due sooner).

        While ``key`` backs off from a failure, this changes nothing unless ``urgent``."""
        with self._cond:
            if urgent:
                self._urgent.add(key)
                self._held.discard(key)
            elif key in self._held:
                return
            self._schedule(key, self._clock() + max(0.0, delay), earlier_only=True)

    def retry(self, key: K, delay: float) -> None:
        """``key`` failed: reconcile it again after ``delay`` seconds, and only then unless an urgent add
        comes first. A plain add still pending (made while it failed) is put off; an urgent one is kept."""
        with self._cond:
            if key in self._urgent and (key in self._due or key in self._parked):
                return  # a change came in while it failed: it is due now
            self._held.add(key)
            self._schedule(key, self._clock() + max(0.0, delay), earlier_only=False)

    def get(self, timeout: float) -> K | None:
        """The next due key, waiting at most ``timeout`` seconds (real time) for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = self._clock()
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by another time, or already taken
                if self._heap and self._heap[0][0] <= now:
                    when, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    if key in self._active:
                        self._parked[key] = when
                        continue
                    if self._exclusive:
                        self._active.add(key)
                    self._held.discard(key)
                    self._urgent.discard(key)
                    return key
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                wait = min(remaining, self._heap[0][0] - now) if self._heap else remaining
                self._cond.wait(max(0.01, wait))

    def done(self, key: K) -> None:
        """The reconcile of ``key`` (handed out by ``get``) is over: it may be handed out again."""
        with self._cond:
            self._active.discard(key)
            when = self._parked.pop(key, None)
            if when is not None:
                self._schedule(key, when, earlier_only=True)

    def clear(self) -> None:
        with self._cond:
            self._parked.clear()
            self._due.clear()
            self._heap.clear()
            self._held.clear()
            self._urgent.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._due) + len(self._parked)

    def _schedule(self, key: K, when: float, *, earlier_only: bool) -> None:
        parked = self._parked.get(key)
        if parked is not None:  # waiting for its reconcile under way to be done: keep the time there
            self._parked[key] = min(parked, when) if earlier_only else when
            return
        current = self._due.get(key)
        if current is not None and (current == when or (earlier_only and current < when)):
            return
        self._due[key] = when
        self._counter += 1
        heapq.heappush(self._heap, (when, self._counter, key))
        self._cond.notify()
