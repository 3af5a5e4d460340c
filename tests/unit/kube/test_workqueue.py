"""The work queue hands out each key once, at the earliest time asked for; a key that failed waits out
its backoff whatever plain adds come in, unless an urgent one does."""

from __future__ import annotations

from rollout.kube.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_added_twice_comes_out_once_at_the_earliest_time() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("a", delay=5.0)
    queue.add("a", delay=1.0)
    queue.add("a", delay=9.0)
    assert len(queue) == 1
    assert queue.get(timeout=0.01) is None
    clock.now = 1.0
    assert queue.get(timeout=0.01) == "a"
    assert queue.get(timeout=0.01) is None


def test_keys_come_out_in_time_order_and_clear_empties_the_queue() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("late", delay=2.0)
    queue.add("now")
    clock.now = 3.0
    assert [queue.get(0.01), queue.get(0.01)] == ["now", "late"]
    queue.add("x")
    queue.clear()
    assert queue.get(timeout=0.01) is None


def test_a_retry_is_not_brought_forward_by_plain_adds() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.retry("a", 8.0)
    queue.add("a")  # the watch event of the failure's own status write; a re-list
    queue.add("a", delay=1.0)
    clock.now = 7.9
    assert queue.get(timeout=0.01) is None
    clock.now = 8.0
    assert queue.get(timeout=0.01) == "a"
    queue.add("a")  # the backoff ended when the key was handed out
    assert queue.get(timeout=0.01) == "a"


def test_an_urgent_add_cuts_a_retry_short() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.retry("a", 30.0)
    clock.now = 1.0
    queue.add("a", urgent=True)  # a new generation of the spec, a deletion
    assert queue.get(timeout=0.01) == "a"
    assert queue.get(timeout=0.01) is None
    clock.now = 31.0
    assert queue.get(timeout=0.01) is None  # the retry was used up by the urgent reconcile


def test_a_plain_add_made_while_the_key_failed_is_put_off_by_the_retry() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("a")
    assert queue.get(timeout=0.01) == "a"  # being reconciled...
    queue.add("a")  # ...its status write comes back as a watch event...
    queue.retry("a", 4.0)  # ...and then it fails
    assert queue.get(timeout=0.01) is None
    clock.now = 4.0
    assert queue.get(timeout=0.01) == "a"


def test_an_urgent_add_made_while_the_key_failed_outlives_the_retry() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("a")
    assert queue.get(timeout=0.01) == "a"  # being reconciled...
    queue.add("a", urgent=True)  # ...the spec changes...
    queue.retry("a", 4.0)  # ...and the attempt, which may have read the old spec, fails
    assert queue.get(timeout=0.01) == "a"
    queue.retry("a", 4.0)  # the urgency was spent: this one holds
    queue.add("a")
    assert queue.get(timeout=0.01) is None


def test_retries_of_other_keys_do_not_hold_a_key_and_clear_drops_backoffs() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.retry("a", 10.0)
    queue.add("b")
    assert queue.get(timeout=0.01) == "b"
    queue.clear()  # leadership lost: nothing is due, nothing backs off
    queue.add("a")
    assert queue.get(timeout=0.01) == "a"


def test_an_exclusive_queue_never_hands_out_a_key_being_reconciled() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock, exclusive=True)
    queue.add("a")
    queue.add("b")
    first = queue.get(timeout=0.01)
    assert first == "a"
    queue.add("a")  # its own status write comes back while a worker still has it
    assert queue.get(timeout=0.01) == "b"  # another worker takes another key...
    assert queue.get(timeout=0.01) is None  # ...but not "a" while it is being reconciled
    assert len(queue) == 1
    queue.done("a")
    assert queue.get(timeout=0.01) == "a"  # the add made meanwhile is due at once
    queue.done("a")
    queue.done("b")
    assert queue.get(timeout=0.01) is None


def test_an_exclusive_queue_keeps_a_retry_made_while_the_key_is_handed_out() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock, exclusive=True)
    queue.add("a")
    assert queue.get(timeout=0.01) == "a"
    queue.add("a")
    clock.now = 0.5
    assert queue.get(timeout=0.01) is None  # parked behind the reconcile under way
    queue.retry("a", 4.0)  # the reconcile failed
    queue.done("a")
    assert queue.get(timeout=0.01) is None
    clock.now = 4.5
    assert queue.get(timeout=0.01) == "a"
