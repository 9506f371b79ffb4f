"""Schedules at their exact boundaries, and the errors they raise.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests did not pin: a run exactly one
grace period late, the instant just before a fire time, and the message of a bad cron expression.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlaiops.retrain.schedule import ScheduleError, due, next_fire, previous_fire

CREATED = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_run_exactly_one_grace_period_late_still_starts() -> None:
    """Grace is inclusive: two minutes after the fire time the run starts; a microsecond more and it is skipped."""
    assert due("0 12 * * *", "UTC", None, CREATED, NOON + timedelta(minutes=2), False) == (True, NOON)
    late = NOON + timedelta(minutes=2, microseconds=1)
    assert due("0 12 * * *", "UTC", None, CREATED, late, False) == (False, NOON)


def test_the_instant_before_a_fire_time_belongs_to_the_previous_one() -> None:
    """One microsecond before noon, the latest fire time is yesterday's noon, never the coming one."""
    before = NOON - timedelta(microseconds=1)
    assert previous_fire("0 12 * * *", "UTC", before) == NOON - timedelta(days=1)
    assert previous_fire("0 12 * * *", "UTC", NOON) == NOON


@pytest.mark.parametrize("fire", [previous_fire, next_fire])
def test_a_bad_cron_expression_is_named_in_the_error(fire: object) -> None:
    """Both lookups raise ScheduleError quoting the expression, whatever croniter said."""
    with pytest.raises(ScheduleError, match=r"^invalid cron expression '61 \* \* \* \*': "):
        fire("61 * * * *", "UTC", NOON)  # type: ignore[operator]
