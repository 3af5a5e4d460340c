"""A bounded, persisted queue of notifications and the background thread that delivers them.

``put`` returns at once (it only appends and rewrites a small JSON file); one daemon thread sends
the deliveries in order. A temporary failure keeps the delivery at the head and waits (exponential
back-off, bounded); a permanent one drops it. The capacity is a hard bound: when full, the oldest
non-terminal delivery goes first; when only terminal ones (final outcomes, GitOps notices) are
left, the oldest of them goes to keep a newer terminal one, and a non-terminal newcomer is dropped
itself. Every drop is logged with the count so far. The file is rewritten on every change, so
undelivered notifications survive a restart (delivery is at-least-once: one in flight when the
process died is sent again); when it cannot be written, the log and ``close`` say so.
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
    terminal: bool  # a final outcome: dropped for room only to keep a newer terminal one
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
        self._failed_tries = 0  # since the last delivery: the first failure is logged, the rest once it ends
        self._in_flight: str | None = None
        self._save_error: str | None = None  # why the last write of ``path`` failed; None: it holds the queue
        self._items: list[Delivery] = self._load()
        while len(self._items) > capacity:  # a file from a larger capacity (or an older, unbounded meshroll)
            oldest = next((i for i, d in enumerate(self._items) if not d.terminal), 0)
            self._drop(self._items.pop(oldest), "the oldest", "more in the file than the capacity")
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
        """Deliver what is pending for up to ``timeout`` seconds, then stop; the rest stays in the file
        (written once more here), and the log says truthfully whether it could be kept."""
        emptied = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        with self._cond:
            left = len(self._items)
            saved = self._persist() if left or self._save_error is not None else True
        if emptied:
            if not saved:
                log.warning(
                    "%s: every notification was delivered, but %s could not be updated (%s); the next start may "
                    "send some of them again",
                    self.name,
                    self.path,
                    self._save_error,
                )
            return True
        if self.path is None:
            log.warning("%s: %d notifications not delivered and lost: this queue keeps no file", self.name, left)
        elif saved:
            log.warning(
                "%s: %d notifications not delivered yet; kept in %s for the next start", self.name, left, self.path
            )
        else:
            log.error(
                "%s: %d notifications not delivered and could not be kept: cannot write %s (%s); "
                "make its directory writable or free disk space so the next ones are kept",
                self.name,
                left,
                self.path,
                self._save_error,
            )
        return False

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
            self._failed_tries += 1
            # one warning per outage, not one per try: a receiver that is down for minutes would fill the
            # terminal or the log; the retries go to debug, and the outage's end is logged with its count
            level = logging.WARNING if self._failed_tries == 1 else logging.DEBUG
            log.log(
                level,
                "%s: %s notification for %s not delivered (%s); retrying in %.1fs, then at growing gaps up to %.0fs "
                "(said again once one is delivered)",
                self.name,
                head.kind,
                head.key,
                shown,
                delay,
                self.retry_max,
            )
            return delay
        if self._failed_tries:
            log.warning("%s: delivered again, after %d failed tries", self.name, self._failed_tries)
            self._failed_tries = 0
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

    def _victim(self, incoming: Delivery) -> int | None:
        """Which pending delivery goes to make room for ``incoming``: the oldest non-terminal one, else
        (for a terminal newcomer) the oldest terminal one; never the one in flight. None: ``incoming`` goes."""
        waiting = [i for i, d in enumerate(self._items) if d.id != self._in_flight]
        progress = [i for i in waiting if not self._items[i].terminal]
        if progress:
            return progress[0]
        if incoming.terminal and waiting:
            return waiting[0]
        return None

    def _make_room(self, incoming: Delivery) -> bool:
        """Drop one delivery for ``incoming`` (see ``_victim``); False when ``incoming`` itself is dropped."""
        victim = self._victim(incoming)
        if victim is None:
            self._drop(incoming, "the new", "queue full")
            return False
        self._drop(self._items.pop(victim), "the oldest", "queue full")
        return True

    def _drop(self, gone: Delivery, which: str, why: str) -> None:
        self.dropped += 1
        log.warning(
            "%s: %s (capacity %d); dropped %s %s%s notification for %s (%d dropped so far)",
            self.name,
            why,
            self.capacity,
            which,
            "final " if gone.terminal else "",
            gone.kind or gone.action,
            gone.key,
            self.dropped,
        )

    def _persist(self) -> bool:
        """Write the queue to ``path``; whether ``path`` now holds it (the first failure in a row is logged)."""
        if self.path is None:
            return False
        try:
            write_json_atomic(self.path, {"version": FORMAT_VERSION, "items": [asdict(d) for d in self._items]})
        except (OSError, ValueError) as exc:
            reason = (exc.strerror if isinstance(exc, OSError) else None) or f"{type(exc).__name__}: {exc}"
            if self._save_error is None:
                log.warning(
                    "%s: cannot save the queue to %s (%s); undelivered notifications will not survive a restart "
                    "until it can be written: make its directory writable or free disk space",
                    self.name,
                    self.path,
                    reason,
                )
            self._save_error = reason
            return False
        if self._save_error is not None:
            log.info("%s: the queue is saved to %s again", self.name, self.path)
            self._save_error = None
        return True

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
