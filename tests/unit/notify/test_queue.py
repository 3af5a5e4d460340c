"""The delivery queue: in order, bounded, persisted, never blocking the caller, never losing the final outcome."""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from rollout.files import write_json_atomic
from rollout.notify import queue as queue_module
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


def test_a_full_queue_drops_the_oldest_progress_first_then_the_oldest_final_outcome_for_a_newer_one() -> None:
    sender = Sender()
    sender.gate.clear()
    q = queue(sender, capacity=3)
    q.put(delivery(0))  # in flight: never dropped from under the sender
    assert sender.entered.wait(5)
    q.put(delivery(1))
    q.put(delivery(2, terminal=True))
    q.put(delivery(3))  # full: 1 goes
    q.put(delivery(4, terminal=True))  # full: 3 goes
    q.put(delivery(5, terminal=True))  # full of final outcomes: the oldest one, 2, goes for the newer one
    q.put(delivery(6))  # nothing but final outcomes to drop for it: it goes itself
    assert [d.body["n"] for d in q.pending()] == [0, 4, 5]
    sender.gate.set()
    assert q.close(10)
    assert sender.sent == [0, 4, 5]
    assert q.dropped == 4


def test_a_long_outage_full_of_gitops_notices_keeps_the_newest_within_the_capacity_and_says_how_many_went(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = Sender()
    sender.failures = [TemporaryFailure("Slack is down")] * 10_000
    q = queue(sender, capacity=5, retry_initial=60.0, retry_max=60.0)
    with caplog.at_level(logging.WARNING, logger="meshroll.notify"):
        for n in range(1000):
            q.put(Delivery("gitops", "", "notice", True, {"n": n}, kind="notice"))
    pending = [d.body["n"] for d in q.pending()]
    assert len(pending) == 5, "the capacity bounds final outcomes too"
    assert pending[1:] == [996, 997, 998, 999] and q.dropped == 995
    drops = [m for m in caplog.messages if "dropped" in m]
    assert len(drops) == 995 and drops[-1].endswith(
        "dropped the oldest final notice notification for gitops (995 dropped so far)"
    )
    assert not q.close(0.1)


def test_a_queue_file_longer_than_the_capacity_is_cut_to_it_oldest_progress_first(tmp_path: Path) -> None:
    file = tmp_path / "queue.json"
    items = [asdict(delivery(n, terminal=n % 2 == 0)) for n in range(10)]  # as an unbounded meshroll left it
    file.write_text(json.dumps({"version": 1, "items": items}))
    sender = Sender()
    sender.gate.clear()
    q = queue(sender, path=file, capacity=4)
    assert [d.body["n"] for d in q.pending()] == [2, 4, 6, 8], "every progress message first, then the oldest final"
    assert q.dropped == 6
    sender.gate.set()
    assert q.close(10)


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


class Disk:
    """Stands in for ``write_json_atomic``: full (every write fails) until ``freed``."""

    def __init__(self) -> None:
        self.full = True
        self.write = write_json_atomic

    def __call__(self, path: Path, data: object) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.write(path, data)


def test_when_the_queue_file_cannot_be_written_closing_says_the_notifications_could_not_be_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "demo.checkout.slack-queue.json"
    monkeypatch.setattr(queue_module, "write_json_atomic", Disk())
    down = Sender()
    down.failures = [TemporaryFailure("Slack is down")] * 1000
    q = queue(down, path=file, retry_initial=5.0)
    with caplog.at_level(logging.WARNING, logger="meshroll.notify"):
        for n in range(3):
            q.put(delivery(n, terminal=n == 2))
        assert not q.close(0.2)
    saving = [m for m in caplog.messages if "cannot save the queue" in m]
    assert len(saving) == 1, "said once, not on every change"
    last = caplog.messages[-1]
    assert "3 notifications not delivered and could not be kept: cannot write" in last
    assert str(file) in last and "No space left on device" in last and "free disk space" in last
    assert "kept in" not in last and not file.exists()


def test_a_queue_file_that_can_be_written_again_by_the_close_keeps_everything_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "queue.json"
    disk = Disk()
    monkeypatch.setattr(queue_module, "write_json_atomic", disk)
    down = Sender()
    down.failures = [TemporaryFailure("Slack is down")] * 1000
    q = queue(down, path=file, retry_initial=5.0, retry_max=5.0)  # no retry (and no write) until the close
    for n in range(3):
        q.put(delivery(n))
    deadline = time.monotonic() + 5
    while q.pending()[0].attempts == 0 and time.monotonic() < deadline:  # the first try failed, and its write too
        time.sleep(0.01)
    disk.full = False  # space was freed before the run ended
    with caplog.at_level(logging.WARNING, logger="meshroll.notify"):
        assert not q.close(0.2)
    assert f"3 notifications not delivered yet; kept in {file}" in caplog.messages[-1]
    assert [item["body"]["n"] for item in json.loads(file.read_text())["items"]] == [0, 1, 2]


def test_a_receiver_down_for_many_tries_is_one_warning_and_its_return_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = Sender()
    sender.failures = [TemporaryFailure("HTTP 503") for _ in range(6)]
    with caplog.at_level(logging.WARNING, logger="meshroll.notify"):
        q = queue(sender)
        for n in range(3):
            q.put(delivery(n))
        assert q.close(10)

    assert sender.sent == [0, 1, 2]
    failed = [m for m in caplog.messages if "not delivered (HTTP 503)" in m]
    assert len(failed) == 1, caplog.messages  # not one a try
    assert caplog.messages[-1] == "test: delivered again, after 6 failed tries"
