"""Cron schedules with time zones, the way CronJobs run them: a missed run is skipped unless asked."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def validate(cron: str, time_zone: str) -> None:
    """Raise ScheduleError naming what is wrong with the schedule."""
    _zone(time_zone)
    if not croniter.is_valid(cron):
        raise ScheduleError(f"invalid cron expression {cron!r}")


def previous_fire(cron: str, time_zone: str, now: datetime) -> datetime:
    """The most recent scheduled time at or before ``now``."""
    try:
        return croniter(cron, now.astimezone(_zone(time_zone)) + timedelta(microseconds=1)).get_prev(datetime)
    except CroniterBadCronError as error:
        raise ScheduleError(f"invalid cron expression {cron!r}: {error}") from None


def next_fire(cron: str, time_zone: str, after: datetime) -> datetime:
    """The first scheduled time strictly after ``after``."""
    try:
        return croniter(cron, after.astimezone(_zone(time_zone))).get_next(datetime)
    except CroniterBadCronError as error:
        raise ScheduleError(f"invalid cron expression {cron!r}: {error}") from None


def due(
    cron: str,
    time_zone: str,
    last: datetime | None,
    created: datetime,
    now: datetime,
    catch_up: bool,
    grace: timedelta = timedelta(minutes=2),
) -> tuple[bool, datetime | None]:
    """Whether a scheduled run should start now, and the schedule time it stands for.

    A schedule time that passed more than ``grace`` ago (the operator was down) is skipped
    unless ``catch_up`` is set, and then only one run starts for all that were missed.
    The second value is the schedule time to record as handled (also when it is skipped).
    """
    latest = previous_fire(cron, time_zone, now)
    since = last or created
    if latest <= since:
        return False, None
    if now - latest > grace and not catch_up:
        return False, latest
    return True, latest
