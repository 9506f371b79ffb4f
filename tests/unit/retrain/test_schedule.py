"""Cron schedules with time zones; missed runs are skipped unless catchUp is set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlaiops.retrain.schedule import ScheduleError, due, next_fire, previous_fire, validate

CREATED = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def test_time_zone_is_honoured() -> None:
    # 03:00 in Berlin (UTC+1 in November) is 02:00 UTC.
    fire = next_fire("0 3 * * *", "Europe/Berlin", CREATED)
    assert fire.astimezone(UTC) == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert (
        previous_fire("0 3 * * *", "Europe/Berlin", datetime(2026, 11, 27, 2, 30, tzinfo=UTC)).astimezone(UTC) == fire
    )


def test_seconds_field_for_fast_schedules() -> None:
    assert next_fire("* * * * * */10", "UTC", CREATED + timedelta(seconds=3)) == CREATED + timedelta(seconds=10)


def test_due_once_per_schedule_time() -> None:
    now = datetime(2026, 11, 27, 3, 0, 30, tzinfo=UTC)
    run, at = due("0 3 * * *", "UTC", None, CREATED, now, catch_up=False)
    assert run and at == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert due("0 3 * * *", "UTC", at, CREATED, now + timedelta(seconds=30), catch_up=False) == (False, None)


def test_missed_run_is_skipped_but_recorded_unless_catch_up() -> None:
    late = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # the operator was down at 03:00
    assert due("0 3 * * *", "UTC", None, CREATED, late, catch_up=False) == (
        False,
        datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
    )
    assert due("0 3 * * *", "UTC", None, CREATED, late, catch_up=True) == (
        True,
        datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
    )


def test_nothing_before_the_first_schedule_time_after_creation() -> None:
    assert due("0 3 * * *", "UTC", None, CREATED + timedelta(hours=4), CREATED + timedelta(hours=5), catch_up=True) == (
        False,
        None,
    )


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [("61 * * * *", "UTC", "invalid cron"), ("0 3 * * *", "Mars/Olympus", "unknown time zone")],
)
def test_validate(cron: str, zone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        validate(cron, zone)
