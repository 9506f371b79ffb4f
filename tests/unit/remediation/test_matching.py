"""Alertmanager matchers, severities and label selectors, as Alertmanager and Kubernetes define them."""

from __future__ import annotations

import pytest

from mlaiops.api.common import LabelSelector
from mlaiops.remediation.matching import Matcher, matches_all, selector_matches, severity_at_least

LABELS = {"alertname": "HighLatency", "severity": "critical", "namespace": "fraud", "pod": "fraud-canary-x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('alertname="HighLatency"', True),
        ("alertname=HighLatency", True),
        ("severity!=info", True),
        ('pod=~"fraud-.*"', True),
        ('pod=~"canary"', False),  # anchored, like Alertmanager
        ('pod!~"fraud-stable-.*"', True),
        ('team=""', True),  # a missing label equals the empty string
        ("team!=", False),
        ('alertname="High\\"Latency"', False),
    ],
)
def test_matcher_semantics(text: str, expected: bool) -> None:
    assert Matcher.parse(text).matches(LABELS) is expected


def test_parse_unquotes_and_rejects_bad_regex() -> None:
    assert Matcher.parse('a = "b c"') == Matcher("a", "=", "b c")
    with pytest.raises(ValueError, match="invalid regex"):
        Matcher.parse('a=~"("')
    with pytest.raises(ValueError, match="invalid matcher"):
        Matcher.parse("just-a-name")


def test_all_matchers_must_match() -> None:
    assert matches_all(['alertname="HighLatency"', 'namespace="fraud"'], LABELS)
    assert not matches_all(['alertname="HighLatency"', 'namespace="other"'], LABELS)
    assert matches_all(None, LABELS)


def test_severity_ordering() -> None:
    assert severity_at_least("critical", "warning") and severity_at_least("warning", "warning")
    assert not severity_at_least("info", "warning") and not severity_at_least(None, "info")
    assert severity_at_least(None, None)


def test_label_selectors() -> None:
    labels = {"mlaiops.dev/signal": "latency", "team": "fraud"}
    assert selector_matches(LabelSelector(match_labels={"team": "fraud"}), labels)
    assert not selector_matches(LabelSelector(match_labels={"team": "ads"}), labels)
    expressions = [
        ({"key": "team", "operator": "In", "values": ["fraud", "ads"]}, True),
        ({"key": "team", "operator": "NotIn", "values": ["fraud"]}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["gold"]}, True),
        ({"key": "team", "operator": "Exists"}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, True),
        ({"key": "team", "operator": "DoesNotExist"}, False),
    ]
    for expression, expected in expressions:
        assert selector_matches(LabelSelector.model_validate({"matchExpressions": [expression]}), labels) is expected
    assert selector_matches(LabelSelector(), labels)
    assert not selector_matches(None, labels)
