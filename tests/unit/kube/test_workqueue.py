"""The work queue hands out each key once, at the earliest time asked for."""

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
