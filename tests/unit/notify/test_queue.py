"""The delivery queue: in order, bounded, persisted, never blocking the caller, never losing the final outcome."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rollout.notify.queue import Delivery, DeliveryQueue, PermanentFailure, TemporaryFailure


def delivery(n: int, *, terminal: bool = False, action: str = "post", run: str = "r1") -> Delivery:
    return Delivery("demo/checkout", run, action, terminal, {"n": n}, kind="final" if terminal else "step")


class Sender:
    """Records what it sends; can fail the next calls, or hold every call until opened."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.failures: list[Exception] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, d: Delivery) -> None:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(int(d.body["n"]))


def queue(sender: Sender, **options: object) -> DeliveryQueue:
    settings: dict[str, object] = {"name": "test", "retry_initial": 0.01, "retry_max": 0.05, **options}
    return DeliveryQueue(sender, **settings)  # type: ignore[arg-type]


def test_deliveries_go_out_in_order() -> None:
    sender = Sender()
    q = queue(sender)
    for n in range(5):
        q.put(delivery(n))
    assert q.close(10)
    assert sender.sent == [0, 1, 2, 3, 4]
    assert q.delivered == 5 and q.dropped == 0


def test_put_returns_while_the_receiver_hangs() -> None:
    sender = Sender()
    sender.gate.clear()
    q = queue(sender)
    q.put(delivery(0))
    assert sender.entered.wait(5)
    for n in range(1, 4):
        q.put(delivery(n))  # returns although the sender is stuck on the first one
    assert [d.body["n"] for d in q.pending()] == [0, 1, 2, 3]
    assert sender.sent == []
    sender.gate.set()
    assert q.close(10)
    assert sender.sent == [0, 1, 2, 3]


def test_a_temporary_failure_is_retried_and_keeps_the_order() -> None:
    sender = Sender()
    sender.failures = [TemporaryFailure("503"), TemporaryFailure("503")]
    q = queue(sender)
    q.put(delivery(0))
    q.put(delivery(1))
    assert q.close(10)
    assert sender.sent == [0, 1]


def test_a_permanent_failure_drops_that_delivery_only() -> None:
    sender = Sender()
    sender.failures = [PermanentFailure("channel_not_found")]
    q = queue(sender)
    q.put(delivery(0))
    q.put(delivery(1))
    assert q.close(10)
    assert sender.sent == [1] and q.dropped == 1


def test_bounded_attempts_give_up() -> None:
    sender = Sender()
    sender.failures = [TemporaryFailure("down")] * 3
    q = queue(sender, max_attempts=3)
    q.put(delivery(0))
    q.put(delivery(1))
    assert q.close(10)
    assert sender.sent == [1] and q.dropped == 1


def test_a_full_queue_drops_the_oldest_progress_first_and_never_the_final_outcome() -> None:
    sender = Sender()
    sender.gate.clear()
    q = queue(sender, capacity=3)
    q.put(delivery(0))  # in flight: never dropped from under the sender
    assert sender.entered.wait(5)
    q.put(delivery(1))
    q.put(delivery(2, terminal=True))
    q.put(delivery(3))  # full: 1 goes
    q.put(delivery(4, terminal=True))  # full: 3 goes
    q.put(delivery(5, terminal=True))  # full of final outcomes: kept past the capacity
    q.put(delivery(6))  # nothing left to drop for it: it goes itself
    assert [d.body["n"] for d in q.pending()] == [0, 2, 4, 5]
    sender.gate.set()
    assert q.close(10)
    assert sender.sent == [0, 2, 4, 5]
    assert q.dropped == 3


def test_a_newer_update_replaces_a_pending_one_of_the_same_run() -> None:
    sender = Sender()
    sender.gate.clear()
    q = queue(sender, replaces=frozenset({"update"}))
    q.put(delivery(0))
    assert sender.entered.wait(5)
    q.put(delivery(1, action="update"))
    q.put(delivery(2))
    q.put(delivery(3, action="update"))
    q.put(delivery(4, action="update", run="r2"))
    assert [d.body["n"] for d in q.pending()] == [0, 2, 3, 4]
    sender.gate.set()
    assert q.close(10)


def test_undelivered_notifications_survive_a_restart(tmp_path: Path) -> None:
    file = tmp_path / "demo.checkout.slack-queue.json"
    down = Sender()
    down.failures = [TemporaryFailure("Slack is down")] * 1000
    first = queue(down, path=file, retry_initial=5.0)
    for n in range(3):
        first.put(delivery(n, terminal=n == 2))
    assert not first.close(0.2)
    saved = json.loads(file.read_text())
    assert [item["body"]["n"] for item in saved["items"]] == [0, 1, 2]

    back = Sender()
    second = queue(back, path=file)  # a new process: picks the file up and delivers
    assert second.close(10)
    assert back.sent == [0, 1, 2]
    assert json.loads(file.read_text())["items"] == []


def test_an_unreadable_queue_file_is_ignored(tmp_path: Path) -> None:
    file = tmp_path / "queue.json"
    file.write_text("{not json")
    sender = Sender()
    q = queue(sender, path=file)
    assert q.pending() == []
    q.put(delivery(7))
    assert q.close(10) and sender.sent == [7]


def test_a_queue_file_with_entries_of_the_wrong_shape_neither_stops_the_run_nor_holds_up_later_notifications(
    tmp_path: Path,
) -> None:
    file = tmp_path / "queue.json"
    good = {"key": "demo/checkout", "run": "r1", "action": "post", "terminal": False, "body": {"n": 1}}
    for items in (None, 5, [{**good, "body": "n"}, {**good, "attempts": "x"}, {**good, "terminal": "no"}, "x", good]):
        file.write_text(json.dumps({"version": 1, "items": items}))
        sender = Sender()
        q = queue(sender, path=file, max_attempts=None)
        q.put(delivery(7))
        assert q.close(10), f"stuck behind {items!r}"
        assert sender.sent == ([1, 7] if isinstance(items, list) else [7])
