"""A queue of experiment keys to reconcile, each at most once, at the earliest time asked for."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")


class WorkQueue(Generic[K]):
    """``add(key, delay)``; ``get(timeout)`` returns the next key that is due (or None)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._counter = 0
        self._cond = threading.Condition()

    def add(self, key: K, delay: float = 0.0) -> None:
        when = self._clock() + max(0.0, delay)
        with self._cond:
            current = self._due.get(key)
            if current is not None and current <= when:
                return
            self._due[key] = when
            self._counter += 1
            heapq.heappush(self._heap, (when, self._counter, key))
            self._cond.notify()

    def get(self, timeout: float) -> K | None:
        """The next due key, waiting at most ``timeout`` seconds (real time) for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = self._clock()
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier time, or already taken
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    return key
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                wait = min(remaining, self._heap[0][0] - now) if self._heap else remaining
                self._cond.wait(max(0.01, wait))

    def clear(self) -> None:
        with self._cond:
            self._due.clear()
            self._heap.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._due)
