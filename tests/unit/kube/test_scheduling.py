"""Stopping the controller's job scheduler while a job is under way: the stop waits for the job, and the job
may still add and remove jobs (a run scheduling its next observation) without either of them hanging. With
APScheduler's ``shutdown(wait=True)`` both waited for ever: the controller hung on SIGTERM."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from threading import Event, Thread

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_STOPPED

from rollout.kube.scheduling import Jobs

LIVENESS_S = 60.0  # far longer than any of this takes: a hang, not a slow machine, runs out of it


def test_a_stop_waits_for_the_job_under_way_which_still_schedules_its_next_one() -> None:
    jobs = Jobs.create(2)
    jobs.scheduler.start()
    started, go, finished = Event(), Event(), Event()

    def observe() -> None:
        started.set()
        go.wait(LIVENESS_S)
        later = datetime.now(UTC) + timedelta(hours=1)
        jobs.scheduler.add_job(print, "date", run_date=later, id="next-observation", replace_existing=True)
        with contextlib.suppress(JobLookupError):  # none scheduled
            jobs.scheduler.remove_job("tick")
        finished.set()

    jobs.scheduler.add_job(observe, id="observation")
    assert started.wait(LIVENESS_S)
    while jobs.scheduler.get_job("observation") is not None:  # the scheduler's thread is done handing it over
        time.sleep(0.01)
    stopping = Thread(target=jobs.stop, daemon=True)
    stopping.start()
    while jobs.scheduler.state != STATE_STOPPED:
        time.sleep(0.01)
    time.sleep(0.2)  # the stop is under way: it has taken whatever it takes before it waits

    assert stopping.is_alive(), "the stop waits for the job under way"
    go.set()
    stopping.join(LIVENESS_S)

    assert not stopping.is_alive(), "the stop hung: the job under way waited for the scheduler, which waited for it"
    assert finished.is_set(), "the job under way finished what it does"
    assert not jobs.scheduler.running
