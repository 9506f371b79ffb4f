"""Durations, matchers and error paths shared by every kind."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import ValidationError

from mlaiops.api.common import MATCHER_PATTERN, ApiModel, Duration, format_duration, parse_duration
from mlaiops.api.errors import describe, field_errors, field_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5 m", "-5m", "1.5h", "5min", "m5", "1h 30m", "PT5M"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("90s", "1m30s"), ("60m", "1h"), ("24h", "1d"), ("1500ms", "1s500ms"), ("0m", "0s"), ("1h0m", "1h")],
)
def test_durations_are_normalised(given: str, canonical: str) -> None:
    class Holder(ApiModel):
        value: Duration

    assert Holder(value=given).value == canonical
    # Canonical forms are fixed points, so a stored object never changes when re-validated.
    assert Holder(value=canonical).value == canonical
    assert format_duration(parse_duration(canonical)) == canonical


@pytest.mark.parametrize(
    "matcher", ['alertname="Watchdog"', "severity!=info", 'job=~"model-.*"', 'pod!~"canary-.+"', "team = fraud"]
)
def test_matchers_accepted(matcher: str) -> None:
    assert re.match(MATCHER_PATTERN, matcher)


@pytest.mark.parametrize("matcher", ["alertname", "=value", "1abc=x", 'a=="b"', "a=b c"])
def test_matchers_rejected(matcher: str) -> None:
    assert not re.match(MATCHER_PATTERN, matcher)


def test_field_path_formats_indexes() -> None:
    assert field_path(("rollout", "canary", "steps", 1, "weight")) == "spec.rollout.canary.steps[1].weight"
    assert field_path((), "spec") == "spec"


def test_errors_name_camel_case_fields() -> None:
    class Inner(ApiModel):
        failure_limit: int

    class Outer(ApiModel):
        items: list[Inner]

    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"items": [{"failureLimit": 1}, {"failureLimit": "x"}]})
    assert field_errors(caught.value) == [
        ("spec.items[1].failureLimit", "Input should be a valid integer, unable to parse string as an integer")
    ]
    assert describe(caught.value).startswith("spec.items[1].failureLimit: ")
