"""A bounded, persisted queue of notifications and the background thread that delivers them.

``put`` returns at once (it only appends and rewrites a small JSON file); one daemon thread sends
the deliveries in order. A temporary failure keeps the delivery at the head and waits (exponential
back-off, bounded); a permanent one drops it. When full, the oldest non-terminal delivery goes
first; a terminal one (the final outcome) is never dropped for room, even past the capacity.
The file is rewritten on every change, so undelivered notifications survive a restart (delivery
is at-least-once: one in flight when the process died is sent again).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rollout.files import read_json, write_json_atomic

log = logging.getLogger("meshroll.notify")

FORMAT_VERSION = 1


class TemporaryFailure(Exception):
    """The receiver is down, rate-limiting or failing: try the same delivery again later."""


class PermanentFailure(Exception):
    """The receiver refused the delivery for good (bad channel, bad auth): drop it and say why."""


@dataclass
class Delivery:
    key: str  # the experiment (namespace/name), or a label such as "gitops"
    run: str  # which run of the experiment (threads are per run)
    action: str  # what the sender does with it (its own vocabulary)
    terminal: bool  # the final outcome: never dropped to make room
    body: dict[str, Any]
    kind: str = ""
    attempts: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


Sender = Callable[[Delivery], None]


class DeliveryQueue:
    def __init__(
        self,
        send: Sender,
        *,
        name: str,
        capacity: int = 200,
        path: Path | None = None,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        max_attempts: int | None = None,
        replaces: frozenset[str] = frozenset(),
    ) -> None:
        """``replaces``: actions where a newer delivery for the same key and run supersedes a pending one."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.send = send
        self.name = name
        self.capacity = capacity
        self.path = path
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.replaces = replaces
        self.dropped = 0
        self.delivered = 0
        self._items: list[Delivery] = self._load()
        self._in_flight: str | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        if self._items:
            self._start_thread()

    # --- the caller's side (never blocks on the receiver) ------------------------------------

    def put(self, delivery: Delivery) -> None:
        with self._cond:
            if delivery.action in self.replaces:
                self._items = [d for d in self._items if not self._superseded(d, delivery)]
            if len(self._items) >= self.capacity and not self._make_room(delivery):
                return
            self._items.append(delivery)
            self._persist()
            self._cond.notify_all()
        self._start_thread()

    def pending(self) -> list[Delivery]:
        with self._cond:
            return list(self._items)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queue to empty; whether it did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is pending for up to ``timeout`` seconds, then stop; the rest stays in the file."""
        emptied = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if not emptied:
            log.warning(
                "%s: %d notifications not delivered yet; kept in %s for the next start",
                self.name,
                len(self.pending()),
                self.path or "memory (lost)",
            )
        return emptied

    # --- the sender thread ---------------------------------------------------------------------

    def _start_thread(self) -> None:
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._thread = threading.Thread(target=self._run, name=f"meshroll-{self.name}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait(1.0)
                if self._stopping:
                    return
                head = self._items[0]
                self._in_flight = head.id
            delay = self._deliver(head)
            if delay > 0:
                with self._cond:
                    if not self._stopping:
                        self._cond.wait(delay)

    def _deliver(self, head: Delivery) -> float:
        """Send ``head``; the seconds to wait before the next try (0: go on with the next one)."""
        try:
            self.send(head)
        except PermanentFailure as exc:
            log.error("%s: dropped the %s notification for %s: %s", self.name, head.kind, head.key, exc)
            self._finish(head, dropped=True)
            return 0.0
        except Exception as exc:  # anything else is worth another try
            shown = str(exc) if isinstance(exc, TemporaryFailure) else type(exc).__name__
            with self._cond:
                self._in_flight = None
                head.attempts += 1
                attempts = head.attempts
                self._persist()
            if self.max_attempts is not None and attempts >= self.max_attempts:
                log.error("%s: gave up on the %s notification for %s: %s", self.name, head.kind, head.key, shown)
                self._finish(head, dropped=True)
                return 0.0
            delay = min(self.retry_max, self.retry_initial * 2.0 ** (attempts - 1))
            log.warning(
                "%s: %s notification for %s not delivered (%s); retrying in %.1fs",
                self.name,
                head.kind,
                head.key,
                shown,
                delay,
            )
            return delay
        self._finish(head, dropped=False)
        return 0.0

    def _finish(self, head: Delivery, *, dropped: bool) -> None:
        with self._cond:
            self._in_flight = None
            self._items = [d for d in self._items if d.id != head.id]
            if dropped:
                self.dropped += 1
            else:
                self.delivered += 1
            self._persist()
            self._cond.notify_all()

    # --- bookkeeping -----------------------------------------------------------------------------

    def _superseded(self, old: Delivery, new: Delivery) -> bool:
        return old.id != self._in_flight and old.action == new.action and old.key == new.key and old.run == new.run

    def _make_room(self, incoming: Delivery) -> bool:
        """Drop the oldest non-terminal pending delivery; False when ``incoming`` itself is dropped."""
        for index, old in enumerate(self._items):
            if not old.terminal and old.id != self._in_flight:
                del self._items[index]
                self.dropped += 1
                log.warning("%s: queue full; dropped the oldest %s notification for %s", self.name, old.kind, old.key)
                return True
        if incoming.terminal:
            return True  # the final outcome is kept even past the capacity
        self.dropped += 1
        log.warning("%s: queue full of final outcomes; dropped the %s notification", self.name, incoming.kind)
        return False

    def _persist(self) -> None:
        if self.path is None:
            return
        try:
            write_json_atomic(self.path, {"version": FORMAT_VERSION, "items": [asdict(d) for d in self._items]})
        except (OSError, ValueError) as exc:
            log.warning("%s: cannot save the queue to %s (%s)", self.name, self.path, type(exc).__name__)

    def _load(self) -> list[Delivery]:
        if self.path is None:
            return []
        data = read_json(self.path)
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            return []
        raw_items = data.get("items")
        if not isinstance(raw_items, list):
            log.warning("%s: ignoring %s: it holds no list of notifications", self.name, self.path)
            return []
        items = []
        for raw in raw_items:
            try:
                item = Delivery(**raw)
            except TypeError:
                item = None
            if item is None or not _well_typed(item):  # one that cannot be sent would hold up all behind it
                log.warning("%s: skipping an unreadable queued notification in %s", self.name, self.path)
                continue
            items.append(item)
        return items


def _well_typed(d: Delivery) -> bool:
    texts_ok = all(isinstance(t, str) for t in (d.key, d.run, d.action, d.kind, d.id))
    attempts_ok = isinstance(d.attempts, int) and not isinstance(d.attempts, bool)
    return texts_ok and attempts_ok and isinstance(d.terminal, bool) and isinstance(d.body, dict)
