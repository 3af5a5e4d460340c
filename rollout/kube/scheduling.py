"""The controller's job scheduler (a run's next observation, fault-schedule change and steady-state check, the
Events flush), and how it stops.

``BackgroundScheduler.shutdown(wait=True)`` waits for the jobs under way while it holds the job stores' lock.
A job under way that adds or removes a job, as a run's does when it schedules its next observation, then waits
for that lock for ever, and so does the stop: a controller that hung on SIGTERM until killed. ``stop`` shuts
the scheduler down without waiting, so that no new job starts, then waits for the jobs under way outside the
lock; what they add or remove meanwhile no longer matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler


@dataclass(frozen=True)
class Jobs:
    scheduler: BackgroundScheduler
    executor: ThreadPoolExecutor

    @classmethod
    def create(cls, workers: int) -> Jobs:
        executor = ThreadPoolExecutor(workers)
        scheduler = BackgroundScheduler(
            timezone="UTC", executors={"default": executor}, job_defaults={"coalesce": True}
        )
        return cls(scheduler, executor)

    def stop(self) -> None:
        """Start no more jobs, then wait for those under way to finish what they do (see the module's note)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.executor.shutdown(wait=True)
