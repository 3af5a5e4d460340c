"""When a fault is on: during given canary steps, in a time window, or on a cron schedule. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger


@dataclass(frozen=True)
class FaultTiming:
    """Exactly one of ``steps``, ``window`` or ``cron`` (or none: on for the whole run).

    ``window`` is ``(after, duration)`` in seconds from the experiment's start; ``cron`` is
    ``(expression, duration)``. A fault is never on for longer than ``max_duration`` at a time.
    """

    max_duration: float
    steps: tuple[int, ...] | None = None
    window: tuple[float, float] | None = None
    cron: tuple[str, float] | None = None


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab_day(token: str) -> str:
    """A crontab day-of-week number (0 or 7 Sunday, 1 Monday) as APScheduler's name for it."""
    return _CRON_DAYS[int(token)] if token.isdigit() and int(token) <= 7 else token


def cron_trigger(expression: str) -> CronTrigger:
    """APScheduler's trigger for a standard five-field crontab line, in UTC.

    APScheduler 3 numbers weekdays from Monday = 0; crontab from Sunday = 0. Day-of-week
    numbers are translated to names so ``1-5`` means Monday to Friday as users expect.
    Raises ValueError for a malformed expression.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    days = re.sub(r"\d+", lambda m: _crontab_day(m.group(0)), fields[4])
    minute, hour, day, month = fields[:4]
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=days, timezone=UTC)


def _last_cron_fire(expression: str, now: float, lookback: float) -> float | None:
    """The latest fire time of ``expression`` in ``(now - lookback, now]``, if any."""
    trigger = cron_trigger(expression)
    since = datetime.fromtimestamp(now - lookback, tz=UTC)
    fire = trigger.get_next_fire_time(None, since)
    last: float | None = None
    while fire is not None and fire.timestamp() <= now:
        last = fire.timestamp()
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


def is_on(timing: FaultTiming, *, weight: int | None, started_at: float, now: float) -> bool:
    """Whether a fault with ``timing`` is on at ``now`` for an experiment started at ``started_at``."""
    if now < started_at:
        return False
    if timing.window is not None:
        after, duration = timing.window
        opens = started_at + after
        return opens <= now < opens + min(duration, timing.max_duration)
    if timing.cron is not None:
        expression, duration = timing.cron
        span = min(duration, timing.max_duration)
        fired = _last_cron_fire(expression, now, span)
        return fired is not None and now < fired + span
    if now >= started_at + timing.max_duration:
        return False
    if timing.steps is not None:
        return weight is not None and weight in timing.steps
    return True


def next_change(timing: FaultTiming, *, started_at: float, now: float) -> float | None:
    """When the fault next turns on or off by time alone (None when only steps move it)."""
    if timing.window is not None:
        after, duration = timing.window
        opens = started_at + after
        closes = opens + min(duration, timing.max_duration)
        return next((t for t in (opens, closes) if t > now), None)
    if timing.cron is not None:
        expression, duration = timing.cron
        span = min(duration, timing.max_duration)
        fired = _last_cron_fire(expression, now, span)
        if fired is not None and now < fired + span:
            return fired + span
        trigger = cron_trigger(expression)
        upcoming = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, tz=UTC))
        return upcoming.timestamp() if upcoming is not None else None
    ends = started_at + timing.max_duration
    return ends if ends > now else None
