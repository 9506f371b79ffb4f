"""Silences (maintenance windows): when one is active, what it says, and a window that ends before it starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec, Silence
from mlaiops.remediation.silences import active

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def window(name: str, start: float, end: float, comment: str = "") -> Silence:
    return Silence(name=name, start=T0 + timedelta(hours=start), end=T0 + timedelta(hours=end), comment=comment)


def test_a_silence_is_active_from_its_start_until_its_end() -> None:
    silences = [window("later", 2, 3), window("now", 0, 1, "db move")]
    assert active(silences, T0 - timedelta(seconds=1)) is None
    assert active(silences, T0) == "silence now (until 2026-11-27T13:00:00+00:00): db move"
    assert active(silences, T0 + timedelta(hours=1)) is None  # the end is excluded
    assert active(silences, T0 + timedelta(hours=2, minutes=5)) == "silence later (until 2026-11-27T15:00:00+00:00)"
    assert active(None, T0) is None


def test_a_silence_that_ends_before_it_starts_is_rejected_naming_the_field() -> None:
    spec = {
        "triggers": [{"rules": [{"name": "latency"}]}],
        "actions": [{"type": "restart"}],
        "incident": {"silences": [{"name": "x", "start": "2026-11-27T12:00:00Z", "end": "2026-11-27T11:00:00Z"}]},
    }
    with pytest.raises(ValidationError) as error:
        RemediationPlaybookSpec.model_validate(spec)
    assert "incident.silences.0" in str(error.value) and "must be after start" in str(error.value)
