"""When faults are on: steps, windows and cron schedules, never past their maximum duration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chaos.timing import FaultTiming, cron_trigger, is_on, next_change

MONDAY_0958 = datetime(2026, 11, 23, 9, 58, tzinfo=UTC).timestamp()


def test_a_weekday_cron_fault_is_on_for_its_duration_from_each_firing() -> None:
    timing = FaultTiming(max_duration=3600, cron=("0 10 * * 1-5", 300))
    on = [is_on(timing, weight=None, started_at=MONDAY_0958, now=MONDAY_0958 + m * 60) for m in range(9)]
    assert on == [False, False, True, True, True, True, True, False, False]
    assert next_change(timing, started_at=MONDAY_0958, now=MONDAY_0958) == MONDAY_0958 + 120


def test_crontab_weekdays_count_from_sunday_as_users_expect() -> None:
    sunday = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    fire = cron_trigger("0 10 * * 1-5").get_next_fire_time(None, sunday)
    assert fire is not None and fire.strftime("%A %H:%M") == "Monday 10:00"
    assert cron_trigger("0 10 * * 0").get_next_fire_time(None, sunday).strftime("%A") == "Sunday"  # type: ignore[union-attr]


def test_a_cron_window_never_outlasts_the_maximum_duration() -> None:
    timing = FaultTiming(max_duration=60, cron=("0 10 * * *", 600))
    assert is_on(timing, weight=None, started_at=MONDAY_0958, now=MONDAY_0958 + 150)
    assert not is_on(timing, weight=None, started_at=MONDAY_0958, now=MONDAY_0958 + 190)


def test_a_window_opens_after_its_delay_and_closes_after_its_duration() -> None:
    timing = FaultTiming(max_duration=900, window=(30, 60))
    assert [is_on(timing, weight=None, started_at=0, now=t) for t in (10, 30, 89, 90)] == [False, True, True, False]
    assert next_change(timing, started_at=0, now=0) == 30 and next_change(timing, started_at=0, now=45) == 90


def test_step_faults_follow_the_canary_weight_and_stop_at_the_maximum_duration() -> None:
    timing = FaultTiming(max_duration=100, steps=(10, 25))
    assert is_on(timing, weight=10, started_at=0, now=50) and not is_on(timing, weight=50, started_at=0, now=50)
    assert not is_on(timing, weight=10, started_at=0, now=100)


def test_a_malformed_cron_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match="expected 5 fields"):
        cron_trigger("every monday")
